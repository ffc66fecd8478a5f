"""Elementwise maths: exp, log, sqrt, trig, activations, clamp, maximum/minimum, where."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.kernels.arrays import positive_part
from ember.ops.arithmetic import _binary, div, promote
from ember.tensor import Tensor


class Exp(Function):
    def forward(self, x):
        y = self.xp.exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.log(x)

    def backward(self, gy):
        return gy / self.saved[0]


class Log1p(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.log1p(x)

    def backward(self, gy):
        return gy / (1 + self.saved[0])


class Sqrt(Function):
    def forward(self, x):
        y = self.xp.sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        return gy / (2 * self.saved[0])


class Rsqrt(Function):
    def forward(self, x):
        y = 1 / self.xp.sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * -0.5 * y * y * y


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.abs(x)

    def backward(self, gy):
        x = self.saved[0]
        return gy * ((x > 0).astype(gy.dtype) - (x < 0))  # sign, but 0 at nan as in torch


class Sin(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.sin(x)

    def backward(self, gy):
        return gy * self.xp.cos(self.saved[0])


class Cos(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.cos(x)

    def backward(self, gy):
        return -gy * self.xp.sin(self.saved[0])


class Tanh(Function):
    def forward(self, x):
        y = self.xp.tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * (1 - y * y)


def stable_sigmoid(xp, x):
    """The logistic function of a raw array: exp of -|x| never overflows, and each branch
    keeps full relative precision."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)


def stable_softplus(xp, x):
    """``log(1 + exp(x))`` of a raw array as ``max(x, 0) + log1p(exp(-|x|))``: no overflow."""
    return positive_part(x) + xp.log1p(xp.exp(-xp.abs(x)))


class Sigmoid(Function):
    def forward(self, x):
        y = stable_sigmoid(self.xp, x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * y * (1 - y)


class Relu(Function):
    def forward(self, x):
        y = positive_part(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # a multiply by the mask is ~10x faster than where(); ~(y <= 0) lets nan through as torch
        return gy * ~(self.saved[0] <= 0)


class Clamp(Function):
    def forward(self, x, *, min=None, max=None):
        self.save_for_backward(x)
        self.bounds = (min, max)
        return self.xp.clip(x, min, max) if (min is not None or max is not None) else x.copy()

    def backward(self, gy):
        x, (lo, hi) = self.saved[0], self.bounds
        keep = True
        if lo is not None:
            keep = x >= lo
        if hi is not None:
            keep = keep & (x <= hi)
        return gy * keep


def _tie_split(xp, gy, a, b, loser_a, loser_b):
    """PyTorch's maximum/minimum gradient: ties share it equally, the loser gets none (and
    a nan compares as neither, so both sides get it)."""
    zero = gy.dtype.type(0)
    shared = xp.where(a == b, gy * 0.5, gy)
    return xp.where(loser_a, zero, shared), xp.where(loser_b, zero, shared)


class Maximum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.saved
        return _tie_split(self.xp, gy, a, b, a < b, a > b)


class Minimum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.saved
        return _tie_split(self.xp, gy, a, b, a > b, a < b)


class Where(Function):
    def forward(self, a, b, *, condition):
        self.condition = condition
        return self.xp.where(condition, a, b)

    def backward(self, gy):
        c = self.condition
        zero = gy.dtype.type(0)
        return (self.xp.where(c, gy, zero) if self.needs_input_grad[0] else None,
                self.xp.where(c, zero, gy) if self.needs_input_grad[1] else None)


class Cumsum(Function):
    def forward(self, x, *, dim):
        self.dim = dim
        return self.xp.cumsum(x, axis=dim)

    def backward(self, gy):
        xp, d = self.xp, self.dim
        return xp.flip(xp.cumsum(xp.flip(gy, d), axis=d), d)


def _floating(x):
    """Integer and bool tensors enter float maths as the default dtype, as in PyTorch."""
    return x.to(backend.get_default_dtype()) if x.array.dtype.kind in "biu" else x


def exp(x):
    return Exp.apply(_floating(x))


def log(x):
    return Log.apply(_floating(x))


def log1p(x):
    return Log1p.apply(_floating(x))


def log2(x):
    return div(log(x), float(np.log(2)))


def log10(x):
    return div(log(x), float(np.log(10)))


def sqrt(x):
    return Sqrt.apply(_floating(x))


def rsqrt(x):
    return Rsqrt.apply(_floating(x))


def _refuse_bool(name, x, error=NotImplementedError):
    """PyTorch has no bool kernel for these ops (NumPy would compute one)."""
    if x.array.dtype.kind == "b":
        raise error(f"{name}: not implemented for bool tensors (shape {tuple(x.shape)})")


def abs(x):
    _refuse_bool("abs", x)
    return Abs.apply(x)


def sign(x):
    """-1, 0 or 1 elementwise (a bool tensor is its own sign); its gradient is zero."""
    a = x.array
    if a.dtype.kind == "b":
        return Tensor._make(a.copy())
    if a.dtype.kind == "f":  # PyTorch's (0 < x) - (x < 0): sign(nan) = 0, sign(-0.0) = +0
        return Tensor._make((a > 0).astype(a.dtype) - (a < 0).astype(a.dtype))
    return Tensor._make(backend.get_array_module(a).sign(a))


def sin(x):
    return Sin.apply(_floating(x))


def cos(x):
    return Cos.apply(_floating(x))


def tanh(x):
    return Tanh.apply(_floating(x))


def sigmoid(x):
    return Sigmoid.apply(_floating(x))


def relu(x):
    _refuse_bool("relu", x, RuntimeError)
    return Relu.apply(x)


def clamp(x, min=None, max=None):
    """Limit values to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    return Clamp.apply(x, min=min, max=max)


clip = clamp


def maximum(a, b):
    return _binary(Maximum, a, b)


def minimum(a, b):
    return _binary(Minimum, a, b)


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (either may be a number)."""
    a, b = promote(a, b)
    values = [t.array if isinstance(t, Tensor) else t for t in (a, b)]
    cond = condition.array if isinstance(condition, Tensor) else condition
    if not hasattr(cond, "astype"):  # a bool or a list: onto the values' device
        cond = backend.get_array_module(*values).asarray(cond)
    if backend.device_of(cond) != backend.device_of(values[0]):
        raise ValueError(f"where: condition is on {backend.device_of(cond)} but the values "
                         f"are on {backend.device_of(values[0])}")
    return Where.apply(a, b, condition=cond.astype(bool, copy=False))


def masked_fill(x, mask, value):
    """``value`` where ``mask`` is true, else ``x``."""
    return where(mask, value, x)


def cumsum(x, dim):
    if x.ndim == 0:  # dim 0 of a 0-d tensor, as PyTorch allows
        return Cumsum.apply(x.reshape(1), dim=0).reshape(())
    return Cumsum.apply(x, dim=dim)


def _no_grad_unary(name):
    def op(x):
        _refuse_bool(name, x)
        return Tensor._make(getattr(backend.get_array_module(x.array), name)(x.array))
    op.__name__ = name
    op.__doc__ = f"Elementwise {name}; piecewise constant, so no gradient flows."
    return op


floor = _no_grad_unary("floor")
ceil = _no_grad_unary("ceil")
round = _no_grad_unary("round")


