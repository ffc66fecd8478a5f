"""Special and fused maths: erf, erfinv, atan2 (primitives), and hypot, lerp, nan_to_num,
addcmul, addcdiv, var_mean, std_mean composed from existing ops."""
from __future__ import annotations

import math

import numpy as np

from ember.autograd.function import Function
from ember.ops.arithmetic import isinf, isnan, promote
from ember.ops.elementwise import _floating, sqrt, where
from ember.ops.reduction import mean, std, var
from ember.tensor import Tensor

# --- erf -------------------------------------------------------------
# NumPy has no erf, so it is evaluated from two polynomials fitted (Chebyshev interpolation,
# then converted to powers) for ember (GELU uses it too): erf(z) = z * A(t) with
# t = z^2 / 2 - 1 for |z| < 2, and erf(z) = 1 - exp(-z^2) * B(t) with t = (|z| - 4) / 2 for 2 <= |z| < 6, B fitting the
# scaled complement exp(z^2) * erfc(z). Beyond 6, erf is +-1 to double precision. The
# relative error is below 1e-14 over the whole line (tests check it against math.erf).
_ERF_A = (-5.2145887950752096e-11, -1.3381326864008539e-10, 1.39368833944657e-09,
          -8.654338738538111e-09, 6.080227704959215e-08, -4.044513446298509e-07,
          2.476110869136666e-06, -1.3946317396850733e-05, 7.180087522948353e-05,
          -0.000335143516477149, 0.001405091454604419, -0.005234875839532774,
          0.01712834456830532, -0.0486627774488581, 0.11947913861000357,
          -0.2611118609312534, 0.6749332360396539)
_ERF_B = (2.154084898749075e-09, -6.705405160762901e-09, 8.180766663451194e-09,
          -2.093407838544326e-08, 8.263566384556945e-08, -2.3253324254019175e-07,
          6.0404378769805e-07, -1.6188794604523362e-06, 4.313746596160634e-06,
          -1.1274961343540395e-05, 2.9011971998889143e-05, -7.352012850505974e-05,
          0.0001833076531706963, -0.0004493271613013702, 0.0010819615613966074,
          -0.002557084146580743, 0.005925639503062719, -0.013449456615036933,
          0.029861732979931725, -0.06476701219002845, 0.13699945762506124)


def _horner(coefficients, t):
    acc = t * coefficients[0]
    acc += coefficients[1]
    for c in coefficients[2:]:
        acc *= t
        acc += c
    return acc


def erf_array(xp, z):
    """The error function of array ``z`` (NumPy or CuPy), elementwise, in z's dtype."""
    small = _horner(_ERF_A, xp.minimum(z * z, 4) * 0.5 - 1) * z
    a = xp.abs(z)
    tail = a >= 2
    if not tail.any():
        return small
    at = a[tail]
    big = 1 - xp.exp(-at * at) * _horner(_ERF_B, (xp.minimum(at, 6) - 4) * 0.5)
    small[tail] = xp.where(at < 6, big, 1) * xp.sign(z[tail])
    return small


# Giles (2010), "Approximating the erfinv function": a single-precision first guess
_GILES_A = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
            -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_B = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
            -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def erfinv_array(xp, x):
    """erf's inverse on (-1, 1), +-inf at +-1, nan outside: Giles' rational first guess
    (single precision; erfc's asymptotics where 1 - |x| < 1e-8), then three Halley steps on
    erf(y) = x to full double precision."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = -xp.log((1 - x) * (1 + x))
        central = _horner(_GILES_A, w - 2.5) * xp.abs(x)
        tail = _horner(_GILES_B, xp.sqrt(xp.maximum(w, 5)) - 3)
        lg = w - math.log(2)  # -log(1 - |x|); past 1e-8, erfc's asymptotics guess better:
        far = xp.sqrt(xp.maximum(lg - 0.5 * xp.log(math.pi * lg), 0))
        y = xp.where(w < 5, central, xp.where(w < 18, tail, far)) * xp.sign(x)
        for _ in range(3):  # Halley steps on the residual erf(y) - x, times exp(y^2); past |y| = 2 it is
            # taken from erfc(|y|) * exp(y^2) = B(t) against 1 - |x| (exact), not from erf ~ 1
            e, t = xp.exp(y * y), (xp.minimum(xp.abs(y), 6) - 4) * 0.5
            far = xp.sign(x) * ((1 - xp.abs(x)) * e - _horner(_ERF_B, t))
            step = xp.where(xp.abs(y) >= 2, far, (erf_array(xp, y) - x) * e)
            step = step * (math.sqrt(math.pi) / 2)
            y = xp.where(xp.isfinite(step), y - step / (1 + y * step), y)
        edge = xp.where(xp.abs(x) == 1, x * xp.inf, xp.nan)
        return xp.where(xp.abs(x) < 1, y, edge).astype(x.dtype)


class Erf(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return erf_array(self.xp, x)

    def backward(self, gy):
        x = self.saved[0]
        return gy * (2 / math.sqrt(math.pi)) * self.xp.exp(-x * x)


class Erfinv(Function):
    def forward(self, x):
        y = erfinv_array(self.xp, x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * (math.sqrt(math.pi) / 2) * self.xp.exp(y * y)


class Atan2(Function):
    def forward(self, y, x):
        self.save_for_backward(y, x)
        return self.xp.arctan2(y, x)

    def backward(self, g):
        y, x = self.saved
        g = g / (x * x + y * y)
        return g * x, -g * y


def erf(input):
    """The error function ``2 / sqrt(pi) * integral_0^x exp(-t^2) dt``."""
    return Erf.apply(_floating(input))


def erfinv(input):
    """The inverse error function (``erf(erfinv(x)) == x`` on (-1, 1))."""
    return Erfinv.apply(_floating(input))


def atan2(input, other):
    """The angle of the point (other, input), in (-pi, pi]; broadcasts."""
    y, x = promote(_floating(input) if isinstance(input, Tensor) else input,
                   _floating(other) if isinstance(other, Tensor) else other)
    return Atan2.apply(y, x)


def hypot(input, other):
    """``sqrt(input**2 + other**2)``, elementwise."""
    return sqrt(input * input + other * other)


def lerp(input, end, weight):
    """``input + weight * (end - input)``."""
    return input + weight * (end - input)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (the dtype's
    largest and lowest finite values by default)."""
    if input.array.dtype.kind != "f":
        return input.clone()
    info = np.finfo(input.array.dtype)
    out = where(isnan(input), nan, input)
    out = where(isinf(input) & (input > 0), info.max if posinf is None else posinf, out)
    return where(isinf(input) & (input < 0), info.min if neginf is None else neginf, out)


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``."""
    return input + value * tensor1 * tensor2 if value != 1 else input + tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``."""
    return input + value * tensor1 / tensor2 if value != 1 else input + tensor1 / tensor2


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` over ``dim``; ``correction`` (or ``unbiased``) as in ``var``."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` over ``dim``; ``correction`` (or ``unbiased``) as in ``std``."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dim, keepdim))
