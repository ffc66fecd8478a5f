"""Spatial transformers (Jaderberg et al., 2015): ``affine_grid`` maps an output grid through
an affine matrix, ``grid_sample`` reads the input at those points. Both are composed from
differentiable ops, so gradients reach the input, the grid and the affine matrix.

Grid coordinates are normalised: -1 and 1 are the centres of the corner pixels with
``align_corners=True``, their outer edges with ``align_corners=False`` (PyTorch's default).
"""
from __future__ import annotations

from ember.ops.creation import linspace, ones
from ember.ops.elementwise import where
from ember.ops.shape import stack

__all__ = ["affine_grid", "grid_sample"]


def _base(n, align_corners, like):
    """The n normalised coordinates of pixel centres along one axis."""
    if align_corners:
        return linspace(-1, 1, n, dtype=like.dtype, device=like.device)
    step = 2.0 / n
    return linspace(-1 + step / 2, 1 - step / 2, n, dtype=like.dtype, device=like.device)


def affine_grid(theta, size, align_corners=False):
    """Sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of ``theta`` (N, 2, 3) (or (N, 3, 4))
    applied to the normalised coordinates of an output of ``size`` (N, C, H, W) (or 5-D).
    """
    size = tuple(size)
    d = len(size) - 2
    if d not in (2, 3) or tuple(theta.shape) != (size[0], d, d + 1):
        raise ValueError(f"affine_grid: expected theta of shape (N, {d}, {d + 1}) for size "
                         f"{size} (N, C, *spatial with 2 or 3 dims), got {tuple(theta.shape)}")
    axes = [_base(n, align_corners, theta) for n in reversed(size[2:])]  # x, y(, z)
    mesh = [a.reshape(*(1,) * (d - 1 - i), -1, *(1,) * i).expand(*size[2:])
            for i, a in enumerate(axes)]
    base = stack([*mesh, ones(*size[2:], dtype=theta.dtype, device=theta.device)], -1)
    grid = base.reshape(1, -1, d + 1) @ theta.transpose(1, 2)  # (N, prod(spatial), d)
    return grid.reshape(size[0], *size[2:], d)


def _unnormalize(g, n, align_corners):
    return (g + 1) / 2 * (n - 1) if align_corners else ((g + 1) * n - 1) / 2


def _reflect(x, low, high):
    """PyTorch's reflect_coordinates: fold ``x`` into [low, high] (given doubled)."""
    if low == high:
        return x * 0
    lo, span = low / 2, (high - low) / 2
    x = (x - lo).abs()
    flips = (x / span).floor()
    extra = x - flips * span
    return where((flips % 2).array == 0, extra + lo, span - extra + lo)


def _source(g, n, padding_mode, align_corners):
    """Pixel coordinates to read for normalised coordinates ``g`` along an axis of size n."""
    x = _unnormalize(g, n, align_corners)
    if padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (n - 1)) if align_corners else _reflect(x, -1, 2 * n - 1)
    if padding_mode != "zeros":
        x = x.clamp(0, n - 1)
    return x


def _read(flat, iy, ix, h, w):
    """``flat`` (N, C, H*W) at integer pixels (iy, ix) of shape (N, P); zero outside."""
    inside = ((iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)).array
    index = (iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)).long()
    values = flat.gather(2, index.unsqueeze(1).expand(-1, flat.shape[1], -1))
    return values * inside[:, None, :].astype(flat.dtype)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Sample (N, C, H, W) at ``grid`` (N, Ho, Wo, 2) of normalised (x, y) points:
    (N, C, Ho, Wo). ``mode`` 'bilinear' or 'nearest'; ``padding_mode`` 'zeros', 'border'
    or 'reflection', as PyTorch. (4-D inputs; 5-D and 'bicubic' are not built.)"""
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"grid_sample: mode must be 'bilinear' or 'nearest' (ember has no "
                         f"'bicubic'), got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or "
                         f"'reflection', got {padding_mode!r}")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or \
            grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) "
                         f"(5-D inputs are not built), got {tuple(input.shape)} and "
                         f"{tuple(grid.shape)}")
    n, c, h, w = input.shape
    out = grid.shape[1:3]
    flat, g = input.reshape(n, c, h * w), grid.reshape(n, -1, 2)
    x = _source(g[..., 0], w, padding_mode, align_corners)
    y = _source(g[..., 1], h, padding_mode, align_corners)
    if mode == "nearest":
        values = _read(flat, y.round(), x.round(), h, w)
    else:
        x0, y0 = x.floor(), y.floor()
        wx, wy = x - x0, y - y0
        values = (_read(flat, y0, x0, h, w) * ((1 - wx) * (1 - wy)).unsqueeze(1)
                  + _read(flat, y0, x0 + 1, h, w) * (wx * (1 - wy)).unsqueeze(1)
                  + _read(flat, y0 + 1, x0, h, w) * ((1 - wx) * wy).unsqueeze(1)
                  + _read(flat, y0 + 1, x0 + 1, h, w) * (wx * wy).unsqueeze(1))
    return values.reshape(n, c, *out)
