"""Pooling layers: max, min, average, adaptive, global average and max-unpooling, with
PyTorch's arguments (``stride`` defaults to ``kernel_size``) over ``ember.nn.functional``."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.functional.utils import ntuple
from ember.nn.modules.module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "MinPool2d", "AvgPool1d", "AvgPool2d",
           "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "GlobalAvgPool2d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "LPPool3d",
           "FractionalMaxPool2d", "FractionalMaxPool3d"]


class _Pool(Module):
    _d = 2


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return self._pool(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L); arguments as :class:`MaxPool2d`."""

    _d = 1
    _pool = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W).

    Args:
        kernel_size: window size, int or pair.
        stride: window step (default ``kernel_size``).
        padding: implicit -inf padding on both sides (at most half the kernel).
        dilation: spacing between window elements.
        return_indices: also return each maximum's flat index in its H*W plane (for
            :class:`MaxUnpool2d`).
        ceil_mode: round the output size up (a last, partial window).

    Shape: (N, C, H, W) -> (N, C, H_out, W_out),
    H_out = floor((H + 2p - d(k-1) - 1)/s) + 1 (ceil with ``ceil_mode``).

    Example:
        >>> import ember
        >>> ember.nn.MaxPool2d(2)(ember.randn(1, 3, 8, 8)).shape
        ember.Size([1, 3, 4, 4])
    """

    _d = 2
    _pool = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max over sliding windows of (N, C, D, H, W); arguments as :class:`MaxPool2d`."""

    _d = 3
    _pool = staticmethod(F.max_pool3d)


class MinPool2d(_MaxPoolNd):
    """Min over sliding windows (not in PyTorch): ``-MaxPool2d(-x)``, same arguments; with
    ``return_indices`` the indices are those of the minima."""

    def forward(self, input):
        return F.min_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class _AvgPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return self._pool(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad,
                          *(() if self._d == 1 else (self.divisor_override,)))

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, L); arguments as :class:`AvgPool2d` (no
    ``divisor_override``)."""

    _d = 1
    _pool = staticmethod(F.avg_pool1d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        # PyTorch keeps these as 1-tuples here (and prints them so)
        super().__init__(ntuple(kernel_size, 1, "kernel_size", "AvgPool1d"),
                         ntuple(stride if stride is not None else kernel_size, 1, "stride",
                                 "AvgPool1d"),
                         ntuple(padding, 1, "padding", "AvgPool1d"), ceil_mode,
                         count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, H, W).

    Args:
        kernel_size, stride, padding, ceil_mode: as :class:`MaxPool2d` (zero padding).
        count_include_pad: count padded zeros in the divisor (default True).
        divisor_override: divide every window sum by this number instead.

    Shape: (N, C, H, W) -> (N, C, H_out, W_out) as for :class:`MaxPool2d`.
    """

    _d = 2
    _pool = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """Mean over sliding windows of (N, C, D, H, W); arguments as :class:`AvgPool2d`."""

    _d = 3
    _pool = staticmethod(F.avg_pool3d)


class _AdaptivePool(_Pool):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average (N, C, L) to (N, C, output_size) over PyTorch's adaptive windows."""

    _d = 1
    _pool = staticmethod(F.adaptive_avg_pool1d)

    def forward(self, input):
        return self._pool(input, self.output_size)


class AdaptiveAvgPool2d(AdaptiveAvgPool1d):
    """Average (N, C, H, W) to (N, C, *output_size): window i spans
    [floor(i*H/H_out), ceil((i+1)*H/H_out)). ``AdaptiveAvgPool2d(1)`` is global average
    pooling; ``None`` in ``output_size`` keeps that dimension.

    Example:
        >>> import ember
        >>> ember.nn.AdaptiveAvgPool2d((1, 1))(ember.randn(2, 8, 7, 7)).shape
        ember.Size([2, 8, 1, 1])
    """

    _d = 2
    _pool = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(AdaptiveAvgPool1d):
    """Average (N, C, D, H, W) to (N, C, *output_size) over adaptive windows."""

    _d = 3
    _pool = staticmethod(F.adaptive_avg_pool3d)


class AdaptiveMaxPool1d(_AdaptivePool):
    """Max of (N, C, L) over adaptive windows to length ``output_size``."""

    _d = 1
    _pool = staticmethod(F.adaptive_max_pool1d)

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return self._pool(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """Max of (N, C, H, W) over adaptive windows to (N, C, *output_size); with
    ``return_indices`` also the flat argmax indices."""

    _d = 2
    _pool = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(AdaptiveMaxPool1d):
    """Max of (N, C, D, H, W) over adaptive windows to (N, C, *output_size)."""

    _d = 3
    _pool = staticmethod(F.adaptive_max_pool3d)


class GlobalAvgPool2d(_Pool):
    """Global average pooling (not in PyTorch): the mean over H and W, (N, C, H, W) ->
    (N, C), or (N, C, 1, 1) with ``keepdim=True`` (then it is ``AdaptiveAvgPool2d(1)``).

    Example:
        >>> import ember
        >>> ember.nn.GlobalAvgPool2d()(ember.randn(2, 8, 7, 7)).shape
        ember.Size([2, 8])
    """

    def __init__(self, keepdim=False):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"expected a 4-D input (N, C, H, W) or an unbatched 3-D input "
                             f"(C, H, W), got shape {tuple(input.shape)}")
        return input.mean(dim=(-2, -1), keepdim=self.keepdim)

    def extra_repr(self):
        return f"keepdim={self.keepdim}"


class _MaxUnpoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        d, name = self._d, type(self).__name__  # PyTorch keeps these as d-tuples here
        self.kernel_size = ntuple(kernel_size, d, "kernel_size", name)
        self.stride = ntuple(stride if stride is not None else kernel_size, d, "stride", name)
        self.padding = ntuple(padding, d, "padding", name)

    def forward(self, input, indices, output_size=None):
        return self._pool(input, indices, self.kernel_size, self.stride, self.padding,
                          output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool1d`; arguments as :class:`MaxUnpool2d`."""

    _d = 1
    _pool = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool2d`: each value goes back to the position its
    index records, zeros elsewhere. ``forward(input, indices, output_size=None)``; the
    default size is (H - 1) * stride - 2 * padding + kernel_size."""

    _d = 2
    _pool = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of :class:`MaxPool3d`."""

    _d = 3
    _pool = staticmethod(F.max_unpool3d)


class _LPPoolNd(_Pool):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return self._pool(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L): ``(sum over the window of x**p) ** (1/p)``.
    Args: norm_type (p), kernel_size, stride (default kernel_size), ceil_mode."""

    _d = 1
    _pool = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W); arguments as :class:`LPPool1d`."""

    _d = 2
    _pool = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W); arguments as :class:`LPPool1d`."""

    _d = 3
    _pool = staticmethod(F.lp_pool3d)


class _FractionalMaxPoolNd(_Pool):
    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):
        super().__init__()
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{type(self).__name__} requires specifying either an output "
                             "size, or a pooling ratio")
        ratios = () if output_ratio is None else (
            (output_ratio,) if isinstance(output_ratio, (int, float)) else tuple(output_ratio))
        if any(not 0 < r < 1 for r in ratios):
            raise ValueError(f"{type(self).__name__}: output_ratio must be between 0 and 1, "
                             f"got {output_ratio}")
        self.kernel_size, self.output_size, self.output_ratio = (kernel_size, output_size,
                                                                 output_ratio)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, input):
        return self._pool(input, self.kernel_size, self.output_size, self.output_ratio,
                          self.return_indices, self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Max over pseudo-random overlapping windows that shrink (N, C, H, W) by a fractional
    factor (Graham, 2014): ``output_size`` or ``output_ratio`` in (0, 1); new window
    placements every call (from ember's seeded generator) unless ``_random_samples`` fix
    them. Args: kernel_size, output_size, output_ratio, return_indices."""

    _d = 2
    _pool = staticmethod(F.fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """3-D fractional max pooling of (N, C, D, H, W); arguments as
    :class:`FractionalMaxPool2d`."""

    _d = 3
    _pool = staticmethod(F.fractional_max_pool3d)
