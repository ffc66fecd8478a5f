"""Padding layers over ``F.pad``: constant (and zero), reflection, replication and circular
padding of the last 1, 2 or 3 dims, with PyTorch's arguments and reprs.

``padding`` is an int (the same on every side) or a tuple ``(left, right)`` /
``(left, right, top, bottom)`` / ``(left, right, top, bottom, front, back)``, last dim
first; negative entries crop. The non-constant layers check the input as PyTorch does
(rank, and pads no larger than the padded dims), which ``F.pad`` itself does not.
"""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]


class _PadNd(Module):
    """Pads the last ``dims`` dims with F.pad's ``mode``."""

    mode = "constant"
    dims = 1

    def __init__(self, padding):
        super().__init__()
        n = 2 * self.dims
        if isinstance(padding, int):
            padding = (padding,) * n
        padding = tuple(int(p) for p in padding)
        if len(padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} "
                             f"ints, got {padding}")
        self.padding = padding

    def forward(self, input):
        self._check(input)
        return F.pad(input, self.padding, self.mode)

    def _check(self, input):
        """PyTorch's limits on the non-constant modes: an unbatched or batched input, and
        pads that fit into the padded dims."""
        d = self.dims
        if input.ndim not in (d + 1, d + 2):
            raise ValueError(f"expected a {d + 1}-D or {d + 2}-D input, got shape "
                             f"{tuple(input.shape)}")
        for i in range(d):
            size = input.shape[-1 - i]
            lo, hi = self.padding[2 * i], self.padding[2 * i + 1]
            if self.mode == "reflect" and max(lo, hi) >= size:
                raise ValueError(f"padding ({lo}, {hi}) must be smaller than the padded dim "
                                 f"{input.ndim - 1 - i} of the input (shape "
                                 f"{tuple(input.shape)})")
            if self.mode == "circular" and max(lo, hi) > size:
                raise ValueError(f"padding ({lo}, {hi}) wraps around dim {input.ndim - 1 - i} "
                                 f"of the input (shape {tuple(input.shape)}) more than once")

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``. Shape: ``(*, W)`` -> ``(*, W + left + right)``."""


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``. Shape: ``(*, H, W)`` -> padded."""

    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with ``value``. Shape: ``(*, D, H, W)`` -> padded."""

    dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros. Shape: ``(*, W)`` -> ``(*, W + left + right)``."""


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros. Shape: ``(*, H, W)`` -> padded."""

    dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros. Shape: ``(*, D, H, W)`` -> padded."""

    dims = 3


class ReflectionPad1d(_PadNd):
    """Pad the last dim with its reflection (the edge not repeated); pads < the dim's size.
    Shape: ``(C, W)`` or ``(N, C, W)`` -> padded."""

    mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Reflection padding of the last two dims. Shape: ``(C, H, W)`` or ``(N, C, H, W)``."""

    mode, dims = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Reflection padding of the last three dims. Shape: ``(C, D, H, W)`` or
    ``(N, C, D, H, W)``."""

    mode, dims = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge values. Shape: ``(C, W)`` or ``(N, C, W)``."""

    mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Replication padding of the last two dims. Shape: ``(C, H, W)`` or ``(N, C, H, W)``."""

    mode, dims = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Replication padding of the last three dims. Shape: ``(C, D, H, W)`` or
    ``(N, C, D, H, W)``."""

    mode, dims = "replicate", 3


class CircularPad1d(_PadNd):
    """Pad the last dim periodically (wrap around); pads <= the dim's size. Shape: ``(C, W)``
    or ``(N, C, W)``."""

    mode = "circular"


class CircularPad2d(_PadNd):
    """Circular padding of the last two dims. Shape: ``(C, H, W)`` or ``(N, C, H, W)``."""

    mode, dims = "circular", 2


class CircularPad3d(_PadNd):
    """Circular padding of the last three dims. Shape: ``(C, D, H, W)`` or
    ``(N, C, D, H, W)``."""

    mode, dims = "circular", 3
