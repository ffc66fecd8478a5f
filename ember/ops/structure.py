"""Ops on a tensor's layout, composed from indexing, where and reductions (their gradients
come from those): cumprod, logcumsumexp, tril, triu, diag, diagonal, trace, outer, narrow,
take_along_dim, repeat_interleave, meshgrid."""
from __future__ import annotations

import math

from ember import backend
from ember.autograd.function import Function
from ember.ops.elementwise import where
from ember.ops.indexing import gather, index_select
from ember.ops.reduction import _lift, logsumexp
from ember.ops.shape import pad, permute
from ember.tensor import Tensor


class Cumprod(Function):
    def forward(self, x, *, axis):
        self.axis = axis
        self.save_for_backward(x)
        return self.xp.cumprod(x, axis=axis)

    def backward(self, gy):
        # d y_j / d x_i = prod_{k <= j, k != i} x_k: exact where x has zeros (y / x is not)
        xp, x, a = self.xp, self.saved[0], self.axis
        x, gy, n = xp.moveaxis(x, a, -1), xp.moveaxis(gy, a, -1), x.shape[a]
        others = xp.where(xp.eye(n, dtype=bool), x.dtype.type(1), x[..., None, :])  # [i, k]
        upper = xp.triu(xp.ones((n, n), dtype=x.dtype))  # [i, j]: j >= i
        gx = (xp.cumprod(others, axis=-1) * upper * gy[..., None, :]).sum(-1)
        return xp.moveaxis(gx, -1, a)


def cumprod(input, dim):
    """Running product along ``dim``; the gradient is exact where the input has zeros."""
    x, axis = _lift(input, dim)
    y = Cumprod.apply(x, axis=axis)
    return y if input.ndim else y.reshape(())


def logcumsumexp(input, dim):
    """``log(cumsum(exp(x)))`` along ``dim`` without overflow or underflow (a masked
    logsumexp over each prefix, quadratic in the dim's length)."""
    x, axis = _lift(input, dim)
    n, xp = x.shape[axis], backend.get_array_module(x.array)
    prefix = Tensor._make(xp.tril(xp.ones((n, n), dtype=bool)))  # [j, i]: i <= j
    x = x.unsqueeze(axis)  # [.., 1, i, ..] against the mask's [j, i] at (axis, axis + 1)
    mask = prefix.reshape((n, n) + (1,) * (x.ndim - axis - 2))
    y = logsumexp(where(mask, x, -math.inf), axis + 1)
    return y if input.ndim else y.reshape(())


def _triangle(input, diagonal, keep_lower, name):
    if input.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    xp, (r, c) = backend.get_array_module(input.array), input.shape[-2:]
    lower = xp.tri(r, c, diagonal, dtype=bool)
    keep = lower if keep_lower else ~xp.tri(r, c, diagonal - 1, dtype=bool)
    return where(Tensor._make(keep), input, 0)


def tril(input, diagonal=0):
    """The lower triangle (on and below ``diagonal``) of the last two dims; zeros above."""
    return _triangle(input, diagonal, True, "tril")


def triu(input, diagonal=0):
    """The upper triangle (on and above ``diagonal``) of the last two dims; zeros below."""
    return _triangle(input, diagonal, False, "triu")


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal over ``dim1`` and ``dim2`` (shifted by ``offset``), as the last dim."""
    d1, d2 = dim1 % max(input.ndim, 1), dim2 % max(input.ndim, 1)
    if input.ndim < 2 or d1 == d2:
        raise RuntimeError(f"diagonal: dimensions {dim1} and {dim2} must be two different "
                           f"dims of the input (shape {tuple(input.shape)})")
    x = permute(input, [d for d in range(input.ndim) if d not in (d1, d2)] + [d1, d2])
    r, c = x.shape[-2:]
    start_r, start_c = max(-offset, 0), max(offset, 0)
    k = max(min(r - start_r, c - start_c), 0)
    xp = backend.get_array_module(input.array)
    return x[..., Tensor._make(xp.arange(k) + start_r), Tensor._make(xp.arange(k) + start_c)]


def diag(input, diagonal=0):
    """A 1-D input becomes a square matrix with it on ``diagonal``; a 2-D input gives its
    ``diagonal`` as a 1-D tensor."""
    if input.ndim == 2:
        return globals()["diagonal"](input, diagonal)
    if input.ndim != 1:
        raise RuntimeError(f"diag: expected a 1-D or 2-D input, got shape {tuple(input.shape)}")
    xp, n, k = backend.get_array_module(input.array), input.shape[0], abs(diagonal)
    square = where(Tensor._make(xp.eye(n, dtype=bool)), input.unsqueeze(-1), 0)
    return pad(square, (k, 0, 0, k) if diagonal >= 0 else (0, k, k, 0))


def trace(input):
    """The sum of the main diagonal of a 2-D tensor."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {tuple(input.shape)}")
    return diagonal(input).sum()


def outer(input, vec2):
    """``input[i] * vec2[j]`` for 1-D tensors."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {tuple(input.shape)} "
                           f"and {tuple(vec2.shape)}")
    return input.unsqueeze(1) * vec2


def narrow(input, dim, start, length):
    """``length`` elements of ``dim`` from ``start`` (negative counts from the end): a view."""
    d, n = dim % max(input.ndim, 1), input.shape[dim]
    start = int(start) + (n if start < 0 else 0)
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension "
                         f"{dim} of size {n}")
    return input[(slice(None),) * d + (slice(start, start + length),)]


def take_along_dim(input, indices, dim=None):
    """``gather`` with ``indices`` broadcast against ``input`` (both flattened if dim is
    None)."""
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    d = dim % max(input.ndim, 1)
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim: input and indices should have the same number "
                           f"of dimensions, got {input.ndim} and {indices.ndim}")
    shape = [max(a, b) for a, b in zip(input.shape, indices.shape)]
    return gather(input.expand(*(shape[:d] + [input.shape[d]] + shape[d + 1:])), d,
                  indices.expand(*(shape[:d] + [indices.shape[d]] + shape[d + 1:])))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element (or slice along ``dim``) repeated ``repeats`` times (an int, or a count
    per element). ``repeat_interleave(counts)`` repeats each index ``counts[i]`` times."""
    xp = backend.get_array_module(input.array)
    if repeats is None:  # torch.repeat_interleave(repeats)
        return Tensor._make(xp.repeat(xp.arange(input.shape[0]), input.array))
    x, d = (input.reshape(-1), 0) if dim is None else (input, dim % max(input.ndim, 1))
    counts = repeats.array if isinstance(repeats, Tensor) else repeats
    if getattr(counts, "ndim", 0) == 1 and counts.shape[0] not in (1, x.shape[d]):
        raise RuntimeError(f"repeat_interleave: repeats must have the same size as input "
                           f"along dim ({x.shape[d]}), got {counts.shape[0]}")
    return index_select(x, d, Tensor._make(xp.repeat(xp.arange(x.shape[d]), counts)))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors: ``indexing="ij"`` (matrix) or ``"xy"`` (the first
    two dims swapped, Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        order[0], order[1] = 1, 0
    shape = [tensors[i].numel() for i in order]
    out = []
    for pos, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(pos)] = -1
        out.append(t.reshape(view).expand(*shape))
    return tuple(out)
