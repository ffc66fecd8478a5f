"""Affine layers: Linear and Bilinear."""
from __future__ import annotations

import math

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.ops.creation import empty

__all__ = ["Linear", "Bilinear"]


def _uniform_fan_in(tensor, fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for biases (0 when fan_in is 0)."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(tensor, -bound, bound)


class Linear(Module):
    """``y = x W^T + b``.

    Args:
        in_features: size of each input's last dimension.
        out_features: size of each output's last dimension.
        bias: learn an additive bias (default True).

    Shape: input ``(*, in_features)`` -> output ``(*, out_features)``.

    Parameters: ``weight (out_features, in_features)`` and ``bias (out_features,)``, both
    initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.

    Example:
        >>> import ember
        >>> layer = ember.nn.Linear(4, 3)
        >>> layer(ember.randn(2, 4)).shape
        ember.Size([2, 3])
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype, device=device))
        self.register_parameter(
            "bias", Parameter(empty(out_features, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_ with a = sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_fan_in(self.bias, self.in_features)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """``y = x1^T A x2 + b``, one matrix ``A`` per output feature.

    Args:
        in1_features: size of the first input's last dimension.
        in2_features: size of the second input's last dimension.
        out_features: size of the output's last dimension.
        bias: learn an additive bias (default True).

    Shape: inputs ``(*, in1_features)`` and ``(*, in2_features)`` -> ``(*, out_features)``.

    Parameters: ``weight (out_features, in1_features, in2_features)`` and ``bias
    (out_features,)``, both from U(-1/sqrt(in1_features), 1/sqrt(in1_features)).
    """

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in1_features, in2_features, dtype=dtype,
                                      device=device))
        self.register_parameter(
            "bias", Parameter(empty(out_features, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_fan_in(self.weight, self.in1_features)
        if self.bias is not None:
            _uniform_fan_in(self.bias, self.in1_features)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
