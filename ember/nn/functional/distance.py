"""Vector norms along one dim: cosine similarity, pairwise distance and ``normalize``.

All three compose existing ops (the norm's Function, division, clamp), so autograd gives
their gradients; none needs a Function of its own.
"""
from __future__ import annotations

import math

import numpy as np

from ember import backend
from ember.autograd.grad_mode import no_grad
from ember.ops.creation import clone
from ember.ops.elementwise import clamp
from ember.ops.reduction import norm
from ember.ops.shape import broadcast_to
from ember.tensor import Tensor

__all__ = ["cosine_similarity", "normalize", "pairwise_distance", "pdist"]


def _check_tensors(name, *tensors, floating=True):
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
        if floating and t.dtype.kind not in "fc":
            raise TypeError(f"{name}: expected floating point inputs, got {t.dtype}")


def _broadcast(name, x1, x2):
    """x1 and x2 expanded to their common shape, or an error naming both shapes."""
    try:
        shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ValueError(f"{name}: x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} do not broadcast to one shape") from None
    return (x1 if tuple(x1.shape) == shape else broadcast_to(x1, shape),
            x2 if tuple(x2.shape) == shape else broadcast_to(x2, shape))


def _dim(name, dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for {ndim}-D inputs (expected "
                         f"to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
    return dim


def _pnorm(x, p, dim, keepdim):
    """The p-norm along ``dim``, also for negative p (which the core's norm refuses), as
    ``(sum |x|^p)^(1/p)``."""
    if p < 0 and p != -math.inf:
        return (x.abs() ** p).sum(dim, keepdim) ** (1.0 / p)
    return norm(x, p, dim, keepdim)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps))`` along ``dim``, x1 and x2 first
    broadcast to one shape.

    As in PyTorch each input is divided by its own (clamped) norm before the product, which
    keeps the result in [-1, 1]; the clamp acts on the value only, not on the gradient (so
    where a norm is below ``eps`` the gradient is not that of the clamped formula: PyTorch's).
    Shape: ``(*, D, *)`` and a broadcastable shape -> the broadcast shape without ``dim``.
    """
    _check_tensors("cosine_similarity", x1, x2)
    x1, x2 = _broadcast("cosine_similarity", x1, x2)
    dim = _dim("cosine_similarity", dim, x1.ndim)
    n1, n2 = clone(norm(x1, 2, dim, keepdim=True)), clone(norm(x2, 2, dim, keepdim=True))
    with no_grad():  # PyTorch clamps the norms in place outside the graph
        n1.clamp_(min=eps)
        n2.clamp_(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` along the last dim of the broadcast inputs.

    Shape: ``(N, D)`` or ``(D,)`` inputs (broadcastable) -> ``(N,)`` or ``()``; with
    ``keepdim`` the last dim is kept with size 1.
    """
    _check_tensors("pairwise_distance", x1, x2, floating=False)
    try:
        np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    except ValueError:
        raise ValueError(f"pairwise_distance: x1 of shape {tuple(x1.shape)} and x2 of shape "
                         f"{tuple(x2.shape)} do not broadcast to one shape") from None
    ndim = max(x1.ndim, x2.ndim)
    if ndim == 0:
        raise ValueError("pairwise_distance: expected inputs with at least one dimension, "
                         "got two scalars")
    return _pnorm(x1 - x2 + eps, p, ndim - 1, keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(|input|_p, eps)``, the p-norm taken along ``dim``: unit vectors along
    ``dim`` (zero vectors stay zero). ``out``, if given, receives the result."""
    _check_tensors("normalize", input)
    dim = _dim("normalize", dim, input.ndim)
    result = input / clamp(_pnorm(input, p, dim, keepdim=True), min=eps)
    return result if out is None else out.copy_(result)


def pdist(input, p=2.0):
    """The p-norm distances between every pair of rows of (N, D) ``input``: the upper
    triangle of ``cdist(input, input)`` row by row, shape (N * (N - 1) / 2,)."""
    _check_tensors("pdist", input)
    if input.ndim != 2:
        raise ValueError(f"pdist: expected a 2-D input (N, D), got shape {tuple(input.shape)}")
    xp = backend.get_array_module(input.array)
    i, j = xp.triu_indices(input.shape[0], 1)
    return _pnorm(input[Tensor._make(i)] - input[Tensor._make(j)], p, 1, False)
