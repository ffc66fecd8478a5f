"""Indexing: getitem (basic and advanced), setitem, gather, scatter_add, index_select."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.autograd.grad_mode import _state as _grad
from ember.ops.shape import _view
from ember.tensor import Tensor


def _key(key, xp):
    """Tensors and lists in an index become arrays; everything else passes through."""
    if isinstance(key, tuple):
        return tuple(_key(k, xp) for k in key)
    if isinstance(key, Tensor):
        return key.array
    if isinstance(key, list):
        arr = xp.asarray(key)  # an empty list is an empty integer index, as in PyTorch
        return arr.astype(np.int64) if arr.size == 0 and arr.dtype.kind == "f" else arr
    return key


def _is_basic(key):
    parts = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice, np.integer))
               for k in parts)


def _is_mask(key):
    return getattr(key, "dtype", None) == np.bool_


class GetItem(Function):
    def forward(self, x, *, key):
        self.key, self.shape, self.dtype = key, x.shape, x.dtype
        return x[key]

    def backward(self, gy):
        gx = self.xp.zeros(self.shape, self.dtype)
        if _is_basic(self.key) or _is_mask(self.key):
            gx[self.key] = gy  # each input element appears at most once
        else:
            backend.index_add(gx, self.key, gy)
        return gx


class SetItem(Function):
    """``x[key] = value`` as an out-of-place op (used for in-place writes inside a graph)."""

    def forward(self, x, value, *, key):
        self.key = key
        y = x.copy()
        y[key] = value
        return y

    def backward(self, gy):
        gx = None
        if self.needs_input_grad[0]:
            gx = gy.copy()
            gx[self.key] = 0
        return gx, (gy[self.key] if self.needs_input_grad[1] else None)


class Gather(Function):
    def forward(self, x, *, axis, index):
        self.shape, self.axis, self.dtype = x.shape, axis, x.dtype
        self.grid = gather_index(index, axis, self.xp)
        return x[self.grid]

    def backward(self, gy):
        gx = self.xp.zeros(self.shape, self.dtype)
        backend.index_add(gx, self.grid, gy)
        return gx


class ScatterAdd(Function):
    def forward(self, x, src, *, axis, index):
        self.grid = gather_index(index, axis, self.xp)
        self.src_shape, self.used = src.shape, tuple(slice(0, n) for n in index.shape)
        y = x.copy()
        backend.index_add(y, self.grid, src[self.used])
        return y

    def backward(self, gy):
        gsrc = None
        if self.needs_input_grad[1]:
            gsrc = self.xp.zeros(self.src_shape, gy.dtype)
            gsrc[self.used] = gy[self.grid]  # src beyond index's shape is unused
        return gy, gsrc


class IndexSelect(Function):
    def forward(self, x, *, axis, index):
        self.shape, self.axis, self.index, self.dtype = x.shape, axis, index, x.dtype
        return self.xp.take(x, index, axis=axis)

    def backward(self, gy):
        xp = self.xp
        gx = xp.zeros(self.shape, self.dtype)
        backend.index_add(xp.moveaxis(gx, self.axis, 0), self.index,
                          xp.moveaxis(gy, self.axis, 0))
        return gx


def gather_index(index, axis, xp):
    """An advanced-index tuple: ``index`` along ``axis``, the position itself elsewhere
    (so that x[grid] is PyTorch's gather)."""
    return tuple(index if d == axis else xp.arange(n).reshape(
        (-1,) + (1,) * (index.ndim - d - 1)) for d, n in enumerate(index.shape))


def _index_array(index, name):
    arr = index.array if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, got dtype {arr.dtype}")
    return arr


def _check_range(index, size, name, dim, error):
    """PyTorch refuses negative and too-large indices in gather / index_select / scatter_add
    (NumPy would wrap -1 to the last element)."""
    if index.size:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise error(f"{name}: index {bad} is out of bounds for dimension {dim} with "
                        f"size {size}")


def getitem(x, key):
    """``x[key]`` with ints, slices, None, ``...``, integer tensors and boolean masks."""
    key = _key(key, backend.get_array_module(x.array))
    try:
        return _view(GetItem.apply(x, key=key), x)  # basic indexing gives a view
    except IndexError as e:
        raise IndexError(f"index {key!r} is invalid for a tensor of shape "
                         f"{tuple(x.shape)}: {e}") from None


def setitem(x, key, value):
    """``x[key] = value``: writes in place; inside a graph it is recorded as an op."""
    from ember.ops.inplace import increment_version, inplace
    key = _key(key, backend.get_array_module(x.array))
    if not isinstance(value, Tensor):
        value = Tensor(np.asarray(value, dtype=x.dtype), dtype=x.dtype, device=x.device)
    if not (_grad.enabled and (x.requires_grad or value.requires_grad)):
        x.array[key] = value.array  # outside any graph: write just the selected elements
        increment_version(x)
        return
    inplace(x, lambda t, v: SetItem.apply(t, v, key=key), value)


def gather(x, dim, index):
    """``out[i][j] = x[index[i][j]][j]`` for dim 0 (and likewise for any dim)."""
    index = _index_array(index, "gather")
    if index.ndim != x.ndim:
        raise ValueError(f"gather: index has {index.ndim} dims but the input has {x.ndim}")
    _check_range(index, x.shape[dim % x.ndim], "gather", dim, RuntimeError)
    return Gather.apply(x, axis=dim % x.ndim, index=index)


def scatter_add(x, dim, index, src):
    """``out = x.clone(); out[index[i][j]][j] += src[i][j]`` (dim 0; likewise any dim)."""
    index = _index_array(index, "scatter_add")
    _check_range(index, x.shape[dim % x.ndim], "scatter_add", dim, RuntimeError)
    return ScatterAdd.apply(x, src, axis=dim % x.ndim, index=index)


def index_select(x, dim, index):
    index = _index_array(index, "index_select")
    if index.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {index.shape}")
    _check_range(index, x.shape[dim % x.ndim] if x.ndim else 1, "index_select", dim,
                 IndexError)
    return IndexSelect.apply(x, axis=dim % x.ndim, index=index)
