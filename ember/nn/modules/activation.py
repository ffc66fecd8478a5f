"""Activation layers: thin modules over ``ember.nn.functional.activation`` with PyTorch's arguments
and reprs, plus PReLU (a learnt slope) and Maxout (a learnt max of affine pieces)."""
from __future__ import annotations

import warnings

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.ops.creation import empty

__all__ = ["Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU",
           "SiLU", "Softplus", "Softmax", "LogSoftmax", "Hardtanh", "Maxout", "GLU", "Mish",
           "Hardswish", "Hardsigmoid", "CELU", "RReLU", "Softsign", "Softmin", "LogSigmoid",
           "Threshold", "Hardshrink", "Softshrink", "Tanhshrink", "Softmax2d"]


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise. Shape: any -> same."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """``tanh(x)`` elementwise. Shape: any -> same."""

    def forward(self, input):
        return F.tanh(input)


class _Inplace(Module):
    """An activation whose only option is ``inplace`` (write the result into the input)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """``max(x, 0)`` elementwise. Args: inplace (default False). Shape: any -> same."""

    def forward(self, input):
        return F.relu(input, self.inplace)


class ReLU6(_Inplace):
    """``min(max(x, 0), 6)`` elementwise. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.relu6(input, self.inplace)


class SELU(_Inplace):
    """Scaled ELU with the self-normalising constants. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.selu(input, self.inplace)


class SiLU(_Inplace):
    """``x * sigmoid(x)`` elementwise. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.silu(input, self.inplace)


def _inplace_suffix(module):
    return ", inplace=True" if module.inplace else ""


class Hardtanh(Module):
    """Clamp to ``[min_val, max_val]`` (defaults -1, 1); no gradient outside.

    Args: min_val, max_val, inplace. Shape: any -> same.
    """

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if min_val >= max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must be below max_val ({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self)}"


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope * x`` otherwise.

    Args: negative_slope (default 0.01), inplace. Shape: any -> same.
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self)}"


class ELU(Module):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Args: alpha (default 1.0), inplace. Shape: any -> same.
    """

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_suffix(self)}"


class GELU(Module):
    """``x * Phi(x)``; ``approximate="tanh"`` for the tanh approximation. Shape: any -> same."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    Args: beta (default 1.0), threshold (default 20.0). Shape: any -> same.
    """

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """Leaky relu with a learnt negative slope, shared or one per channel (dim 1).

    Args:
        num_parameters: 1 (one slope for all) or the number of input channels.
        init: the slopes' initial value (default 0.25).

    Shape: any ``(N, C, *)`` -> same. Parameter: ``weight (num_parameters,)``.
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty(num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


def _implicit_softmax_dim(name, ndim):
    # PyTorch's legacy rule for a missing dim, kept for parity (with its warning)
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``. Shape: any -> same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_softmax_dim("softmax", input.ndim) if self.dim is None else self.dim
        return F.softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log(softmax(x))`` along ``dim``, computed stably. Shape: any -> same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _implicit_softmax_dim("log_softmax", input.ndim) if self.dim is None else self.dim
        return F.log_softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Maxout(Module):
    """Maxout units (Goodfellow et al., 2013): each output is the max of ``pool_size``
    affine functions of the input.

    ``y[..., j] = max_k (x W[j * pool_size + k]^T + b[j * pool_size + k])``, i.e.
    ``F.maxout(F.linear(x, W, b), pool_size, dim=-1)``. PyTorch has no Maxout layer.

    Args:
        in_features: size of each input's last dimension.
        out_features: number of maxout units.
        pool_size: affine pieces per unit.
        bias: learn biases (default True).

    Shape: ``(*, in_features)`` -> ``(*, out_features)``.

    Parameters: ``weight (out_features * pool_size, in_features)`` and ``bias
    (out_features * pool_size,)``, initialised as ``Linear``'s.
    """

    def __init__(self, in_features, out_features, pool_size, bias=True, device=None,
                 dtype=None):
        super().__init__()
        if pool_size < 1:
            raise ValueError(f"Maxout: pool_size must be at least 1, got {pool_size}")
        self.in_features, self.out_features, self.pool_size = in_features, out_features, pool_size
        rows = out_features * pool_size
        self.weight = Parameter(empty(rows, in_features, dtype=dtype, device=device))
        self.register_parameter(
            "bias", Parameter(empty(rows, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    reset_parameters = Linear.reset_parameters  # the same distributions as Linear's

    def forward(self, input):
        return F.maxout(F.linear(input, self.weight, self.bias), self.pool_size, dim=-1)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"pool_size={self.pool_size}, bias={self.bias is not None}")


# --- the rest of PyTorch's activation layers ------------------------------------------------

class GLU(Module):
    """Gated linear unit ``a * sigmoid(b)`` over the two halves of ``dim`` (default -1).

    Shape: ``(*, 2n, *)`` -> ``(*, n, *)``.
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Mish(_Inplace):
    """``x * tanh(softplus(x))`` elementwise. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.mish(input, self.inplace)


class Hardswish(_Inplace):
    """``x * relu6(x + 3) / 6`` elementwise. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.hardswish(input, self.inplace)

    def extra_repr(self):
        return ""  # PyTorch's Hardswish does not show inplace


class Hardsigmoid(_Inplace):
    """``relu6(x + 3) / 6`` elementwise. Args: inplace. Shape: any -> same."""

    def forward(self, input):
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self):
        return ""  # PyTorch's Hardsigmoid does not show inplace


class CELU(Module):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    Args: alpha (default 1.0), inplace. Shape: any -> same.
    """

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace_suffix(self)}"


class RReLU(Module):
    """Randomised leaky relu: in training, a random slope in ``[lower, upper]`` per element
    ``x <= 0`` (from the seeded generator); in evaluation, the slope ``(lower + upper) / 2``.

    Args: lower (default 1/8), upper (default 1/3), inplace. Shape: any -> same.
    """

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}{_inplace_suffix(self)}"


class Softsign(Module):
    """``x / (1 + |x|)`` elementwise. Shape: any -> same."""

    def forward(self, input):
        return F.softsign(input)


class Softmin(Module):
    """``softmax(-x)`` along ``dim``. Shape: any -> same."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W), at every position."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input of 3 or 4 dimensions (C, H, W) or "
                             f"(N, C, H, W), got shape {tuple(input.shape)}")
        return F.softmax(input, -3)


class LogSigmoid(Module):
    """``log(sigmoid(x))`` elementwise, stable for large ``|x|``. Shape: any -> same."""

    def forward(self, input):
        return F.logsigmoid(input)


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value``.

    Args: threshold, value, inplace. Shape: any -> same.
    """

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}{_inplace_suffix(self)}"


class Hardshrink(Module):
    """``x`` where ``|x| > lambd`` (default 0.5), else 0. Shape: any -> same."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``x - lambd`` above ``lambd`` (default 0.5), ``x + lambd`` below ``-lambd``, else 0.

    Shape: any -> same.
    """

    def forward(self, input):
        return F.softshrink(input, self.lambd)


class Tanhshrink(Module):
    """``x - tanh(x)`` elementwise. Shape: any -> same."""

    def forward(self, input):
        return F.tanhshrink(input)
