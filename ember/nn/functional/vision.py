"""Spatial transformers (Jaderberg et al., 2015): ``affine_grid`` maps an output grid through
an affine matrix, ``grid_sample`` reads the input at those points. Both are composed from
differentiable ops, so gradients reach the input, the grid and the affine matrix.

Grid coordinates are normalised: -1 and 1 are the centres of the corner pixels with
``align_corners=True``, their outer edges with ``align_corners=False`` (PyTorch's default).
"""
from __future__ import annotations

import itertools

from ember.nn.functional.upsampling import cubic_weights
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


def _read(flat, coords, sizes):
    """``flat`` (N, C, prod(sizes)) at the integer points ``coords`` (one (N, P) tensor per
    spatial axis, outermost first): (N, C, P), zero outside the input."""
    inside, index = None, None
    for k, n in zip(coords, sizes):
        ok = ((k >= 0) & (k < n)).array
        inside = ok if inside is None else inside & ok
        k = k.clamp(0, n - 1)
        index = k if index is None else index * n + k
    values = flat.gather(2, index.long().unsqueeze(1).expand(-1, flat.shape[1], -1))
    return values * inside[:, None, :].astype(flat.dtype)


def _linear(flat, points, sizes):
    """(Bi/tri)linear interpolation: the 2**d corners, each weighted by its distances."""
    lows = [p.floor() for p in points]
    fracs = [p - lo for p, lo in zip(points, lows)]
    total = None
    for corner in itertools.product((0, 1), repeat=len(points)):
        weight = None
        for c, f in zip(corner, fracs):
            w = f if c else 1 - f
            weight = w if weight is None else weight * w
        term = _read(flat, [lo + c for lo, c in zip(lows, corner)], sizes) * weight.unsqueeze(1)
        total = term if total is None else total + term
    return total


def _bicubic(flat, g, sizes, padding_mode, align_corners):
    """4 x 4 taps around the unnormalised point, each tap's coordinate padded on its own
    (PyTorch's get_value_bounded)."""
    (h, w), total = sizes, None
    x = _unnormalize(g[..., 0], w, align_corners)
    y = _unnormalize(g[..., 1], h, align_corners)
    x0, y0 = x.floor(), y.floor()
    wx, wy = cubic_weights(x - x0), cubic_weights(y - y0)
    for i in range(4):
        row = None
        for j in range(4):
            ty = _tap(y0 + (i - 1), h, padding_mode, align_corners)
            tx = _tap(x0 + (j - 1), w, padding_mode, align_corners)
            term = _read(flat, [ty, tx], sizes) * wx[j].unsqueeze(1)
            row = term if row is None else row + term
        term = row * wy[i].unsqueeze(1)
        total = term if total is None else total + term
    return total


def _tap(k, n, padding_mode, align_corners):
    """An integer tap coordinate under the padding mode (reflected or clamped); zeros mode
    leaves it, and ``_read`` reads 0 outside."""
    if padding_mode == "reflection":
        k = _reflect(k, 0, 2 * (n - 1)) if align_corners else _reflect(k, -1, 2 * n - 1)
    return k if padding_mode == "zeros" else k.clamp(0, n - 1)


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Sample (N, C, H, W) at ``grid`` (N, Ho, Wo, 2) of normalised (x, y) points, or
    (N, C, D, H, W) at (N, Do, Ho, Wo, 3) points (x, y, z): (N, C, *grid spatial).
    ``mode`` 'bilinear' (trilinear in 3-D), 'nearest' or 'bicubic' (4-D only);
    ``padding_mode`` 'zeros', 'border' or 'reflection'; as PyTorch."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"grid_sample: mode must be 'bilinear', 'nearest' or 'bicubic', got "
                         f"{mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"grid_sample: padding_mode must be 'zeros', 'border' or "
                         f"'reflection', got {padding_mode!r}")
    d = input.ndim - 2
    if d not in (2, 3) or grid.ndim != d + 2 or grid.shape[-1] != d or \
            grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input (N, C, H, W) with grid (N, Ho, Wo, 2), "
                         f"or input (N, C, D, H, W) with grid (N, Do, Ho, Wo, 3), got "
                         f"{tuple(input.shape)} and {tuple(grid.shape)}")
    if mode == "bicubic" and d == 3:
        raise ValueError("grid_sample: mode 'bicubic' needs a 4-D input, as in PyTorch")
    n, c, sizes = input.shape[0], input.shape[1], tuple(input.shape[2:])
    flat, g = input.reshape(n, c, -1), grid.reshape(n, -1, d)
    if mode == "bicubic":
        values = _bicubic(flat, g, sizes, padding_mode, align_corners)
    else:  # grid's last axis is (x, y[, z]): innermost input axis first
        points = [_source(g[..., d - 1 - a], sizes[a], padding_mode, align_corners)
                  for a in range(d)]
        values = _read(flat, [p.round() for p in points], sizes) if mode == "nearest" else \
            _linear(flat, points, sizes)
    return values.reshape(n, c, *grid.shape[1:-1])
