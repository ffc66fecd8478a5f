"""The generalised IoU loss (Rezatofighi et al. 2019, https://arxiv.org/abs/1902.09630) of
matched box pairs, as torchvision.ops.generalized_box_iou_loss computes it (Tensor ops:
autograd for free)."""
from __future__ import annotations

import ember
from ember.tensor import Tensor

__all__ = ["generalized_box_iou_loss"]


def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    """``1 - GIoU`` of each pair ``(boxes1[i], boxes2[i])`` of x1y1x2y2 boxes (..., 4), with
    ``eps`` added to the union and to the enclosing area; ``reduction`` "none" | "mean" |
    "sum" (the mean of no boxes is 0, with a gradient)."""
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not isinstance(b, Tensor) or b.dim() < 1 or b.shape[-1] != 4:
            raise ValueError(f"generalized_box_iou_loss: {name} must be a Tensor of shape "
                             f"(..., 4), got {getattr(b, 'shape', type(b).__name__)}")
    if tuple(boxes1.shape) != tuple(boxes2.shape):
        raise ValueError(f"generalized_box_iou_loss: boxes1 {tuple(boxes1.shape)} and boxes2 "
                         f"{tuple(boxes2.shape)} must have the same shape (matched pairs)")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported "
                         "reduction modes: 'none', 'mean', 'sum'")
    x1, y1, x2, y2 = (boxes1[..., i] for i in range(4))
    x1g, y1g, x2g, y2g = (boxes2[..., i] for i in range(4))
    xk1, yk1 = ember.maximum(x1, x1g), ember.maximum(y1, y1g)
    xk2, yk2 = ember.minimum(x2, x2g), ember.minimum(y2, y2g)
    overlap = (yk2 > yk1) & (xk2 > xk1)
    inter = ember.where(overlap, (xk2 - xk1) * (yk2 - yk1), ember.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    xc1, yc1 = ember.minimum(x1, x1g), ember.minimum(y1, y1g)
    xc2, yc2 = ember.maximum(x2, x2g), ember.maximum(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    loss = 1 - (iou - (area_c - union) / (area_c + eps))
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss
