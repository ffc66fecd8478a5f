"""Upsampling layers: Upsample and its fixed-mode spellings, over ``F.interpolate``."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize (N, C, *S) to ``size`` or by ``scale_factor`` (as ``F.interpolate``).

    Args:
        size: output spatial size (int or tuple); or
        scale_factor: multiplier of the input size (float or tuple); the output size is
            floor(S * scale_factor).
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'`` (3-D input),
            ``'bilinear'`` (4-D) or ``'trilinear'`` (5-D).
        align_corners: for the linear modes, map the corner pixels' centres onto each other
            (True) or their edges (False, the default).
        recompute_scale_factor: compute the interpolation scale from the output size
            instead of using ``scale_factor`` itself.

    Example:
        >>> import ember
        >>> ember.nn.Upsample(scale_factor=2)(ember.randn(1, 3, 4, 4)).shape
        ember.Size([1, 3, 8, 8])
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else (tuple(float(s) for s in scale_factor) if scale_factor else None)
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                           recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else \
            f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) (``Upsample(mode='nearest')``)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with ``align_corners=True`` (as PyTorch's)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
