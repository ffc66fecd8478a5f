"""Pixel shuffle (Shi et al., 2016) and channel shuffle (Zhang et al., 2018): moves of
elements between the channel and spatial dims, each one reshape, one permute and one
reshape, so autograd routes the gradient back by the inverse permutation."""
from __future__ import annotations

from ember.ops.shape import permute, reshape

__all__ = ["channel_shuffle", "pixel_shuffle", "pixel_unshuffle"]


def _check(name, input, factor, what):
    if input.ndim < 3:
        raise ValueError(f"{name}: expected an input with at least 3 dimensions (*, C, H, W), "
                         f"got shape {tuple(input.shape)}")
    if not isinstance(factor, int) or factor <= 0:
        raise ValueError(f"{name}: expected a positive integer {what}, got {factor!r}")


def pixel_shuffle(input, upscale_factor):
    """Rearrange ``(*, C * r^2, H, W)`` into ``(*, C, H * r, W * r)``, r = upscale_factor:
    output pixel ``(c, h * r + i, w * r + j)`` is input ``(c * r^2 + i * r + j, h, w)``."""
    r = upscale_factor
    _check("pixel_shuffle", input, r, "upscale_factor")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the channel dim of the input (shape "
                         f"{tuple(input.shape)}) has size {c}, which is not divisible by "
                         f"upscale_factor ** 2 = {r * r}")
    n = len(batch)
    x = reshape(input, (*batch, c // (r * r), r, r, h, w))
    x = permute(x, (*range(n), n, n + 3, n + 1, n + 4, n + 2))  # (.., C, H, r, W, r)
    return reshape(x, (*batch, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """The inverse of ``pixel_shuffle``: ``(*, C, H * r, W * r)`` -> ``(*, C * r^2, H, W)``,
    r = downscale_factor."""
    r = downscale_factor
    _check("pixel_unshuffle", input, r, "downscale_factor")
    *batch, c, h, w = input.shape
    for size, what in ((h, "height"), (w, "width")):
        if size % r:
            raise ValueError(f"pixel_unshuffle: the {what} of the input (shape "
                             f"{tuple(input.shape)}) is {size}, which is not divisible by "
                             f"downscale_factor={r}")
    n = len(batch)
    x = reshape(input, (*batch, c, h // r, r, w // r, r))
    x = permute(x, (*range(n), n, n + 2, n + 4, n + 1, n + 3))  # (.., C, r, r, H, W)
    return reshape(x, (*batch, c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """Interleave the channels (dim 1) of ``(N, C, *)`` across ``groups``: view them as
    ``(groups, C / groups)``, transpose, flatten. Shape: any ``(N, C, *)`` -> same."""
    if input.ndim < 3:
        raise ValueError(f"channel_shuffle: expected an input with more than 2 dimensions "
                         f"(N, C, *), got shape {tuple(input.shape)}")
    if not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"channel_shuffle: the number of groups must be a positive integer, "
                         f"got {groups!r}")
    n, c, *rest = input.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: the number of channels ({c}, input shape "
                         f"{tuple(input.shape)}) must be divisible by groups={groups}")
    x = reshape(input, (n, groups, c // groups, *rest))
    x = permute(x, (0, 2, 1, *range(3, x.ndim)))
    return reshape(x, tuple(input.shape))
