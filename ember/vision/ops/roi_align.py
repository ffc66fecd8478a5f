"""RoIAlign (He et al. 2017, "Mask R-CNN"): average of bilinear samples on a regular grid
in each of the output bins of a region, as torchvision's ``roi_align`` computes it.

One Function, vectorised over regions: the bilinear weights are separable, so each region's
output is ``Wy^T (samples) Wx`` with the samples gathered at the sample rows and columns (the
gather of its two neighbours on each axis), and the backward scatters the gradient back with
one ``index_add``. Regions are grouped by their sampling grid (adaptive grids differ).
"""
from __future__ import annotations

import numpy as np

from ember.autograd import Function
from ember.backend import get_array_module, index_add, to_numpy
from ember.nn import Module
from ember.tensor import Tensor

__all__ = ["RoIAlign", "roi_align"]


def pair(v, who, name):
    if isinstance(v, int):
        v = (v, v)
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(i, (int, np.integer)) and i > 0 for i in v):
        raise ValueError(f"{who}: {name} must be a positive int or a pair, got {v}")
    return int(v[0]), int(v[1])


def roi_array(boxes, input, who):
    """The regions as a raw (K, 5) array ``(batch index, x1, y1, x2, y2)`` in the input's
    dtype, from a (K, 5) Tensor or a list of (L_i, 4) Tensors (one per image)."""
    xp = get_array_module(input.array)
    if isinstance(boxes, Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"{who}: boxes must be a Tensor of shape (K, 5) or a list of "
                             f"(L, 4) Tensors, got a Tensor of shape {tuple(boxes.shape)}")
        return boxes.detach().array.astype(input.dtype)
    if not isinstance(boxes, (list, tuple)) or not all(isinstance(b, Tensor) for b in boxes):
        raise TypeError(f"{who}: boxes must be a Tensor (K, 5) or a list of Tensors (L, 4), got "
                        f"{type(boxes).__name__}")
    parts = []
    for i, b in enumerate(boxes):
        if b.dim() != 2 or b.shape[1] != 4:
            raise ValueError(f"{who}: boxes[{i}] must have shape (L, 4), got {tuple(b.shape)}")
        a = b.detach().array.astype(input.dtype)
        parts.append(xp.concatenate([xp.full((a.shape[0], 1), i, dtype=a.dtype), a], 1))
    if not parts:
        return xp.zeros((0, 5), dtype=input.dtype)
    return xp.concatenate(parts, 0)


def check_input(input, rois, who):
    if not isinstance(input, Tensor) or input.dim() != 4:
        raise ValueError(f"{who}: input must be a (N, C, H, W) Tensor, got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if rois.shape[0]:
        b = rois[:, 0]
        if (b < 0).any() or (b >= input.shape[0]).any() or (b != b.round()).any():
            raise ValueError(f"{who}: box batch indices must be integers in [0, {input.shape[0]})"
                             f" for input {tuple(input.shape)}")


def _axis(start, bin_size, grid, pooled, size, xp):
    """Sample positions along one axis for K regions with the same grid: (indices (K, S),
    weights (K, S, pooled)) with S = pooled * grid * 2 (the low and the high neighbour)."""
    dtype = start.dtype
    p = xp.arange(pooled, dtype=dtype)[None, :, None]
    g = (xp.arange(grid, dtype=dtype) + 0.5)[None, None, :]
    pos = start[:, None, None] + p * bin_size[:, None, None] + g * bin_size[:, None, None] / grid
    valid = (pos >= -1.0) & (pos <= size)
    pos = xp.maximum(pos, 0)
    low = xp.floor(pos).astype(np.int64)
    top = low >= size - 1
    low = xp.where(top, size - 1, low)
    high = xp.where(top, size - 1, low + 1)
    pos = xp.where(top, low.astype(dtype), pos)
    frac = pos - low
    w = xp.stack([1 - frac, frac], -1) * valid[..., None]      # (K, pooled, grid, 2)
    idx = xp.stack([low, high], -1)
    eye = xp.eye(pooled, dtype=dtype)[None, :, None, None, :]
    weights = (w[..., None] * eye).reshape(len(start), -1, pooled)
    return idx.reshape(len(start), -1), weights


class RoIAlignFunction(Function):
    """roi_align on raw arrays: ``forward(input, *, rois, ...)``; the gradient flows to the
    input only (regions are constants, as in torchvision)."""

    def forward(self, x, *, rois, output_size, spatial_scale, sampling_ratio, aligned):
        xp = self.xp
        _, c, h, w = x.shape
        ph, pw = output_size
        dtype = x.dtype
        offset = dtype.type(0.5 if aligned else 0.0)
        scale = dtype.type(spatial_scale)
        r = rois.astype(dtype)
        start_w, start_h = r[:, 1] * scale - offset, r[:, 2] * scale - offset
        roi_w, roi_h = r[:, 3] * scale - offset - start_w, r[:, 4] * scale - offset - start_h
        if not aligned:
            roi_w, roi_h = xp.maximum(roi_w, 1), xp.maximum(roi_h, 1)
        bin_h, bin_w = roi_h / dtype.type(ph), roi_w / dtype.type(pw)
        if sampling_ratio > 0:
            grid_h = grid_w = np.full(len(r), sampling_ratio, dtype=np.int64)
        else:  # (on the host: the grids group the regions)
            grid_h = np.ceil(to_numpy(roi_h / dtype.type(ph))).astype(np.int64)
            grid_w = np.ceil(to_numpy(roi_w / dtype.type(pw))).astype(np.int64)
        batch = r[:, 0].astype(np.int64)
        xt = xp.ascontiguousarray(x.transpose(0, 2, 3, 1))      # (N, H, W, C)
        out = xp.zeros((len(r), c, ph, pw), dtype=dtype)
        self.groups = []
        for gh, gw in sorted(set(zip(grid_h.tolist(), grid_w.tolist()))):
            if gh <= 0 or gw <= 0:
                continue  # an empty sampling grid: the output stays 0
            ks = xp.asarray(np.flatnonzero((grid_h == gh) & (grid_w == gw)))
            ys, wy = _axis(start_h[ks], bin_h[ks], gh, ph, h, xp)
            xs, wx = _axis(start_w[ks], bin_w[ks], gw, pw, w, xp)
            wy = wy / dtype.type(gh * gw)
            key = (batch[ks][:, None, None], ys[:, :, None], xs[:, None, :])
            samples = xt[key]                                    # (k, Sy, Sx, C)
            out[ks] = xp.einsum("kyxc,kyp,kxq->kcpq", samples, wy, wx, optimize=True)
            self.groups.append((ks, key, wy, wx))
        self.shape = xt.shape
        return out

    def backward(self, gy):
        xp = self.xp
        gxt = xp.zeros(self.shape, dtype=gy.dtype)
        for ks, key, wy, wx in self.groups:
            index_add(gxt, key, xp.einsum("kcpq,kyp,kxq->kyxc", gy[ks], wy, wx, optimize=True))
        return gxt.transpose(0, 3, 1, 2)


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """Region of Interest Align (torchvision.ops.roi_align).

    Args:
        input: (N, C, H, W) features.
        boxes: (K, 5) Tensor ``(batch index, x1, y1, x2, y2)`` or a list of (L, 4) Tensors,
            one per image, in input-image coordinates.
        output_size: (h, w) of each output (an int for a square).
        spatial_scale: maps box coordinates to input coordinates (1/stride of the features).
        sampling_ratio: sample points per bin along each axis; <= 0 uses
            ``ceil(roi size / output size)`` per region (adaptive).
        aligned: shift the box by -0.5 pixel so that pixel centres line up (Detectron2's
            correct alignment); False is the original (legacy) RoIAlign, where regions
            are at least 1x1.

    Returns (K, C, h, w); the gradient flows to ``input``.
    """
    rois = roi_array(boxes, input, "roi_align")
    check_input(input, rois, "roi_align")
    output_size = pair(output_size, "roi_align", "output_size")
    return RoIAlignFunction.apply(input, rois=rois, output_size=output_size,
                                  spatial_scale=float(spatial_scale),
                                  sampling_ratio=int(sampling_ratio), aligned=bool(aligned))


class RoIAlign(Module):
    """:func:`roi_align` as a layer (torchvision.ops.RoIAlign)."""

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def __repr__(self):
        return (f"{type(self).__name__}(output_size={self.output_size}, spatial_scale="
                f"{self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned})")
