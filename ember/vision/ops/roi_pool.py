"""RoIPool (Girshick 2015, "Fast R-CNN"): the max over each output bin of a region snapped to
the feature grid, as torchvision's ``roi_pool`` computes it (coordinates rounded half away from
zero; bin edges ``floor(i * bin)`` / ``ceil((i + 1) * bin)``; empty bins give 0).

One Function, vectorised over all bins with a 2-D sparse table (max and first position of
every 2^i x 2^j block of the map): a bin is the union of (at most) four blocks at its
corners, so each bin costs four gathers whatever its size; ties keep the first position per
channel (row-major, as the kernel's scan); the backward routes each gradient to that
position with one ``index_add``.
"""
from __future__ import annotations

import numpy as np

from ember.autograd import Function
from ember.backend import index_add, to_numpy
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


def _bins(x, rois, output_size, spatial_scale, xp):
    """Every bin of every region, flattened to (K * PH * PW,): its image, first row and column
    and its height and width on the feature map (<= 0 for an empty bin)."""
    _, _, h, w = x.shape
    ph, pw = output_size
    r = rois.astype(x.dtype)
    coords = _round_half_away(r[:, 1:] * x.dtype.type(spatial_scale), xp).astype(np.int64)
    x1, y1, x2, y2 = coords.T
    hs, he = _windows(y1, xp.maximum(y2 - y1 + 1, 1).astype(x.dtype), ph, h, xp)
    ws, we = _windows(x1, xp.maximum(x2 - x1 + 1, 1).astype(x.dtype), pw, w, xp)
    shape = (len(r), ph, pw)
    batch = xp.broadcast_to(r[:, 0].astype(np.int64)[:, None, None], shape)
    rows, cols = xp.broadcast_to(hs[:, :, None], shape), xp.broadcast_to(ws[:, None, :], shape)
    lh = xp.broadcast_to((he - hs)[:, :, None], shape)
    lw = xp.broadcast_to((we - ws)[:, None, :], shape)
    return [a.reshape(-1) for a in (batch, rows, cols, lh, lw)]


def _first_max(a, b, xp, nan, ordered=False):
    """The larger of two (value, position) pairs, the earlier position (row-major) on a tie,
    as the kernel's ``>`` scan keeps; with ``nan`` a NaN counts as the largest (as argmax).
    ``ordered``: a's maximum comes first on any tie (b's block starts rows lower, same
    columns), which saves comparing positions. No ``where``: on random masks it is 5-10x
    slower than ``maximum`` and a multiply."""
    (va, pa), (vb, pb) = a, b
    if nan:  # (only when the input holds a NaN: more passes)
        na, nb = xp.isnan(va), xp.isnan(vb)
        take, equal = (vb > va) | (nb & ~na), (vb == va) | (nb & na)
    else:
        take, equal = vb > va, None
    if not ordered:
        take |= (vb == va if equal is None else equal) & (pb < pa)
    step = pb - pa
    step *= take.view(np.uint8)
    step += pa
    return xp.maximum(va, vb), step


def _floor_log2(n, xp):
    """floor(log2 L) for L = 0..n (0 for L = 0): the sparse-table level of a window length."""
    return xp.asarray(np.array([max(i.bit_length() - 1, 0) for i in range(n + 1)], np.int64))


class RoIPoolFunction(Function):
    """roi_pool on raw arrays: ``forward(input, *, rois, output_size, spatial_scale)``.

    A 2-D sparse table: level (i, j) holds the max (and its first position) of every
    2^i x 2^j block of the (N, H, W, C) map, built by doubling; a bin of size h x w is the
    union of four (overlapping) blocks of level (floor log2 h, floor log2 w) at its corners,
    so each bin costs four gathers of C values, whatever its size. The backward adds each
    bin's gradient at its maximum's position (one ``index_add``).
    """

    def forward(self, x, *, rois, output_size, spatial_scale):
        xp = self.xp
        n, c, h, w = x.shape
        ph, pw = output_size
        bins = _bins(x, rois, output_size, spatial_scale, xp)
        lh, lw = bins[3], bins[4]
        keep = xp.flatnonzero((lh > 0) & (lw > 0))              # empty bins stay 0
        li = _floor_log2(h, xp)[xp.maximum(lh, 0)][keep]
        lj = _floor_log2(w, xp)[xp.maximum(lw, 0)][keep]
        size = n * c * h * w
        out = xp.zeros((len(lh), c), dtype=x.dtype)
        # positions are flat (N, C, H, W) indices (row-major within a channel, as the
        # kernel's); an empty bin's points one past the end, where its gradient is dropped
        pos = xp.full((len(lh), c), size, dtype=np.int32 if size < 2 ** 31 else np.int64)
        nan = bool(xp.isnan(x).any())
        # a bin exactly 2^i high (2^j wide) needs one block along that axis, not two
        split = (lh[keep] != 2 ** li).astype(np.int64) * 2 + (lw[keep] != 2 ** lj)
        for i, j, v, p in self._levels(x, li, lj, pos.dtype, nan):
            level = (li == i) & (lj == j)
            for rows, cols in [(False, False), (False, True), (True, False), (True, True)]:
                sel = keep[level & (split == 2 * rows + cols)]
                if len(sel):
                    out[sel], pos[sel] = self._query(v, p, [b[sel] for b in bins], i, j,
                                                     (rows, cols), nan)
        if self.needs_input_grad[0]:
            self.pos, self.shape = pos, x.shape
        return out.reshape(-1, ph, pw, c).transpose(0, 3, 1, 2)

    def _levels(self, x, li, lj, dtype, nan):
        """Yields (i, j, values, positions) of every level (i, j) some bin uses."""
        xp = self.xp
        n, c, h, w = x.shape
        used = np.unique(to_numpy(li * (w + 1) + lj)) if len(li) else np.zeros(0, np.int64)
        pairs = [divmod(int(u), w + 1) for u in used]
        v = xp.ascontiguousarray(x.transpose(0, 2, 3, 1))         # (N, H, W, C): C contiguous
        p = xp.ascontiguousarray(xp.arange(n * c * h * w, dtype=dtype).reshape(x.shape)
                                 .transpose(0, 2, 3, 1))  # each value's flat index
        top = 0
        for i in sorted({i for i, _ in pairs}):
            for level in range(top, i):  # double the rows: 2^level -> 2^(level + 1)
                s = 1 << level
                v, p = _first_max((v[:, :-s], p[:, :-s]), (v[:, s:], p[:, s:]), xp, nan, True)
            top = i
            for j, cv, cp in self._columns(v, p, [b for a, b in pairs if a == i], nan):
                yield i, j, cv, cp

    def _columns(self, v, p, js, nan):
        """(j, values, positions) of level (i, j) for each j in ``js`` (sorted), from (i, 0)."""
        for level in range(js[-1] + 1):
            if level in js:
                yield level, v, p
            if level < js[-1]:  # double the columns: 2^level -> 2^(level + 1)
                s = 1 << level
                v, p = _first_max((v[:, :, :-s], p[:, :, :-s]), (v[:, :, s:], p[:, :, s:]),
                                  self.xp, nan)

    def _query(self, v, p, bins, i, j, two, nan):
        """The max and its position over bins of level (i, j): the blocks at their corners
        (``two``: whether a bin needs two blocks along its rows, along its columns)."""
        xp = self.xp
        batch, y0, x0, lh, lw = bins
        _, hi, wj, c = v.shape
        ys = (y0, y0 + lh - (1 << i)) if two[0] else (y0,)
        xs = (x0, x0 + lw - (1 << j)) if two[1] else (x0,)
        v, p = v.reshape(-1, c), p.reshape(-1, c)
        found = []
        for xx in xs:  # each column block: its top and bottom blocks (same columns)
            rows = [(batch * hi + y) * wj + xx for y in ys]
            blocks = [(xp.take(v, r, axis=0), xp.take(p, r, axis=0)) for r in rows]
            found.append(blocks[0] if len(blocks) == 1 else
                         _first_max(blocks[0], blocks[1], xp, nan, True))
        return found[0] if len(found) == 1 else _first_max(found[0], found[1], xp, nan)

    def backward(self, gy):
        xp = self.xp
        size = int(np.prod(self.shape))
        gx = xp.zeros(size + 1, dtype=gy.dtype)  # (the last slot takes the empty bins')
        # a flat int64 index: add.at's fast path (4x the 2-D key's speed, 3-4x bincount's
        # on these repeated positions)
        index_add(gx, self.pos.reshape(-1).astype(np.int64), gy.transpose(0, 2, 3, 1).reshape(-1))
        return gx[:size].reshape(self.shape)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """Region of Interest Pooling (torchvision.ops.roi_pool): the max over each of the
    ``output_size`` bins of every region.

    Args:
        input: (N, C, H, W) features.
        boxes: (K, 5) Tensor ``(batch index, x1, y1, x2, y2)`` or a list of (L, 4) Tensors.
        output_size: (h, w) (an int for a square).
        spatial_scale: maps box coordinates to input coordinates.

    Returns (K, C, h, w); the gradient flows to ``input`` (to each bin's first maximum in
    row-major order, as torchvision's argmax). A NaN in a bin makes that bin NaN and takes
    its gradient (the first NaN), as ``max_pool2d``; torchvision's CPU kernel skips NaNs.
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
