"""Shape ops: reshape/view, permute/transpose, squeeze/unsqueeze, flatten/unflatten,
expand, repeat, cat, stack, split/chunk, flip, roll, pad."""
from __future__ import annotations

import math

import numpy as np

from ember.backend import memory_owner
from ember.autograd.function import Function
from ember.ops.arithmetic import promote


def _dim(d, ndim):
    if not -ndim <= d < ndim:
        raise IndexError(f"dimension {d} out of range for a tensor with {ndim} dimensions")
    return d % ndim


def _sizes(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _view(out, x):
    """An output sharing ``x``'s memory shares its version counter too, as PyTorch's views
    do: an in-place write through either one is then seen by values saved from the other."""
    if memory_owner(out.array) is memory_owner(x.array):
        out._version = x._version
    return out


class Reshape(Function):
    def forward(self, x, *, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, gy):
        return gy.reshape(self.shape)


class Permute(Function):
    def forward(self, x, *, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, gy):
        return gy.transpose(tuple(np.argsort(self.dims)))


class Expand(Function):
    def forward(self, x, *, shape):
        return self.xp.broadcast_to(x, shape)

    def backward(self, gy):
        return gy  # the engine sums broadcast dims back


class Repeat(Function):
    def forward(self, x, *, reps):
        self.in_shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return self.xp.tile(x, reps)

    def backward(self, gy):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...) and sum the r axes
        split = [n for pair in zip(self.reps, self.in_shape) for n in pair]
        g = gy.reshape(split).sum(axis=tuple(range(0, 2 * len(self.reps), 2)))
        return g


class Cat(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        self.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return self.xp.concatenate(xs, axis=axis)

    def backward(self, gy):
        return tuple(self.xp.split(gy, self.bounds, axis=self.axis))


class Stack(Function):
    def forward(self, *xs, axis):
        self.axis = axis
        return self.xp.stack(xs, axis=axis)

    def backward(self, gy):
        return tuple(self.xp.moveaxis(gy, self.axis, 0))


class Split(Function):
    def forward(self, x, *, bounds, axis):
        self.axis, self.shape = axis, x.shape
        return tuple(self.xp.split(x, bounds, axis=axis))

    def backward(self, *gys):
        return self.xp.concatenate(gys, axis=self.axis)


class Flip(Function):
    def forward(self, x, *, dims):
        self.dims = dims
        return self.xp.flip(x, dims)

    def backward(self, gy):
        return self.xp.flip(gy, self.dims)


class Roll(Function):
    def forward(self, x, *, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return self.xp.roll(x, shifts, dims)

    def backward(self, gy):
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return self.xp.roll(gy, back, self.dims)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}


class Pad(Function):
    def forward(self, x, *, widths, mode, value):
        self.widths, self.mode, self.in_shape = widths, mode, x.shape
        if mode == "constant":
            return self.xp.pad(x, widths, mode="constant", constant_values=value)
        return self.xp.pad(x, widths, mode=_PAD_MODES[mode])

    def backward(self, gy):
        xp = self.xp
        if self.mode == "constant":
            return gy[tuple(slice(lo, lo + n) for (lo, _), n in zip(self.widths, self.in_shape))]
        # each padded output position copies one input position: per padded axis, the
        # gradient is a product with the 0/1 matrix (out, in) of that copy
        g = gy
        for axis, ((lo, hi), n) in enumerate(zip(self.widths, self.in_shape)):
            if lo == 0 and hi == 0:
                continue
            src = np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[self.mode])
            onehot = xp.asarray(src[:, None] == np.arange(n), dtype=gy.dtype)
            g = xp.moveaxis(xp.tensordot(g, onehot, axes=([axis], [0])), -1, axis)
        return g


def reshape(x, *shape):
    """A tensor of ``shape`` with the same elements (one entry may be -1)."""
    shape = _sizes(shape)
    try:
        return _view(Reshape.apply(x, shape=shape), x)
    except ValueError:
        raise ValueError(f"reshape: shape {tuple(shape)} is invalid for a tensor of shape "
                         f"{tuple(x.shape)} ({x.numel()} elements)") from None


view = reshape


def view_as(x, other):
    return reshape(x, tuple(other.shape))


reshape_as = view_as


def permute(x, *dims):
    dims = tuple(_dim(d, x.ndim) for d in _sizes(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims of a "
                         f"tensor of shape {tuple(x.shape)}")
    return _view(Permute.apply(x, dims=dims), x)


def transpose(x, dim0, dim1):
    if x.ndim == 0:  # dims 0 and -1 of a 0-d tensor, as PyTorch allows: the same view
        _dim(dim0, 1), _dim(dim1, 1)
        return _view(Permute.apply(x, dims=()), x)
    dims = list(range(x.ndim))
    d0, d1 = _dim(dim0, x.ndim), _dim(dim1, x.ndim)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _view(Permute.apply(x, dims=tuple(dims)), x)


swapaxes = transpose


def squeeze(x, dim=None):
    shape = x.shape
    if dim is None:
        new = tuple(n for n in shape if n != 1)
    else:
        dims = {_dim(d, max(x.ndim, 1)) for d in ((dim,) if isinstance(dim, int) else dim)}
        new = tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1))
    return _view(Reshape.apply(x, shape=new), x)


def unsqueeze(x, dim):
    d = _dim(dim, x.ndim + 1)
    return _view(Reshape.apply(x, shape=tuple(x.shape[:d]) + (1,) + tuple(x.shape[d:])), x)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _dim(start_dim, x.ndim), _dim(end_dim, x.ndim)
    shape = tuple(x.shape)
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unflatten(x, dim, sizes):
    d = _dim(dim, x.ndim)
    shape = tuple(x.shape)
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def expand(x, *sizes):
    sizes = _sizes(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dims than the tensor's {tuple(x.shape)}")
    if any(n == -1 for n in sizes[:lead]):
        raise ValueError(f"expand: -1 (keep the size) is not allowed for the new leading dims "
                         f"in {sizes}")
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    for i, n in enumerate(x.shape):
        if n != 1 and n != shape[lead + i]:
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {sizes}")
    return _view(Expand.apply(x, shape=shape), x)


def expand_as(x, other):
    return expand(x, tuple(other.shape))


def broadcast_to(x, shape):
    return expand(x, tuple(shape))


def repeat(x, *reps):
    reps = _sizes(reps)
    if len(reps) < x.ndim:
        raise ValueError(f"repeat: give at least {x.ndim} repeat counts for a tensor of shape "
                         f"{tuple(x.shape)}, got {reps}")
    return Repeat.apply(x, reps=reps)


def _non_empty(tensors, name):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}: expects a non-empty sequence of tensors")
    return tensors


def cat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = promote(*_non_empty(tensors, "cat"))
    ref = tensors[0]
    d = _dim(dim, ref.ndim)
    for t in tensors[1:]:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if i != d):
            raise ValueError(f"cat: shapes {tuple(ref.shape)} and {tuple(t.shape)} differ "
                             f"outside dim {dim}")
    return Cat.apply(*tensors, axis=d)


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = promote(*_non_empty(tensors, "stack"))
    for t in tensors[1:]:
        if tuple(t.shape) != tuple(tensors[0].shape):
            raise ValueError(f"stack: expects tensors of one shape, got "
                             f"{tuple(tensors[0].shape)} and {tuple(t.shape)}")
    return Stack.apply(*tensors, axis=_dim(dim, tensors[0].ndim + 1))


def split(x, split_size_or_sections, dim=0):
    """Split into chunks of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = _dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to dim {dim}'s size {n}")
    bounds = list(np.cumsum(sizes)[:-1])
    return tuple(_view(t, x) for t in Split.apply(x, bounds=bounds, axis=d))


def chunk(x, chunks, dim=0):
    n = x.shape[_dim(dim, x.ndim)]
    return split(x, max(1, -(-n // chunks)), dim)


def flip(x, dims, *more):
    """Reverse the order along ``dims``: ``flip(x, (0, 1))`` or ``x.flip(0, 1)``."""
    dims = ((dims,) if isinstance(dims, int) else tuple(dims)) + more
    return Flip.apply(x, dims=tuple(_dim(d, x.ndim) for d in dims))


def roll(x, shifts, dims=None):
    if dims is None:
        return Roll.apply(x.flatten(), shifts=shifts, dims=0).reshape(tuple(x.shape))
    if isinstance(shifts, int):
        return Roll.apply(x, shifts=shifts, dims=dims)
    return Roll.apply(x, shifts=tuple(shifts), dims=tuple(dims))


def pad(x, pad, mode="constant", value=0.0):
    """Pad the last ``len(pad) // 2`` dims: ``pad=(left, right, top, bottom, ...)`` as in
    PyTorch. Modes: constant, reflect, replicate, circular."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expects pairs for at most {x.ndim} dims, got {tuple(pad)}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: unknown mode {mode!r}; expected one of {list(_PAD_MODES)}")
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]
    if any(lo < 0 or hi < 0 for lo, hi in widths):  # negative padding crops, as in torch
        x = x[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, x.shape))]
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    return Pad.apply(x, widths=tuple(widths), mode=mode, value=value)


