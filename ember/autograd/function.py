"""Function: one differentiable operation, forward and backward on raw arrays.

A subclass writes ``forward(*arrays, **config)`` and ``backward(*grads)``; ``apply`` does the
rest once for every op: it unwraps tensors, asks the backend for ``xp``, runs forward, wraps
the outputs and, when grad mode is on and an input requires grad, records the node.
Undoing broadcasting, accumulation and freeing saved arrays belong to the engine.
"""
from __future__ import annotations

from ember import backend
from ember.autograd.grad_mode import _enabled
from ember.tensor import Tensor


class Function:
    """Base class of every differentiable op.

    Inside ``forward``/``backward``: ``self.xp`` is the array module of the inputs,
    ``self.needs_input_grad`` says which positional inputs want a gradient, and
    ``self.save_for_backward(*arrays)`` keeps arrays for backward in ``self.saved``
    (an in-place change to a saved input or output is detected at backward time).

    ``backward`` returns one gradient per positional input (``None`` where none is
    needed); gradients may have the broadcast shape, the engine sums them back.
    """

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def forward(self, *xs, **config):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *gys):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    def register_hook(self, out_idx, hook):
        hooks = self.__dict__.setdefault("_hooks", {}).setdefault(out_idx, [])
        if hooks and getattr(hooks[-1], "retains_grad", False):
            hooks.insert(len(hooks) - 1, hook)  # retain_grad sees the final gradient
        else:
            hooks.append(hook)
        return hooks

    @classmethod
    def apply(cls, *inputs, **config):
        """Run the op on Tensors (or ``None``, or raw constant arrays) and record it."""
        fn = cls.__new__(cls)
        xs = [t.array if isinstance(t, Tensor) else t for t in inputs]
        if _CPU_ONLY:  # the common case, without a per-op device lookup
            fn.xp = _numpy
        else:
            fn.xp = backend.get_array_module(*xs)
            _check_one_device(cls, xs)
        record = _enabled[0] and any(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        if record:
            fn.needs_input_grad = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        else:
            fn.needs_input_grad = (False,) * len(inputs)
        try:
            ys = fn.forward(*xs, **config)
        except ValueError as e:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs if hasattr(x, "shape"))
            raise ValueError(f"{cls.__name__.lower()}: {e} (input shapes: {shapes})") from None
        if type(ys) is tuple:
            outs = tuple(Tensor._make(y) for y in ys)
        else:
            outs = (Tensor._make(ys),)
        if record:
            fn.inputs = inputs
            fn.out_meta = [(o.array.shape, o.array.dtype) for o in outs] if len(outs) > 1 else None
            for i, o in enumerate(outs):
                if o.array.dtype.kind in "fc":  # integer and bool outputs carry no gradient
                    o.requires_grad = True
                    o.grad_fn = fn
                    o._out_idx = i
            saved = fn.__dict__.get("saved")
            if saved:  # remember the versions of saved tensors (the message is built lazily)
                fn._versions = [(t._version, t._version[0], k, t.array.shape)
                                for k, t in enumerate((*inputs, *outs))
                                if isinstance(t, Tensor) and any(s is t.array for s in saved)]
        return outs if type(ys) is tuple else outs[0]


def _check_one_device(cls, xs):
    """PyTorch's rule: an op's tensors live on one device; else a clear error that names
    both, not CuPy's type error. (Keyword arrays may be host-side index tables.)"""
    devices = {backend.device_of(a) for a in xs if backend.is_array(a)}
    if len(devices) > 1:
        names = " and ".join(sorted(str(d) for d in devices))
        raise ValueError(f"{cls.__name__.lower()}: expected all tensors on one device, got "
                         f"{names}")


import numpy as _numpy

_CPU_ONLY = not backend.cuda_available()
