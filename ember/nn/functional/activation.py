"""Activation functions under PyTorch's names (``F.relu``, ``F.gelu``, ...).

Each Function here says in one line why it is not a composition of existing ops. Gradients
at kinks follow PyTorch: relu, leaky_relu and prelu take the negative branch at 0, hardtanh
passes no gradient at its bounds. ``inplace=True`` writes the result into the input through
``ember.ops.inplace``, which records it correctly or refuses clearly; the Functions below
never save their input array, so writing over it is safe.
"""
from __future__ import annotations

import math
import warnings

from ember import backend
from ember.autograd.function import Function
from ember.ops.arithmetic import gt, lt, mul
from ember.ops.creation import cast, random_uniform
from ember.ops.elementwise import Relu, sigmoid, stable_sigmoid, stable_softplus, tanh, where
from ember.ops.elementwise import relu as relu_op
from ember.ops.inplace import inplace as _inplace
from ember.ops.reduction import log_softmax, softmax
from ember.ops.shape import chunk, reshape
from ember.ops.special import erf_array as erf
from ember.tensor import Tensor

__all__ = ["relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "softplus",
           "hardtanh", "sigmoid", "tanh", "softmax", "log_softmax", "maxout", "glu", "mish",
           "hardswish", "hardsigmoid", "celu", "rrelu", "softsign", "softmin", "logsigmoid",
           "threshold", "hardshrink", "softshrink", "tanhshrink", "relu_", "elu_",
           "leaky_relu_", "hardtanh_", "selu_", "celu_", "rrelu_", "threshold_",
           "gumbel_softmax"]

# SELU's constants (Klambauer et al., 2017), to the digits PyTorch uses
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class Hardtanh(Function):
    """(a) piecewise-linear primitive: unlike clamp, no gradient flows at the bounds."""

    def forward(self, x, *, min_val, max_val):
        self.save_for_backward((x > min_val) & (x < max_val))
        return self.xp.clip(x, min_val, max_val)

    def backward(self, gy):
        return gy * self.saved[0]


class LeakyRelu(Function):
    """(c) one pass and a boolean mask, where where(x > 0, x, a * x) keeps three arrays."""

    def forward(self, x, *, negative_slope):
        positive = x > 0
        self.slope = negative_slope
        self.save_for_backward(positive)
        return self.xp.where(positive, x, x * negative_slope)

    def backward(self, gy):
        return self.xp.where(self.saved[0], gy, gy * self.slope)


class Prelu(Function):
    """(c) leaky relu with a learnt slope ``w`` (broadcast against ``x``) in one pass."""

    def forward(self, x, w):
        positive = x > 0
        self.save_for_backward(positive, x if self.needs_input_grad[1] else None,
                               w if self.needs_input_grad[0] else None)
        return self.xp.where(positive, x, w * x)

    def backward(self, gy):
        positive, x, w = self.saved
        zero = gy.dtype.type(0)
        gx = self.xp.where(positive, gy, gy * w) if w is not None else None
        gw = self.xp.where(positive, zero, gy * x) if x is not None else None
        return gx, gw  # gw has x's shape: the engine sums it back onto w's


class Elu(Function):
    """(b) expm1 keeps precision near 0; the derivative reuses the exp from forward.
    ``input_scale`` multiplies x inside the exponential (CELU: ``1 / alpha``)."""

    def forward(self, x, *, alpha, scale, input_scale=1.0):
        xp = self.xp
        positive = x > 0
        negative = xp.minimum(x, 0)  # minimum: no overflow on the unused branch
        em1 = xp.expm1(negative if input_scale == 1 else negative * input_scale)
        if self.needs_input_grad[0]:
            slope = alpha * scale if input_scale == 1 else alpha * scale * input_scale
            self.save_for_backward(xp.where(positive, scale, (em1 + 1) * slope))
        y = xp.where(positive, x, em1 * alpha)
        if scale != 1:
            y *= scale
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Gelu(Function):
    """(a) erf on raw arrays (ops.special); forward shares Phi(x) with the derivative."""

    def forward(self, x, *, approximate):
        xp = self.xp
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = xp.tanh(k * (x + 0.044715 * x ** 3))
            y = 0.5 * x * (1 + t)
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + erf(xp, x * math.sqrt(0.5)))
            y = x * cdf
            d = cdf + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        self.save_for_backward(d if self.needs_input_grad[0] else None)
        return y

    def backward(self, gy):
        return gy * self.saved[0]


class Silu(Function):
    """(c) one pass saving one array, where x * sigmoid(x) keeps x and sigmoid(x)."""

    def forward(self, x):
        s = stable_sigmoid(self.xp, x)
        if self.needs_input_grad[0]:
            self.save_for_backward(s * (1 + x * (1 - s)))
        return x * s

    def backward(self, gy):
        return gy * self.saved[0]


class Softplus(Function):
    """(b) max(z, 0) + log1p(exp(-|z|)) never overflows; linear above the threshold."""

    def forward(self, x, *, beta, threshold):
        xp = self.xp
        z = x * beta
        linear_part = z > threshold
        if self.needs_input_grad[0]:
            self.save_for_backward(xp.where(linear_part, 1, stable_sigmoid(xp, z)))
        soft = stable_softplus(xp, z) / beta
        return xp.where(linear_part, x, soft)

    def backward(self, gy):
        return gy * self.saved[0]


class Mish(Function):
    """(c) one pass saving one array, where x * tanh(softplus(x)) keeps three."""

    def forward(self, x):
        xp = self.xp
        t = xp.tanh(stable_softplus(xp, x))
        if self.needs_input_grad[0]:
            self.save_for_backward(t + x * stable_sigmoid(xp, x) * (1 - t * t))
        return x * t

    def backward(self, gy):
        return gy * self.saved[0]


class Hardswish(Function):
    """(c) one pass saving the derivative (not x, so the in-place form is safe); PyTorch's
    gradient at the kinks: 0 at x = -3, 1 at x = 3."""

    def forward(self, x):
        xp = self.xp
        if self.needs_input_grad[0]:
            self.save_for_backward(xp.where(x <= -3, 0, xp.where(x >= 3, 1, x / 3 + 0.5)))
        return x * xp.clip(x + 3, 0, 6) / 6

    def backward(self, gy):
        return gy * self.saved[0].astype(gy.dtype, copy=False)


# PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (its kernel's
# ``1.0f / 6.0f``), even for float64: the same factor keeps gradients equal to its
_ONE_SIXTH_F32 = 0.1666666716337204


class Hardsigmoid(Function):
    """(c) one pass saving a mask (not x, so the in-place form is safe); no gradient at or
    outside +-3, as PyTorch."""

    def forward(self, x):
        if self.needs_input_grad[0]:
            self.save_for_backward((x > -3) & (x < 3))
        return self.xp.clip(x + 3, 0, 6) / 6

    def backward(self, gy):
        return gy * self.saved[0] * _ONE_SIXTH_F32


class LogSigmoid(Function):
    """(b) -softplus(-x) computed as min(x, 0) - log1p(exp(-|x|)): no overflow, and full
    precision for large |x|."""

    def forward(self, x):
        xp = self.xp
        if self.needs_input_grad[0]:
            self.save_for_backward(stable_sigmoid(xp, -x))
        return -stable_softplus(xp, -x)

    def backward(self, gy):
        return gy * self.saved[0]


def _apply(fn, x, inplace, **config):
    """``fn.apply(x, **config)``, written into ``x`` when ``inplace``."""
    if inplace:
        return _inplace(x, lambda t: fn.apply(t, **config))
    return fn.apply(x, **config)


def relu(input, inplace=False):
    """max(x, 0) elementwise."""
    if not inplace:
        return relu_op(input)  # the one relu (refuses bool as torch)
    return _apply(Relu, input, inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to [min_val, max_val]; no gradient flows outside the open interval."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return _apply(Hardtanh, input, inplace, min_val=min_val, max_val=max_val)


def relu6(input, inplace=False):
    """min(max(x, 0), 6) elementwise."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope * x otherwise."""
    return _apply(LeakyRelu, input, inplace, negative_slope=negative_slope)


def prelu(input, weight):
    """Leaky relu with a learnt slope per channel (dim 1), or one slope shared by all.

    ``weight`` has one element or ``input.shape[1]`` elements.
    """
    n, channels = weight.numel(), input.shape[1] if input.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise ValueError(f"prelu: weight has {n} elements but the input (shape "
                         f"{tuple(input.shape)}) has {channels} channels in dim 1; expected "
                         f"1 or {channels}")
    if n != 1:
        weight = reshape(weight, (n,) + (1,) * (input.ndim - 2))  # (C,) -> (C, 1, ..., 1)
    elif weight.ndim != 0:
        weight = reshape(weight, ())
    return Prelu.apply(input, weight)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return _apply(Elu, input, inplace, alpha=alpha, scale=1.0)


def selu(input, inplace=False):
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017)."""
    return _apply(Elu, input, inplace, alpha=SELU_ALPHA, scale=SELU_SCALE)


def gelu(input, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` uses Hendrycks and
    Gimpel's tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate=approximate)


def silu(input, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    return _apply(Silu, input, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    return Softplus.apply(input, beta=beta, threshold=threshold)


def maxout(input, pool_size, dim=1):
    """Max over groups of ``pool_size`` consecutive entries along ``dim`` (Goodfellow et al.,
    2013): a ``(N, C * pool_size, ...)`` input gives ``(N, C, ...)``.

    Group ``j`` holds entries ``j * pool_size`` to ``j * pool_size + pool_size - 1``; ties
    share the gradient equally.
    """
    if input.ndim == 0:
        raise ValueError("maxout: expected an input with at least one dimension, got a scalar")
    d = dim % input.ndim
    n = input.shape[d]
    if pool_size < 1 or n % pool_size:
        raise ValueError(f"maxout: dim {dim} of the input (shape {tuple(input.shape)}) has "
                         f"size {n}, which is not a multiple of pool_size={pool_size}")
    shape = tuple(input.shape[:d]) + (n // pool_size, pool_size) + tuple(input.shape[d + 1:])
    return input.reshape(shape).amax(d + 1)  # (.., C * k, ..) -> (.., C, k, ..) -> (.., C, ..)


# --- the rest of PyTorch's activations ------------------------------------------------------

def glu(input, dim=-1):
    """Gated linear unit: ``a * sigmoid(b)`` where ``a, b`` are the two halves of ``input``
    along ``dim`` (whose size must be even). Shape: ``(*, 2n, *)`` -> ``(*, n, *)``."""
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = dim % input.ndim if -input.ndim <= dim < input.ndim else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"glu: dim {dim} is out of range for an input of shape "
                         f"{tuple(input.shape)}")
    if input.shape[d] % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {d} of the input "
                         f"(shape {tuple(input.shape)}) is size {input.shape[d]}")
    a, b = chunk(input, 2, d)
    return a * sigmoid(b)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))`` (Misra, 2019)."""
    return _apply(Mish, input, inplace)


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6`` (Howard et al., 2019)."""
    return _apply(Hardswish, input, inplace)


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _apply(Hardsigmoid, input, inplace)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (Barron, 2017)."""
    if alpha == 0:
        raise ZeroDivisionError("celu: alpha cannot be 0")
    return _apply(Elu, input, inplace, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomised leaky relu (Xu et al., 2015): while ``training``, each element ``x <= 0``
    is multiplied by its own slope drawn uniformly from ``[lower, upper]`` (from the device's
    seeded generator, so ``ember.manual_seed`` repeats it); otherwise the mean slope
    ``(lower + upper) / 2`` is used, as a leaky relu."""
    if lower > upper:
        raise ValueError(f"rrelu: lower bound ({lower}) should be less than or equal to the "
                         f"upper bound ({upper})")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    xp = backend.get_array_module(input.array)
    slopes = random_uniform(input.shape, lower, upper, input.dtype, input.device)
    noise = Tensor._make(xp.where(input.array <= 0, slopes, input.array.dtype.type(1)))
    return _inplace(input, mul, noise) if inplace else mul(input, noise)


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-x)`` along ``dim``; ``dtype`` casts the input first. Without ``dim``,
    PyTorch's legacy rule picks one (0 for 0-, 1- and 3-D inputs, else 1) and warns."""
    if dim is None:
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the "
                      "call to include dim=X as an argument.", stacklevel=_stacklevel)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    if dtype is not None:
        input = cast(input, dtype)
    return softmax(-input, dim)


def logsigmoid(input):
    """``log(sigmoid(x))``, computed stably for large ``|x|``."""
    return LogSigmoid.apply(input)


def threshold(input, threshold, value, inplace=False):
    """``x`` where ``x > threshold``, else ``value``."""
    def fn(x):
        return where(gt(x, threshold), x, value)
    return _inplace(input, fn) if inplace else fn(input)


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, else 0."""
    return where(gt(input.abs(), lambd), input, 0)


def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between."""
    if not lambd >= 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    return where(gt(input, lambd), input - lambd, where(lt(input, -lambd), input + lambd, 0))


def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - tanh(input)


def _in_place(fn):
    """PyTorch's ``F.<name>_``: ``fn`` with ``inplace=True``."""
    def in_place(input, *args, **kwargs):
        return fn(input, *args, inplace=True, **kwargs)
    in_place.__name__ = fn.__name__ + "_"
    in_place.__doc__ = f"``{fn.__name__}(input, ..., inplace=True)``."
    return in_place


relu_, elu_, leaky_relu_, hardtanh_ = map(_in_place, (relu, elu, leaky_relu, hardtanh))
selu_, celu_, rrelu_, threshold_ = map(_in_place, (selu, celu, rrelu, threshold))


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A differentiable sample of a categorical distribution (Jang et al., 2017):
    ``softmax((logits + g) / tau)`` with Gumbel noise ``g = -log(E)``, E ~ Exp(1) from
    ember's seeded generator; ``hard`` returns the one-hot argmax whose gradient is the
    soft sample's (straight-through). ``eps`` is unused, as in PyTorch."""
    xp = backend.get_array_module(logits.array)
    u = random_uniform(logits.shape, 0, 1, logits.dtype, logits.device)
    gumbels = Tensor._make(-xp.log(-xp.log1p(-u)))  # -log(1 - U) ~ Exp(1)
    y = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    index = y.array.argmax(axis=dim)
    one_hot = xp.zeros_like(y.array)
    xp.put_along_axis(one_hot, xp.expand_dims(index, dim), 1, axis=dim)
    return Tensor._make(one_hot) - y.detach() + y
