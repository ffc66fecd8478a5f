"""RoIAlign (He et al. 2017, "Mask R-CNN"): average of bilinear samples on a regular grid
in each of the output bins of a region, as torchvision's ``roi_align`` computes it.

One Function, vectorised over regions: the bilinear weights are separable, so each region's
output is ``Ay @ x[b] @ Ax^T`` with its (PH, H) and (PW, W) interpolation matrices, built by
``index_add`` of each sample's weights on its two neighbours per axis (regions grouped by
their adaptive sampling grid); the products run as one GEMM per image and one batched
product, and the backward is the same products transposed.
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


def _interpolation(start, bin_size, grid, pooled, size, xp):
    """The (K, pooled, size) matrices of K regions with the same sampling grid along one axis:
    row p holds the bilinear weights of bin p's ``grid`` samples on the pixels (each sample's
    low and high neighbour), divided by ``grid``; samples outside [-1, size] weigh 0."""
    dtype = start.dtype
    k = len(start)
    p = xp.arange(pooled, dtype=dtype)[None, :, None]
    g = (xp.arange(grid, dtype=dtype) + 0.5)[None, None, :]
    pos = start[:, None, None] + p * bin_size[:, None, None] + g * bin_size[:, None, None] / grid
    valid = (pos >= -1.0) & (pos <= size)
    pos = xp.maximum(pos, 0)
    low = xp.floor(pos).astype(np.int64)
    top = low >= size - 1
    low = xp.where(top, size - 1, low)
    high = xp.where(top, size - 1, low + 1)
    frac = xp.where(top, 0, pos - low).astype(dtype)
    weight = valid.astype(dtype) / dtype.type(grid)
    a = xp.zeros((k, pooled, size), dtype=dtype)
    kk, pp = xp.arange(k)[:, None, None], xp.arange(pooled)[None, :, None]
    index_add(a, (kk, pp, low), (1 - frac) * weight)
    index_add(a, (kk, pp, high), frac * weight)
    return a


class RoIAlignFunction(Function):
    """roi_align on raw arrays: ``forward(input, *, rois, ...)``; the gradient flows to the
    input only (regions are constants, as in torchvision).

    The bilinear sampling is separable: each region's output (per channel) is
    ``Ay @ x[b] @ Ax^T`` with Ay (PH, H) and Ax (PW, W) its interpolation matrices (built with
    ``index_add``; the sample count divides both). All regions of one image share one GEMM
    with the image (``Ay`` stacked), then one batched product with their ``Ax``; the backward
    is the transposed products, summed per image: no per-region loop, no scatter of the
    feature-sized gradient.
    """

    def forward(self, x, *, rois, output_size, spatial_scale, sampling_ratio, aligned):
        xp = self.xp
        _, c, h, w = x.shape
        ph, pw = output_size
        dtype = x.dtype
        offset = dtype.type(0.5 if aligned else 0.0)
        scale = dtype.type(spatial_scale)
        r = rois.astype(dtype)
        k = len(r)
        start_w, start_h = r[:, 1] * scale - offset, r[:, 2] * scale - offset
        roi_w, roi_h = r[:, 3] * scale - offset - start_w, r[:, 4] * scale - offset - start_h
        if not aligned:
            roi_w, roi_h = xp.maximum(roi_w, 1), xp.maximum(roi_h, 1)
        bin_h, bin_w = roi_h / dtype.type(ph), roi_w / dtype.type(pw)
        if sampling_ratio > 0:
            grid_h = grid_w = np.full(k, sampling_ratio, dtype=np.int64)
        else:  # (on the host: the grids group the regions)
            grid_h = np.ceil(to_numpy(roi_h / dtype.type(ph))).astype(np.int64)
            grid_w = np.ceil(to_numpy(roi_w / dtype.type(pw))).astype(np.int64)
        ay = xp.zeros((k, ph, h), dtype=dtype)
        ax = xp.zeros((k, pw, w), dtype=dtype)
        for gh, gw in sorted(set(zip(grid_h.tolist(), grid_w.tolist()))):
            if gh <= 0 or gw <= 0:
                continue  # an empty sampling grid: the output stays 0
            ks = xp.asarray(np.flatnonzero((grid_h == gh) & (grid_w == gw)))
            ay[ks] = _interpolation(start_h[ks], bin_h[ks], gh, ph, h, xp)
            ax[ks] = _interpolation(start_w[ks], bin_w[ks], gw, pw, w, xp)
        batch = to_numpy(r[:, 0]).astype(np.int64)
        out = xp.zeros((k, c, ph, pw), dtype=dtype)
        self.images = []
        for b in np.unique(batch).tolist():
            ks = xp.asarray(np.flatnonzero(batch == b))
            rows = ay[ks].reshape(-1, h) @ x[b].transpose(1, 0, 2).reshape(h, c * w)
            rows = rows.reshape(len(ks), ph * c, w)                  # (k_b, PH * C, W)
            y = xp.matmul(rows, ax[ks].transpose(0, 2, 1))           # (k_b, PH * C, PW)
            out[ks] = y.reshape(len(ks), ph, c, pw).transpose(0, 2, 1, 3)
            self.images.append((b, ks))
        self.ay, self.ax, self.shape = ay, ax, x.shape
        return out

    def backward(self, gy):
        xp = self.xp
        _, c, h, w = self.shape
        ph, pw = gy.shape[2:]
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        for b, ks in self.images:
            g = gy[ks].transpose(0, 2, 1, 3).reshape(len(ks), ph * c, pw)
            g = xp.matmul(g, self.ax[ks]).reshape(-1, c * w)         # (k_b * PH, C * W)
            gx[b] = (self.ay[ks].reshape(-1, h).T @ g).reshape(h, c, w).transpose(1, 0, 2)
        return gx


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
