"""Sorting and running extremes: sort, argsort, topk, kthvalue, cummax, cummin. Each finds
indices outside the graph and gathers the values through it, so gradients come from
``gather``."""
from __future__ import annotations

from ember import backend
from ember.ops.indexing import gather
from ember.ops.reduction import _lift, values_indices
from ember.tensor import Tensor


def _order(x, axis, descending):
    """Stable sort indices; descending keeps equal elements in their order, NaN first."""
    xp, a = backend.get_array_module(x.array), x.array
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    return n - 1 - xp.flip(xp.argsort(xp.flip(a, axis), axis=axis, kind="stable"), axis)


def sort(input, dim=-1, descending=False, *, stable=False):
    """``(values, indices)`` of ``input`` sorted along ``dim`` (NaN sorts as the largest)."""
    x, axis = _lift(input, dim)
    idx = Tensor._make(_order(x, axis, descending))
    values = gather(x, axis, idx)
    return values_indices(*((values, idx) if input.ndim else (values[0], idx[0])))


def argsort(input, dim=-1, descending=False, *, stable=False):
    return sort(input, dim, descending, stable=stable).indices


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices."""
    x, axis = _lift(input, dim)
    if not 0 <= k <= x.shape[axis]:
        raise RuntimeError(f"topk: k ({k}) is out of range for dim {dim} of size "
                           f"{x.shape[axis]} (input shape {tuple(input.shape)})")
    idx = _order(x, axis, largest)[(slice(None),) * axis + (slice(0, k),)]
    idx = Tensor._make(idx)
    values = gather(x, axis, idx)
    return values_indices(*((values, idx) if input.ndim else (values[0], idx[0])))


def kthvalue(input, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element (1-based) along ``dim`` and its index."""
    x, axis = _lift(input, dim)
    if not 1 <= k <= x.shape[axis]:
        raise RuntimeError(f"kthvalue: k ({k}) is out of range for dim {dim} of size "
                         f"{x.shape[axis]} (input shape {tuple(input.shape)})")
    idx = Tensor._make(_order(x, axis, False)[(slice(None),) * axis + (slice(k - 1, k),)])
    values = gather(x, axis, idx)
    if not keepdim or not input.ndim:
        values, idx = values.squeeze(axis), idx.squeeze(axis)
    return values_indices(values, idx)


def _cumulative(input, dim, accumulate):
    x, axis = _lift(input, dim)
    xp, a = backend.get_array_module(x.array), x.array
    running = accumulate(a, axis=axis)
    pos = xp.arange(a.shape[axis]).reshape((-1,) + (1,) * (a.ndim - axis - 1))
    hit = (a == running) | xp.isnan(a)  # a tie moves the index on, as in torch
    idx = Tensor._make(xp.maximum.accumulate(xp.where(hit, pos, 0), axis=axis))
    values = gather(x, axis, idx)
    return values_indices(*((values, idx) if input.ndim else (values[0], idx[0])))


def cummax(input, dim):
    """Running maximum along ``dim`` and where it was reached (the latest among ties)."""
    return _cumulative(input, dim, backend.get_array_module(input.array).maximum.accumulate)


def cummin(input, dim):
    """Running minimum along ``dim`` and where it was reached (the latest among ties)."""
    return _cumulative(input, dim, backend.get_array_module(input.array).minimum.accumulate)
