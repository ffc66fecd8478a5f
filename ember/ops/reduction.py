"""Reductions: sum, mean, var, std, max/min, amax/amin, arg*, prod, logsumexp, norm,
softmax and log_softmax (fused: the composed backward is unstable or twice as costly)."""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.ops.elementwise import maximum, minimum
from ember.tensor import Tensor

values_indices = namedtuple("values_indices", ["values", "indices"])


def _axes(dim, ndim):
    """Normalise ``dim`` (None, int or tuple; negative allowed) to a sorted tuple of axes."""
    if dim is None or ndim == 0:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"dimension {d} out of range for a tensor with {ndim} dimensions")
        out.append(d % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _lift(x, dim):
    """``(tensor, axis)`` for a one-dim reduction; a 0-d tensor (dim 0 or -1) is lifted to
    shape (1,), as PyTorch treats it, and callers drop that axis again."""
    axes = _axes(dim, x.ndim)
    return (x.reshape(1), 0) if x.ndim == 0 else (x, axes[0])


def _keep(gy, axes, keepdim, ndim):
    """Give a reduced gradient its reduced axes back (size 1) so that it broadcasts."""
    if keepdim or not axes or gy.ndim == ndim:
        return gy
    it = iter(gy.shape)
    return gy.reshape(tuple(1 if i in axes else next(it) for i in range(ndim)))


class Sum(Function):
    def forward(self, x, *, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    def backward(self, gy):
        gy = _keep(gy, self.axes, self.keepdim, len(self.shape))
        return self.xp.broadcast_to(gy, self.shape)


class Mean(Function):
    def forward(self, x, *, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, gy):
        n = math.prod(self.shape[a] for a in self.axes)
        gy = _keep(gy, self.axes, self.keepdim, len(self.shape)) / n
        return self.xp.broadcast_to(gy, self.shape)


class Var(Function):
    def forward(self, x, *, axes, keepdim, correction):
        self.axes, self.keepdim = axes, keepdim
        self.n = math.prod(x.shape[a] for a in axes) - correction
        self.save_for_backward(x)
        return x.var(axis=axes, ddof=correction, keepdims=keepdim)

    def backward(self, gy):
        x = self.saved[0]
        gy = _keep(gy, self.axes, self.keepdim, x.ndim)
        scale = 2 / self.n if self.n else math.inf  # N - correction == 0: nan, as in torch
        return gy * scale * (x - x.mean(axis=self.axes, keepdims=True))


class Std(Var):
    """sqrt(var) fused: PyTorch's gradient is 0 (not nan) where the std is 0."""

    def forward(self, x, **config):
        y = self.xp.sqrt(super().forward(x, **config))
        self.y = y
        return y

    def backward(self, gy):
        y = self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            g = self.xp.where(y == 0, gy.dtype.type(0), gy / (2 * y))
        return super().backward(g)


class Prod(Function):
    def forward(self, x, *, axis, keepdim):
        self.axis, self.keepdim = axis, keepdim
        y = x.prod(axis=axis, keepdims=keepdim)
        self.save_for_backward(x, y)
        return y

    def backward(self, gy):
        xp, (x, y), a = self.xp, self.saved, self.axis
        g = _keep(gy, (a,), self.keepdim, x.ndim)
        if not (x == 0).any():  # PyTorch's y / x (inf where the product overflows, as torch)
            return g * (_keep(y, (a,), self.keepdim, x.ndim) / x)
        # with zeros, the product of all other elements = exclusive cumprod from the left
        # times from the right (y / x would divide by zero)
        head = (slice(None),) * a + (slice(0, -1),)
        ones = xp.ones_like(x[(slice(None),) * a + (slice(0, 1),)])
        left = xp.concatenate([ones, xp.cumprod(x[head], axis=a)], axis=a)
        rx = xp.flip(x, a)
        right = xp.flip(xp.concatenate([ones, xp.cumprod(rx[head], axis=a)], axis=a), a)
        return g * left * right


class MaxMinDim(Function):
    """Values and indices of the max (or min) along one dim; the gradient goes to the index."""

    def forward(self, x, *, axis, keepdim, largest):
        xp = self.xp
        idx = xp.expand_dims((xp.argmax if largest else xp.argmin)(x, axis=axis), axis)
        values = xp.take_along_axis(x, idx, axis=axis)
        self.shape, self.axis, self.keepdim, self.idx = x.shape, axis, keepdim, idx
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        return values, idx

    def backward(self, gy, _):
        xp, a = self.xp, self.axis
        gy = _keep(gy, (a,), self.keepdim, len(self.shape))
        pos = xp.arange(self.shape[a]).reshape((-1,) + (1,) * (len(self.shape) - a - 1))
        return xp.where(pos == self.idx, gy, gy.dtype.type(0))


class AmaxAmin(Function):
    """Max (or min) over dims; ties share the gradient equally, as in PyTorch."""

    def forward(self, x, *, axes, keepdim, largest):
        y = (x.max if largest else x.min)(axis=axes, keepdims=True)
        self.axes, self.keepdim = axes, keepdim
        self.save_for_backward(x, y)
        return y if keepdim else y.reshape(tuple(n for i, n in enumerate(x.shape)
                                                 if i not in axes))

    def backward(self, gy):
        xp, (x, y) = self.xp, self.saved
        mask = x == y
        if xp.isnan(y).any():  # a nan is the max (and min): the gradient goes to it
            mask |= xp.isnan(x) & xp.isnan(y)
        count = mask.sum(axis=self.axes, keepdims=True).astype(gy.dtype)
        return _keep(gy, self.axes, self.keepdim, x.ndim) * mask / count


class Logsumexp(Function):
    def forward(self, x, *, axes, keepdim):
        xp = self.xp
        if x.size == 0:  # an empty sum: log(0) = -inf, as in PyTorch (without a warning)
            y = xp.full(x.sum(axis=axes, keepdims=True).shape, -xp.inf, x.dtype)
        else:
            m = x.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            y = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        self.axes, self.keepdim = axes, keepdim
        self.save_for_backward(x, y)
        return y if keepdim else y.squeeze(axes) if axes else y

    def backward(self, gy):
        x, y = self.saved
        return _keep(gy, self.axes, self.keepdim, x.ndim) * self.xp.exp(x - y)


class Norm(Function):
    def forward(self, x, *, p, axes, keepdim):
        xp = self.xp
        ax = xp.abs(x)
        if p == math.inf:
            y = ax.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            y = ax.min(axis=axes, keepdims=True)
        elif p == 0:  # the number of non-zeros; its gradient is zero
            y = (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            y = ax.sum(axis=axes, keepdims=True)
        elif p == 2:
            y = xp.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            y = (ax ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        self.p, self.axes, self.keepdim = p, axes, keepdim
        self.save_for_backward(x, y)
        return y if keepdim else y.squeeze(axes) if axes else y

    def backward(self, gy):
        xp, (x, y), p = self.xp, self.saved, self.p
        gy = _keep(gy, self.axes, self.keepdim, x.ndim)
        safe_y = xp.where(y == 0, 1, y)
        if abs(p) == math.inf:
            mask = xp.abs(x) == y
            count = mask.sum(axis=self.axes, keepdims=True).astype(gy.dtype)
            return gy * xp.sign(x) * mask / count
        if p == 0:
            return xp.zeros_like(x)
        if p == 1:
            return gy * xp.sign(x)
        if p == 2:
            return gy * xp.where(y == 0, 0, x / safe_y)
        g = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_y ** (p - 1)
        return gy * xp.where(y == 0, 0, g)


class Softmax(Function):
    def forward(self, x, *, axis):
        if x.size == 0:  # nothing to normalise: an empty result of the same shape
            y = x.copy()
        else:
            e = self.xp.exp(x - x.max(axis=axis, keepdims=True))
            y = e / e.sum(axis=axis, keepdims=True)
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    def forward(self, x, *, axis):
        if x.size == 0:
            y = x.copy()
        else:
            shifted = x - x.max(axis=axis, keepdims=True)
            y = shifted - self.xp.log(self.xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy - self.xp.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def sum(x, dim=None, keepdim=False):
    """Sum over ``dim`` (None: all dims; an int; or a tuple of ints)."""
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    if x.array.dtype.kind in "biu":
        raise RuntimeError(f"mean(): could not infer output dtype: the input must be a "
                           f"floating point or complex tensor, got {x.dtype}")
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _refuse_integers(name, x):
    if x.array.dtype.kind in "biu":
        raise RuntimeError(f"{name}: only floating point and complex dtypes are supported, "
                           f"got {x.dtype}")


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance; ``correction=1`` (the default, Bessel's) divides by N - 1."""
    _refuse_integers("var", x)
    return Var.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    _refuse_integers("std", x)
    return Std.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def prod(x, dim=None, keepdim=False):
    if dim is None:
        return Prod.apply(x.reshape(-1), axis=0, keepdim=False)
    x1, axis = _lift(x, dim)
    return Prod.apply(x1, axis=axis, keepdim=keepdim and x.ndim > 0)


def _max_min(x, dim, keepdim, largest):
    if isinstance(dim, Tensor):
        return (maximum if largest else minimum)(x, dim)
    if dim is None:
        return AmaxAmin.apply(x, axes=_axes(None, x.ndim), keepdim=False, largest=largest)
    x1, axis = _lift(x, dim)
    values, indices = MaxMinDim.apply(x1, axis=axis, keepdim=keepdim and x.ndim > 0,
                                      largest=largest)
    return values_indices(values, indices)


def max(x, dim=None, keepdim=False):
    """``max(x)``: the largest value; ``max(x, dim)``: (values, indices); ``max(x, y)``:
    elementwise maximum."""
    return _max_min(x, dim, keepdim, True)


def min(x, dim=None, keepdim=False):
    return _max_min(x, dim, keepdim, False)


def amax(x, dim=None, keepdim=False):
    return AmaxAmin.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim, largest=True)


def amin(x, dim=None, keepdim=False):
    return AmaxAmin.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim, largest=False)


def _arg(x, dim, keepdim, func):
    if x.array.dtype.kind == "b":
        raise RuntimeError(f"{func.__name__}(): does not support bool input")
    xp = backend.get_array_module(x.array)
    if dim is None:
        out = func(x.array.reshape(-1))
        return Tensor._make(xp.asarray(out).reshape((1,) * x.ndim if keepdim else ()))
    x1, axis = _lift(x, dim)
    out = func(x1.array, axis=axis)
    return Tensor._make(xp.expand_dims(out, axis) if keepdim and x.ndim else out)


def argmax(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, backend.get_array_module(x.array).argmax)


def argmin(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, backend.get_array_module(x.array).argmin)


def logsumexp(x, dim, keepdim=False):
    """``log(sum(exp(x)))`` over ``dim`` without overflow (integers in the default float
    dtype, as PyTorch)."""
    if x.array.dtype.kind in "biu":
        x = x.to(backend.get_default_dtype())
    return Logsumexp.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def norm(x, p="fro", dim=None, keepdim=False):
    """The p-norm over ``dim`` (all elements by default): p is "fro" (2), inf, -inf (the
    largest / smallest magnitude), 0 (the count of non-zeros) or any other positive number."""
    p = 2 if p in ("fro", None) else float(p)
    if p < 0 and p != -math.inf:
        raise ValueError(f"norm: p must be positive, 0 or +-inf, got {p}")
    return Norm.apply(x, p=p, axes=_axes(dim, x.ndim), keepdim=keepdim)


def softmax(x, dim):
    x1, axis = _lift(x, dim)
    y = Softmax.apply(x1, axis=axis)
    return y if x.ndim else y.reshape(())


def log_softmax(x, dim):
    x1, axis = _lift(x, dim)
    y = LogSoftmax.apply(x1, axis=axis)
    return y if x.ndim else y.reshape(())


def all(x, dim=None, keepdim=False):
    return Tensor._make(x.array.astype(bool).all(axis=None if dim is None else _axes(
        dim, x.ndim), keepdims=keepdim))


def any(x, dim=None, keepdim=False):
    return Tensor._make(x.array.astype(bool).any(axis=None if dim is None else _axes(
        dim, x.ndim), keepdims=keepdim))


