"""``torchvision.ops`` for ember: box formulas, non-maximum suppression, RoIAlign / RoIPool
the focal and generalised-IoU losses, with torchvision's names, signatures and conventions (boxes
``(x1, y1, x2, y2)``; regions ``(batch index, x1, y1, x2, y2)`` or a list of (L, 4) per
image)."""
from __future__ import annotations

from ember.vision.ops.boxes import (
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou,
    masks_to_boxes,
    nms,
    remove_small_boxes,
)
from ember.vision.ops.focal_loss import sigmoid_focal_loss
from ember.vision.ops.giou_loss import generalized_box_iou_loss
from ember.vision.ops.roi_align import RoIAlign, roi_align
from ember.vision.ops.roi_pool import RoIPool, roi_pool

__all__ = ["RoIAlign", "RoIPool", "batched_nms", "box_area", "box_convert", "box_iou",
           "clip_boxes_to_image", "generalized_box_iou", "generalized_box_iou_loss", "masks_to_boxes", "nms",
           "remove_small_boxes", "roi_align", "roi_pool", "sigmoid_focal_loss"]
