"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d, with PyTorch's arguments,
parameter shapes and default initialisation, over ``ember.nn.functional``'s convolutions."""
from __future__ import annotations

import math

from ember.nn import functional as F
from ember.nn import init
from ember.nn.functional.utils import ntuple, same_padding
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.ops.creation import empty

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared constructor, initialisation and printing of the convolution layers."""

    _d = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device=None,
                 dtype=None):
        super().__init__()
        name, d = type(self).__name__, self._d
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, d, "kernel_size", name)
        self.stride = ntuple(stride, d, "stride", name)
        self.dilation = ntuple(dilation, d, "dilation", name)
        self.output_padding = ntuple(output_padding, d, "output_padding", name)
        self.transposed, self.padding_mode = transposed, padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding = padding
        else:
            self.padding = ntuple(padding, d, "padding", name)
        shape = (in_channels, out_channels // groups) if transposed else \
            (out_channels, in_channels // groups)
        self.weight = Parameter(empty(*shape, *self.kernel_size, dtype=dtype, device=device))
        self.register_parameter(
            "bias", Parameter(empty(out_channels, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_ with a = sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._d:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._d:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._d:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def _mode_padding(self):
        """F.pad widths (last dim first) for reflect/replicate/circular padding."""
        if self.padding == "same":
            widths = same_padding(self.kernel_size, self.dilation)
        elif self.padding == "valid":
            widths = ((0, 0),) * self._d
        else:
            widths = tuple((p, p) for p in self.padding)
        return [w for lo_hi in reversed(widths) for w in lo_hi]

    def forward(self, input):
        padding = self.padding
        if self.padding_mode != "zeros":
            input = F.pad(input, self._mode_padding(), mode=self.padding_mode)
            padding = 0
        return self._conv(input, self.weight, self.bias, self.stride, padding, self.dilation,
                          self.groups)


class Conv1d(_Conv):
    """1-D convolution (cross-correlation) over (N, C_in, L).

    Args: as :class:`Conv2d`, with ints or 1-tuples.

    Shape: (N, C_in, L) -> (N, C_out, L_out), L_out = floor((L + 2p - d(k-1) - 1)/s) + 1.
    """

    _d = 1
    _conv = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution (cross-correlation) over (N, C_in, H, W), computed as one matrix
    product over im2col columns.

    Args:
        in_channels, out_channels: channels of input and output.
        kernel_size: int or (kh, kw).
        stride: int or pair (default 1).
        padding: int, pair, ``'valid'`` (0) or ``'same'`` (output size = input size;
            stride 1 only).
        dilation: spacing between kernel elements (default 1).
        groups: split channels into this many independent convolutions (2 as in AlexNet;
            ``groups=in_channels`` is depthwise).
        bias: learn an additive bias (default True).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shape: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = floor((H + 2p - d(k-1) - 1)/s) + 1.

    Parameters: ``weight (C_out, C_in/groups, kh, kw)`` from kaiming_uniform_(a=sqrt(5)),
    ``bias (C_out,)`` from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as in PyTorch.

    Example:
        >>> import ember
        >>> conv = ember.nn.Conv2d(3, 16, 3, padding=1)
        >>> conv(ember.randn(8, 3, 32, 32)).shape
        ember.Size([8, 16, 32, 32])
    """

    _d = 2
    _conv = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution (cross-correlation) over (N, C_in, D, H, W); arguments as Conv2d."""

    _d = 3
    _conv = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """``output_padding``, or the one that makes the output ``output_size``."""
        if output_size is None:
            return self.output_padding
        d = self._d
        size = tuple(output_size)[-d:]
        smallest = tuple((n - 1) * s - 2 * p + dl * (k - 1) + 1 for n, s, p, dl, k in zip(
            input.shape[-d:], self.stride, self.padding, self.dilation, self.kernel_size))
        if len(size) != d or any(not lo <= n < lo + s for n, lo, s in
                                 zip(size, smallest, self.stride)):
            raise ValueError(f"requested output_size {tuple(output_size)} "
                             f"is not between {smallest} and "
                             f"{tuple(lo + s - 1 for lo, s in zip(smallest, self.stride))}")
        return tuple(n - lo for n, lo in zip(size, smallest))

    def forward(self, input, output_size=None):
        return self._conv(input, self.weight, self.bias, self.stride, self.padding,
                          self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution; arguments as :class:`ConvTranspose2d`."""

    _d = 1
    _conv = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"): the gradient of Conv2d with respect to
    its input, used to upsample (U-Net, autoencoders).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, groups, bias, dilation:
            as :class:`Conv2d` (note PyTorch's order: output_padding, groups, bias, dilation).
        output_padding: extra size added to one side of the output (< stride or dilation),
            to pick among the input sizes a strided Conv2d maps to the same output size.

    Shape: (N, C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) s - 2p + d(k - 1) + output_padding + 1; ``forward(input, output_size)``
    may ask for a size instead of ``output_padding``.

    Parameters: ``weight (C_in, C_out/groups, kh, kw)``, ``bias (C_out,)``.

    Example:
        >>> import ember
        >>> up = ember.nn.ConvTranspose2d(16, 8, 2, stride=2)
        >>> up(ember.randn(1, 16, 7, 7)).shape
        ember.Size([1, 8, 14, 14])
    """

    _d = 2
    _conv = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; arguments as :class:`ConvTranspose2d`."""

    _d = 3
    _conv = staticmethod(F.conv_transpose3d)
