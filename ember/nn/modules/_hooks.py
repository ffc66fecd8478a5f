"""Full backward hooks: identity ops around a module call catch the gradients with respect
to its inputs and outputs, then call ``hook(module, grad_input, grad_output)``."""
from __future__ import annotations

from ember.autograd.function import Function
from ember.tensor import Tensor


class _Identity(Function):
    def forward(self, *xs, on_backward):
        self.on_backward = on_backward
        return tuple(x.view() for x in xs)

    def backward(self, *gys):
        return self.on_backward(gys)


class BackwardHookState:
    def __init__(self, module):
        self.module = module
        self.grad_output = None
        self.n_inputs = 0
        self.inputs_need_grad = False

    def wrap_inputs(self, args):
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(tensors)
        # only inputs that require grad are wrapped; the others get None in grad_input
        idx = [i for i in tensors if args[i].requires_grad]
        self.slots = [tensors.index(i) for i in idx]
        self.inputs_need_grad = bool(idx)
        if not self.inputs_need_grad:
            return args
        outs = _Identity.apply(*[args[i] for i in idx], on_backward=self._on_input_grads)
        args = list(args)
        for i, o in zip(idx, outs):
            args[i] = o
        return tuple(args)

    def wrap_outputs(self, out):
        single = isinstance(out, Tensor)
        outs = (out,) if single else tuple(out)
        if not any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            return out
        wrapped = _Identity.apply(*outs, on_backward=self._on_output_grads)
        return wrapped[0] if single else type(out)(wrapped) if isinstance(out, tuple) else \
            list(wrapped)

    def _call_hooks(self, grad_input):
        for hook in list(self.module._backward_hooks.values()):
            res = hook(self.module, grad_input, self.grad_output)
            if res is not None:
                grad_input = tuple(res)
        return grad_input

    def _on_output_grads(self, gys):
        self.grad_output = tuple(Tensor._make(g) for g in gys)
        if not self.inputs_need_grad:
            self._call_hooks((None,) * self.n_inputs)
        return gys

    def _on_input_grads(self, gys):
        full = [None] * self.n_inputs
        for slot, g in zip(self.slots, gys):
            full[slot] = Tensor._make(g)
        grad_input = self._call_hooks(tuple(full))
        return tuple(None if grad_input[s] is None else grad_input[s].array
                     if isinstance(grad_input[s], Tensor) else grad_input[s]
                     for s in self.slots)
