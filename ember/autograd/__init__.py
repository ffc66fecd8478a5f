"""Autograd: Function, the backward engine, grad mode, ``grad`` and ``gradcheck``."""
from __future__ import annotations

from ember.autograd.function import Function, FunctionCtx, once_differentiable
from ember.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.autograd.gradcheck import GradcheckError, gradcheck
from ember.tensor import Tensor

__all__ = ["Function", "FunctionCtx", "GradcheckError", "backward", "enable_grad", "grad",
           "gradcheck", "is_grad_enabled", "no_grad", "once_differentiable", "set_grad_enabled"]


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_grads(outputs, grad_outputs):
    from ember.backend import get_array_module
    grads = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad: output of shape {tuple(o.shape)} is not a scalar; "
                                   "pass grad_outputs")
            grads.append(get_array_module(o.array).ones_like(o.array))
        else:
            grads.append((g.array if isinstance(g, Tensor) else g).astype(o.dtype, copy=True))
    return grads


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` untouched).

    First order only: backward works on raw arrays (see docs/architecture.md), so
    ``create_graph=True`` is refused rather than silently giving a graph-less result.
    """
    if create_graph:
        raise NotImplementedError("create_graph=True (higher-order gradients) is outside "
                                  "ember's design: backward computes on arrays, first order")
    from ember.autograd.engine import run_backward
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grad_outputs = _as_list(grad_outputs) if grad_outputs is not None else [None] * len(outputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {tuple(t.shape)} does not require grad")
    grads = run_backward(outputs, _root_grads(outputs, grad_outputs), retain_graph, inputs)
    out = []
    for t, g in zip(inputs, grads):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: an input of shape {tuple(t.shape)} was not used to "
                               "compute the outputs; pass allow_unused=True")
        out.append(None if g is None else Tensor._make(g))
    return tuple(out)


def backward(tensors, grad_tensors=None, retain_graph=None, inputs=None):
    """Backpropagate from several outputs at once, accumulating into leaves' ``.grad``, or
    with ``inputs`` (a Tensor or a sequence) into those tensors' ``.grad`` only."""
    from ember.autograd.engine import backward_inputs, run_backward
    if inputs is not None:
        inputs = backward_inputs(inputs)
    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors) if grad_tensors is not None else [None] * len(tensors)
    run_backward(tensors, _root_grads(tensors, grad_tensors), bool(retain_graph), inputs,
                 accumulate=True)
