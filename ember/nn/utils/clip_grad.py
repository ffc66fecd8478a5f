"""Gradient clipping: by total norm (with PyTorch's 1e-6 guard) or by value, in place."""
from __future__ import annotations

import math

from ember import backend
from ember.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grads(parameters):
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def _vector_norm(xp, x, p):
    """The p-norm of all entries of ``x`` (inf: max |x|, -inf: min |x|, 0: count of
    non-zeros), as a 0-d array of x's dtype."""
    if p == math.inf:
        return xp.abs(x).max()
    if p == -math.inf:
        return xp.abs(x).min()
    if p == 0:
        return (x != 0).sum().astype(x.dtype)
    if p == 2:
        return xp.sqrt((x * x).sum())
    return (xp.abs(x) ** p).sum() ** (1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False):
    """The norm of the norms of ``tensors``: the norm of all their entries taken together.

    Raises when the result is nan/inf and ``error_if_nonfinite`` is set.
    """
    tensors = _as_list(tensors)
    if not tensors:
        return Tensor._make(backend.get_array_module().zeros((), backend.get_default_dtype()))
    norm_type = float(norm_type)
    xp = backend.get_array_module(tensors[0].array)
    norms = xp.stack([_vector_norm(xp, t.array, norm_type) for t in tensors])
    total = _vector_norm(xp, norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm):
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))``, in place."""
    grads = _grads(parameters)
    if not grads:
        return
    total = total_norm.array if isinstance(total_norm, Tensor) else total_norm
    xp = backend.get_array_module(grads[0].array)
    coef = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
    for g in grads:
        g.array *= coef


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale the gradients of ``parameters`` so that their total norm is at most
    ``max_norm``; return the total norm before clipping (a 0-d Tensor).

    As in PyTorch, the gradients are multiplied by ``min(1, max_norm / (norm + 1e-6))``.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``float('inf')`` for the max-norm).
        error_if_nonfinite: raise if the total norm is nan or inf.

    Example::

        >>> loss.backward()
        >>> ember.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> optimizer.step()
    """
    parameters = _as_list(parameters)  # a generator would be used up by the first pass
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient entry of ``parameters`` into ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = backend.get_array_module(g.array)
        xp.clip(g.array, -clip_value, clip_value, out=g.array)
