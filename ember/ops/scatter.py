"""Writes along a dim: scatter and scatter_reduce (one primitive), and index_add,
index_copy, index_fill, masked_scatter composed from it, from where and from indexing."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.ops.elementwise import cumsum, where
from ember.ops.indexing import _index_array, gather_index
from ember.tensor import Tensor

_START = {"sum": 0, "mean": 0, "prod": 1, "amax": -float("inf"), "amin": float("inf")}
_AT = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


class ScatterReduce(Function):
    """``reduce`` ("replace", sum, prod, mean, amax, amin) of ``src`` into ``x`` at ``index``
    along ``axis``; gradients as PyTorch's (amax/amin: ties share evenly; prod: exact where
    contributors are zero)."""

    def forward(self, x, src, *, axis, index, reduce, include_self):
        xp, grid = self.xp, gather_index(index, axis, self.xp)
        self.used = tuple(slice(0, n) for n in index.shape)
        self.grid, self.src_shape, self.reduce, src = grid, src.shape, reduce, src[self.used]
        self.hit = xp.zeros(x.shape, bool)
        self.hit[grid] = True
        self.keep = include_self and reduce != "replace"
        y = xp.where(self.hit & (not self.keep), x.dtype.type(_START.get(reduce, 0)), x)
        if reduce == "replace":
            y[grid] = src
        else:
            getattr(xp, _AT[reduce]).at(y, grid, src)
        self.count = xp.full(x.shape, int(self.keep))
        backend.index_add(self.count, grid, 1)
        if reduce == "mean":
            n = xp.maximum(self.count, 1).astype(x.dtype)
            y = y / n if x.dtype.kind == "f" else y // n
        self.save_for_backward(x, src, y)
        return y

    def backward(self, gy):
        xp, (x, src, y), grid, r = self.xp, self.saved, self.grid, self.reduce
        if r == "mean":
            gy = gy / xp.maximum(self.count, 1)
        if r == "prod":  # the product of the others: count the zeros, multiply the rest
            zeros = ((x == 0) & self.keep).astype(int)
            backend.index_add(zeros, grid, (src == 0).astype(int))
            rest = xp.where((x == 0) | (not self.keep), x.dtype.type(1), x)
            xp.multiply.at(rest, grid, xp.where(src == 0, src.dtype.type(1), src))
            with_zero = (zeros == 1) * rest
            gx = gy * xp.where(x == 0, with_zero, (zeros == 0) * rest / xp.where(x == 0, 1, x))
            gsrc = gy[grid] * xp.where(src == 0, with_zero[grid], (zeros == 0)[grid]
                                       * rest[grid] / xp.where(src == 0, 1, src))
        elif r in ("amax", "amin"):
            ties = (x == y).astype(int)  # self counts among the ties even if left out
            backend.index_add(ties, grid, (src == y[grid]).astype(int))
            share = gy / xp.maximum(ties, 1)
            gx, gsrc = share * (x == y), share[grid] * (src == y[grid])
        else:
            gx, gsrc = gy, gy[grid]
        gx = gx if self.keep else xp.where(self.hit, gy.dtype.type(0), gy)
        full = xp.zeros(self.src_shape, gy.dtype)
        full[self.used] = gsrc
        return gx, full


def _scatter(x, dim, index, src, reduce, include_self, name):
    index = _index_array(index, name)
    if index.ndim != x.ndim:
        raise RuntimeError(f"{name}: index should have the same number of dimensions as the "
                           f"input, got {index.ndim} and {x.ndim} (shape {tuple(x.shape)})")
    if not isinstance(src, Tensor):  # a value: one per index entry
        src = Tensor._make(backend.get_array_module(x.array).full(index.shape, src, x.dtype))
    return ScatterReduce.apply(x, src.to(dtype=x.dtype), axis=dim % x.ndim, index=index,
                               reduce=reduce, include_self=include_self)


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """``out[index[i][j]][j] = src[i][j]`` (dim 0; likewise any dim); ``src`` may be a number
    (or pass ``value=``); ``reduce="add"|"multiply"`` accumulates instead."""
    src = value if src is None else src
    how = {None: "replace", "add": "sum", "multiply": "prod"}[reduce]
    return _scatter(input, dim, index, src, how, True, "scatter")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """Reduce ``src`` into ``input`` at ``index``: reduce is sum, prod, mean, amax or amin;
    ``include_self=False`` leaves the scattered-to entries of ``input`` out."""
    if reduce not in _START:
        raise RuntimeError("scatter_reduce: reduce argument must be either sum, prod, mean, "
                           f"amax or amin, got {reduce}")
    return _scatter(input, dim, index, src, reduce, include_self, "scatter_reduce")


def _along(input, dim, index, like, name):
    """A 1-D ``index`` along ``dim`` spread to ``like``'s shape, for scatter."""
    index, d = _index_array(index, name), dim % max(input.ndim, 1)
    if index.ndim > 1 or like.shape[d] != index.size:
        raise RuntimeError(f"{name}: index (shape {tuple(index.shape)}) must be 1-D with one "
                           f"entry per slice of the source along dim {dim} (shape "
                           f"{tuple(like.shape)})")
    xp = backend.get_array_module(index)
    return xp.broadcast_to(index.reshape((-1,) + (1,) * (input.ndim - d - 1)), like.shape)


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` slices added at ``index`` along ``dim``."""
    grid = _along(input, dim, index, source, "index_add")
    return _scatter(input, dim, grid, source * alpha if alpha != 1 else source, "sum", True,
                    "index_add")


def index_copy(input, dim, index, source):
    """``input`` with the slices at ``index`` along ``dim`` replaced by ``source``'s."""
    grid = _along(input, dim, index, source, "index_copy")
    return _scatter(input, dim, grid, source, "replace", True, "index_copy")


def index_fill(input, dim, index, value):
    """``input`` with the slices at ``index`` along ``dim`` set to ``value``."""
    index, d = _index_array(index, "index_fill"), dim % max(input.ndim, 1)
    xp = backend.get_array_module(input.array)
    mask = xp.zeros(input.shape[d], bool)
    mask[index.reshape(-1)] = True
    return where(Tensor._make(mask.reshape((-1,) + (1,) * (input.ndim - d - 1))), value, input)


def masked_scatter(input, mask, source):
    """``input`` with the entries where ``mask`` holds taken, in order, from ``source``."""
    mask = mask.expand(*input.shape) if mask.shape != input.shape else mask
    need = int(mask.array.sum())
    if need > source.numel():
        raise RuntimeError(f"masked_scatter: the mask selects {need} elements but the source "
                           f"has only {source.numel()}")
    pos = cumsum(mask.reshape(-1).to(dtype=np.int64), 0) - 1
    taken = source.reshape(-1)[pos.clamp(0, None)].reshape(input.shape)
    return where(mask, taken, input)
