"""Box operations with ``torchvision.ops``' names, signatures and conventions: boxes are
(N, 4) Tensors ``(x1, y1, x2, y2)`` with ``0 <= x1 <= x2`` and ``0 <= y1 <= y2`` (pixel
edges: area ``(x2 - x1) * (y2 - y1)``). The formulas are Tensor ops, so the differentiable
ones (``box_area``, ``box_iou``, ``generalized_box_iou``, ``box_convert``,
``clip_boxes_to_image``) carry gradients; ``nms`` and ``batched_nms`` return int64 indices.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.tensor import Tensor

__all__ = ["batched_nms", "box_area", "box_convert", "box_iou", "clip_boxes_to_image",
           "generalized_box_iou", "masks_to_boxes", "nms", "remove_small_boxes"]


def _check_boxes(boxes, who, name="boxes"):
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{who}: {name} must be a Tensor, got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{who}: {name} must have shape (N, 4), got {tuple(boxes.shape)}")


def box_area(boxes):
    """The areas ``(x2 - x1) * (y2 - y1)`` of (N, 4) x1y1x2y2 boxes: (N,)."""
    _check_boxes(boxes, "box_area")
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _inter_union(boxes1, boxes2):
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = ember.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = ember.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area1[:, None] + area2[None, :] - inter


def box_iou(boxes1, boxes2):
    """Intersection over union of every pair: (N, 4) and (M, 4) x1y1x2y2 boxes -> (N, M)."""
    _check_boxes(boxes1, "box_iou", "boxes1")
    _check_boxes(boxes2, "box_iou", "boxes2")
    inter, union = _inter_union(boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1, boxes2):
    """Generalised IoU (Rezatofighi et al. 2019): ``iou - (C - union) / C`` with C the area of
    the smallest box enclosing both; (N, 4), (M, 4) -> (N, M), in [-1, 1]."""
    _check_boxes(boxes1, "generalized_box_iou", "boxes1")
    _check_boxes(boxes2, "generalized_box_iou", "boxes2")
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / union
    lti = ember.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    rbi = ember.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    whi = (rbi - lti).clamp(min=0)
    area_c = whi[..., 0] * whi[..., 1]
    return iou - (area_c - union) / area_c


_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes, in_fmt, out_fmt):
    """Convert (N, 4) boxes between ``"xyxy"`` (corners), ``"xywh"`` (top-left, size) and
    ``"cxcywh"`` (centre, size)."""
    _check_boxes(boxes, "box_convert")
    if in_fmt not in _FORMATS or out_fmt not in _FORMATS:
        raise ValueError(f"box_convert: unsupported box format {in_fmt!r} -> {out_fmt!r}; "
                         f"expected one of {_FORMATS}")
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = (boxes[:, i] for i in range(4))
    if in_fmt == "xywh":
        c, d = a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        c, d = c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return ember.stack((a, b, c, d), dim=-1)


def clip_boxes_to_image(boxes, size):
    """Clip (..., 4) x1y1x2y2 boxes to an image of ``size = (height, width)``."""
    if not isinstance(boxes, Tensor) or boxes.dim() < 1 or boxes.shape[-1] != 4:
        raise ValueError("clip_boxes_to_image: boxes must be a Tensor of shape (..., 4), "
                         f"got {getattr(boxes, 'shape', type(boxes).__name__)}")
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return ember.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes, min_size):
    """Indices (int64) of the boxes whose width and height are both >= ``min_size``."""
    _check_boxes(boxes, "remove_small_boxes")
    a = boxes.detach().cpu().numpy()
    keep = np.flatnonzero((a[:, 2] - a[:, 0] >= min_size) & (a[:, 3] - a[:, 1] >= min_size))
    return ember.from_numpy(keep.astype(np.int64))


def _iou_matrix(a):
    """IoU of every pair of (N, 4) boxes (NumPy, in the boxes' dtype, as torchvision's
    kernel computes it)."""
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], a[None, :, 2]) - np.maximum(a[:, None, 0], a[None, :, 0]),
                0, None)
    h = np.clip(np.minimum(a[:, None, 3], a[None, :, 3]) - np.maximum(a[:, None, 1], a[None, :, 1]),
                0, None)
    inter = w * h
    return inter / (area[:, None] + area[None, :] - inter)


def _nms(a, s, iou_threshold, groups=None):
    order = np.argsort(-s, kind="stable")  # descending; ties keep their input order
    a = a[order]
    iou = _iou_matrix(a)
    over = iou > iou_threshold  # torchvision suppresses IoU > threshold only
    if groups is not None:
        g = groups[order]
        over &= g[:, None] == g[None, :]
    suppressed = np.zeros(len(a), dtype=bool)
    keep = []
    for i in range(len(a)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= over[i]
    return order[np.asarray(keep, dtype=np.int64)]


def _check_nms(boxes, scores, who):
    _check_boxes(boxes, who)
    if not isinstance(scores, Tensor) or scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"{who}: scores must be a Tensor of shape ({boxes.shape[0]},) to match "
                         f"boxes {tuple(boxes.shape)}, got "
                         f"{tuple(getattr(scores, 'shape', ())) or type(scores).__name__}")


def nms(boxes, scores, iou_threshold):
    """Non-maximum suppression: the indices (int64, by decreasing score) of the boxes kept,
    greedily, after discarding every box whose IoU with a kept higher-scored box is
    ``> iou_threshold``. Equal scores keep their input order."""
    _check_nms(boxes, scores, "nms")
    if boxes.shape[0] == 0:
        return ember.from_numpy(np.zeros(0, dtype=np.int64))
    a, s = boxes.detach().cpu().numpy(), scores.detach().cpu().numpy()
    return ember.from_numpy(_nms(a, s, float(iou_threshold)))


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category ``idxs`` (int Tensor (N,)): boxes of different categories
    never suppress each other. Returns kept indices by decreasing score."""
    _check_nms(boxes, scores, "batched_nms")
    if not isinstance(idxs, Tensor) or tuple(idxs.shape) != (boxes.shape[0],):
        raise ValueError(f"batched_nms: idxs must be a Tensor of shape ({boxes.shape[0]},), "
                         f"got {tuple(getattr(idxs, 'shape', ())) or type(idxs).__name__}")
    if boxes.shape[0] == 0:
        return ember.from_numpy(np.zeros(0, dtype=np.int64))
    a, s = boxes.detach().cpu().numpy(), scores.detach().cpu().numpy()
    return ember.from_numpy(_nms(a, s, float(iou_threshold), idxs.detach().cpu().numpy()))


def masks_to_boxes(masks):
    """The boxes (N, 4) float32 around (N, H, W) masks, as torchvision computes them:
    ``(min x, min y, max x, max y)`` of the nonzero pixels (inclusive indices, so a
    one-pixel mask gives x1 == x2). An empty mask is an error."""
    if not isinstance(masks, Tensor) or masks.dim() != 3:
        raise ValueError("masks_to_boxes: masks must be a Tensor of shape (N, H, W), got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    m = masks.detach().cpu().numpy() != 0
    if m.shape[0] == 0:
        return ember.zeros(0, 4)
    rows, cols = m.any(2), m.any(1)
    empty = np.flatnonzero(~rows.any(1))
    if len(empty):
        raise ValueError(f"masks_to_boxes: mask {int(empty[0])} is empty (no nonzero pixel)")
    h, w = m.shape[1:]
    x1 = cols.argmax(1)
    x2 = w - 1 - cols[:, ::-1].argmax(1)
    y1 = rows.argmax(1)
    y2 = h - 1 - rows[:, ::-1].argmax(1)
    return ember.from_numpy(np.stack([x1, y1, x2, y2], 1).astype(np.float32))
