"""Arithmetic: add, sub, mul, div, neg, pow; comparisons and logic (no gradient).

Type promotion follows PyTorch: Python numbers never widen a tensor's dtype within its
category (float32 + 2.5 stays float32), ints meeting floats become the float dtype.
"""
from __future__ import annotations

import numbers

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.tensor import Tensor

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _scalar_dtype(value):
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(value, numbers.Real):
        return backend.get_default_dtype()
    return np.dtype(np.complex64 if backend.get_default_dtype() == np.float32 else np.complex128)


def result_type(*operands):
    """The dtype PyTorch gives an op on these tensors and Python numbers."""
    best = None  # (priority, category, dtype): dimensioned > 0-d tensors > numbers
    for x in operands:
        if isinstance(x, Tensor):
            dtype, prio = x.array.dtype, 2 if x.array.ndim else 1
        elif hasattr(x, "ndim") and not isinstance(x, np.generic):  # a raw array: as a tensor
            dtype, prio = x.dtype, 2 if x.ndim else 1
        else:
            dtype, prio = _scalar_dtype(x), 0
        cat = _CATEGORY[dtype.kind]
        if best is None or cat > best[1] or (cat == best[1] and prio > best[0]):
            best = (prio, cat, dtype)
        elif cat == best[1] and prio == best[0]:
            best = (prio, cat, np.promote_types(best[2], dtype))
    return best[2]


def promote(*operands):
    """Tensors and numbers -> Tensors (or constant arrays) of one dtype; numbers go to the
    first tensor's device (tensors on two devices are refused by ``Function.apply``)."""
    dtype = result_type(*operands)
    device = None
    out = []
    for x in operands:
        if isinstance(x, Tensor):
            if device is None:
                device = x.device
            out.append(x if x.array.dtype == dtype else x.to(dtype=dtype))
        else:
            out.append(x)
    xp = device.xp if device is not None else np
    return [x if isinstance(x, Tensor) else xp.asarray(x, dtype=dtype) for x in out]


def _binary(cls, a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.array.dtype == b.array.dtype:
        return cls.apply(a, b)  # nothing to promote (devices are checked by apply)
    return cls.apply(*promote(a, b))


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, (-gy if self.needs_input_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        # Save only what backward needs, so that e.g. `x *= 2` stays legal in a graph.
        self.save_for_backward(b if self.needs_input_grad[0] else None,
                               a if self.needs_input_grad[1] else None)
        return a * b

    def backward(self, gy):
        b, a = self.saved
        return (gy * b if b is not None else None), (gy * a if a is not None else None)


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved
        ga = gy / b if self.needs_input_grad[0] else None
        gb = -(gy / b) * (a / b) if self.needs_input_grad[1] else None  # no overflow in b * b
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def _power(xp, a, b, scalar):
    """``a ** b`` as PyTorch: a number exponent 0.5 is ``sqrt(a)`` and -0.5 ``1 / sqrt(a)``
    (its fast paths: (-0) ** -0.5 = -inf, (-inf) ** 0.5 = nan), while a tensor exponent is
    IEEE pow ((-0) ** 0.5 = +0, (-inf) ** 0.5 = +inf), which NumPy's sqrt shortcut for an
    exponent of 0.5 is not."""
    if scalar and a.dtype.kind == "f" and b in (0.5, -0.5):
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.sqrt(a) if b == 0.5 else 1 / xp.sqrt(a)
    if not scalar and a.dtype.kind == "f" and b.dtype.kind == "f" and (b == 0.5).any():
        half = b == 0.5
        y = a ** b
        y = xp.where(half & (a == 0), 0.0, y)  # +0, not sqrt's -0
        return xp.where(half & xp.isneginf(a), xp.inf, y).astype(y.dtype)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and (b < 0).any():
        # integers to negative powers, as PyTorch: 1 for 1, +-1 for -1, 0 otherwise
        neg = b < 0
        special = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b % 2 != 0), 0))
        return xp.where(neg, special, a ** xp.where(neg, 0, b)).astype(
            xp.result_type(a, b))
    return a ** b


class Pow(Function):
    def forward(self, a, b, *, scalar=False):
        y = _power(self.xp, a, b, scalar)
        self.scalar = scalar
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy):
        a, b, y = self.saved
        xp = self.xp
        ga = gb = None
        if self.needs_input_grad[0]:
            # b * a**(b-1); PyTorch defines it as 0 where b == 0 (0 * 0**-1 would be nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = gy * xp.where(b == 0, 0, b * _power(xp, a, b - 1, self.scalar))
        if self.needs_input_grad[1]:
            # d/db a**b = a**b log a; PyTorch defines it as 0 where a == 0 and b >= 0 (and
            # keeps inf where a == 0 and b < 0: inf * log 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = gy * xp.where((a == 0) & (b >= 0), 0, y * xp.log(a))
        return ga, gb


class Remainder(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a % b  # Python's sign convention, as torch.remainder

    def backward(self, gy):
        a, b = self.saved
        return gy, (-gy * self.xp.floor(a / b) if self.needs_input_grad[1] else None)


def add(a, b, alpha=1):
    """``a + alpha * b`` with broadcasting."""
    return _binary(Add, a, b if alpha == 1 else mul(b, alpha))


def sub(a, b, alpha=1):
    return _binary(Sub, a, b if alpha == 1 else mul(b, alpha))


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b, rounding_mode=None):
    """``a / b``; integers divide to the default float dtype, as in PyTorch.
    ``rounding_mode`` "floor" or "trunc" gives integer-style division (no gradient)."""
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _no_grad_binary(lambda x, y: (x / y).astype(x.dtype) if x.dtype.kind in "iu"
                               else backend.get_array_module(x).trunc(x / y), a, b)
    if result_type(a, b).kind in "biu":
        a, b = promote(a, b, 1.0)[:2]
    return _binary(Div, a, b)


def neg(x):
    return Neg.apply(x)


def pow(a, b):
    """``a ** b``; either may be a tensor or a number."""
    if isinstance(a, Tensor) and isinstance(b, float) and b in (0.5, 1.5, -0.5):
        return Pow.apply(*promote(a, b), scalar=True)  # PyTorch's sqrt / rsqrt paths
    if isinstance(a, Tensor) and a.array.dtype.kind in "iu" and isinstance(b, int) and b < 0:
        raise RuntimeError(f"pow: integers to negative integer powers are not allowed "
                           f"(a {a.dtype} tensor to the power {b})")
    a, b = promote(a, b)
    if getattr(a, "array", a).dtype.kind == "b":
        raise NotImplementedError(f"pow: not implemented for bool tensors (shapes "
                                  f"{tuple(a.shape)} and {tuple(b.shape)})")
    return Pow.apply(a, b)


def square(x):
    if x.array.dtype.kind == "b":  # PyTorch squares bools as int64 (pow(x, 2))
        x = x.to(np.int64)
    return mul(x, x)


def reciprocal(x):
    return div(1.0, x)


# --- no gradient: integer division, comparisons, logic --------------------------------

def _no_grad_binary(func, a, b, dtype=None):
    a, b = promote(a, b)
    x = a.array if isinstance(a, Tensor) else a
    y = b.array if isinstance(b, Tensor) else b
    return Tensor._make(func(x, y))


def _integer_division(name, a, b):
    """PyTorch has no bool kernel here and raises on an integer division by zero (NumPy
    would give int8 / 0 and warn)."""
    a, b = promote(a, b)
    y = b.array if isinstance(b, Tensor) else b
    if getattr(y, "dtype", None) is not None and y.dtype.kind == "b":
        raise NotImplementedError(f"{name}: not implemented for bool tensors")
    x = a.array if isinstance(a, Tensor) else np.asarray(a)
    if (getattr(y, "dtype", None) is not None and y.dtype.kind in "iu" and (y == 0).any()
            and x.size):  # an empty result divides by nothing
        raise RuntimeError(f"{name}: ZeroDivisionError (an integer divisor is 0)")
    return a, b


def floor_divide(a, b):
    a, b = _integer_division("floor_divide", a, b)
    return _no_grad_binary(lambda x, y: x // y, a, b)


def remainder(a, b):
    """``a - floor(a / b) * b``, with the sign of ``b``; differentiable for floats."""
    return _binary(Remainder, *_integer_division("remainder", a, b))


def eq(a, b):
    return _no_grad_binary(lambda x, y: x == y, a, b)


def ne(a, b):
    return _no_grad_binary(lambda x, y: x != y, a, b)


def lt(a, b):
    return _no_grad_binary(lambda x, y: x < y, a, b)


def le(a, b):
    return _no_grad_binary(lambda x, y: x <= y, a, b)


def gt(a, b):
    return _no_grad_binary(lambda x, y: x > y, a, b)


def ge(a, b):
    return _no_grad_binary(lambda x, y: x >= y, a, b)


def logical_and(a, b):
    return _no_grad_binary(lambda x, y: x.astype(bool) & y.astype(bool), a, b)


def logical_or(a, b):
    return _no_grad_binary(lambda x, y: x.astype(bool) | y.astype(bool), a, b)


def logical_xor(a, b):
    return _no_grad_binary(lambda x, y: x.astype(bool) ^ y.astype(bool), a, b)


def bitwise_and(a, b):
    return _no_grad_binary(lambda x, y: x & y, a, b)


def bitwise_or(a, b):
    return _no_grad_binary(lambda x, y: x | y, a, b)


def logical_not(x):
    return Tensor._make(~x.array.astype(bool))


def isnan(x):
    return Tensor._make(backend.get_array_module(x.array).isnan(x.array))


def isinf(x):
    return Tensor._make(backend.get_array_module(x.array).isinf(x.array))


def isfinite(x):
    return Tensor._make(backend.get_array_module(x.array).isfinite(x.array))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _no_grad_binary(lambda x, y: backend.get_array_module(x).isclose(
        x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(a, b, rtol, atol, equal_nan).array.all())


def equal(a, b) -> bool:
    """True when both tensors have the same shape and elements."""
    return tuple(a.shape) == tuple(b.shape) and bool((a.array == b.array).all())
