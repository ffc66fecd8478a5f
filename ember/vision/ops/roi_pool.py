"""RoIPool (Girshick 2015, "Fast R-CNN"): the max over each output bin of a region snapped to
the feature grid, as torchvision's ``roi_pool`` computes it (coordinates rounded half away from
zero; bin edges ``floor(i * bin)`` / ``ceil((i + 1) * bin)``; empty bins give 0).

One Function, vectorised and separable: the max of each of the region's rows over every
column window first, then the max of those over every row window (windows padded to the
largest, padding at -inf), keeping the first position per channel (row-major, as the
kernel's scan); the backward routes each gradient to that position with one ``index_add``.
"""
from __future__ import annotations

import numpy as np

from ember.autograd import Function
from ember.backend import index_add
from ember.nn import Module
from ember.vision.ops.roi_align import check_input, pair, roi_array

__all__ = ["RoIPool", "roi_pool"]


def _round_half_away(v, xp):
    return xp.sign(v) * xp.floor(xp.abs(v) + 0.5)


def _windows(start, size, pooled, limit, xp):
    """Window starts and ends of each bin along one axis: (K, pooled) ints each."""
    dtype = size.dtype
    bin_size = size / dtype.type(pooled)
    i = xp.arange(pooled, dtype=dtype)[None, :]
    lo = xp.floor(i * bin_size[:, None]).astype(np.int64) + start[:, None]
    hi = xp.ceil((i + 1) * bin_size[:, None]).astype(np.int64) + start[:, None]
    return xp.clip(lo, 0, limit), xp.clip(hi, 0, limit)


class RoIPoolFunction(Function):
    """roi_pool on raw arrays: ``forward(input, *, rois, output_size, spatial_scale)``."""

    def forward(self, x, *, rois, output_size, spatial_scale):
        xp = self.xp
        _, c, h, w = x.shape
        ph, pw = output_size
        k = rois.shape[0]
        r = rois.astype(x.dtype)
        coords = _round_half_away(r[:, 1:] * x.dtype.type(spatial_scale), xp).astype(np.int64)
        x1, y1, x2, y2 = coords.T
        roi_w = xp.maximum(x2 - x1 + 1, 1).astype(x.dtype)
        roi_h = xp.maximum(y2 - y1 + 1, 1).astype(x.dtype)
        hs, he = _windows(y1, roi_h, ph, h, xp)
        ws, we = _windows(x1, roi_w, pw, w, xp)
        mh = max(int((he - hs).max()) if k else 0, 1)
        mw = max(int((we - ws).max()) if k else 0, 1)
        top = hs[:, 0] if k else xp.zeros(0, dtype=np.int64)
        span = max(int((he[:, -1] - top).max()) if k else 0, 1)  # rows the region covers
        batch = r[:, 0].astype(np.int64)
        xt = x.transpose(0, 2, 3, 1)                               # (N, H, W, C)
        # 1. the max of every row of the region over each column window, and where it is
        rows = xp.minimum(top[:, None] + xp.arange(span), h - 1)  # (K, span)
        cols = ws[..., None] + xp.arange(mw)                      # (K, PW, mw)
        col_ok = cols < we[..., None]
        cols = xp.minimum(cols, w - 1)
        v = xt[batch[:, None, None, None], rows[:, :, None, None], cols[:, None]]
        v = xp.where(col_ok[:, None, :, :, None], v, -xp.inf)     # (K, span, PW, mw, C)
        col_arg = v.argmax(3)                                      # first max in the row
        row_max = xp.take_along_axis(v, col_arg[:, :, :, None], 3)[:, :, :, 0]
        # 2. the max over each row window of those, and where: the first maximum in
        # row-major order, as torchvision's scan finds it
        local = (hs - top[:, None])[..., None] + xp.arange(mh)    # (K, PH, mh)
        row_ok = local + top[:, None, None] < he[..., None]
        local = xp.minimum(local, span - 1)
        kk = xp.arange(k)[:, None, None]
        win = row_max[kk, local]                                   # (K, PH, mh, PW, C)
        win = xp.where(row_ok[..., None, None], win, -xp.inf)
        row_arg = win.argmax(2)                                    # (K, PH, PW, C)
        out = xp.take_along_axis(win, row_arg[:, :, None], 2)[:, :, 0]
        empty = ~(row_ok.any(2)[:, :, None] & col_ok.any(2)[:, None, :])  # (K, PH, PW)
        out = xp.where(empty[..., None], 0, out).astype(x.dtype)
        if self.needs_input_grad[0]:
            k4 = xp.arange(k)[:, None, None, None]
            r_local = local[k4, xp.arange(ph)[None, :, None, None], row_arg]  # (K, PH, PW, C)
            q4 = xp.arange(pw)[None, None, :, None]
            c_arg = col_arg[k4, r_local, q4, xp.arange(c)]
            self.key = (batch[:, None, None, None] + 0 * row_arg, rows[k4, r_local],
                        cols[k4, q4, c_arg], xp.arange(c) + 0 * row_arg)
            self.keep, self.shape = ~empty[..., None], xt.shape
        return out.transpose(0, 3, 1, 2)

    def backward(self, gy):
        xp = self.xp
        gxt = xp.zeros(self.shape, dtype=gy.dtype)
        g = gy.transpose(0, 2, 3, 1) * self.keep
        index_add(gxt, self.key, g)
        return gxt.transpose(0, 3, 1, 2)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """Region of Interest Pooling (torchvision.ops.roi_pool): the max over each of the
    ``output_size`` bins of every region.

    Args:
        input: (N, C, H, W) features.
        boxes: (K, 5) Tensor ``(batch index, x1, y1, x2, y2)`` or a list of (L, 4) Tensors.
        output_size: (h, w) (an int for a square).
        spatial_scale: maps box coordinates to input coordinates.

    Returns (K, C, h, w); the gradient flows to ``input`` (to each bin's first maximum).
    """
    rois = roi_array(boxes, input, "roi_pool")
    check_input(input, rois, "roi_pool")
    output_size = pair(output_size, "roi_pool", "output_size")
    return RoIPoolFunction.apply(input, rois=rois, output_size=output_size,
                                 spatial_scale=float(spatial_scale))


class RoIPool(Module):
    """:func:`roi_pool` as a layer (torchvision.ops.RoIPool)."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self):
        return (f"{type(self).__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale})")
