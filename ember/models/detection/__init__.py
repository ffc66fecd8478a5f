"""Object detection models with torchvision's detection interface: in training mode
``model(images, targets)`` returns a dict of losses; in eval mode ``model(images)`` returns one
``{"boxes", "labels", "scores"}`` dict per image. ``centernet``: a one-stage anchor-free
detector (CenterNet) for issue 21's scenes; ``centernet_mask`` adds a Mask R-CNN-style mask
head (instance segmentation: eval outputs add ``masks``)."""
from __future__ import annotations

from ember.models.detection.centernet import (
    CenterNet,
    CenterNetBackbone,
    centernet,
    decode_heatmap,
    encode_targets,
    focal_heatmap_loss,
    gaussian_radius,
)
from ember.models.detection.mask import (
    CenterNetMask,
    MaskPredictor,
    centernet_mask,
    paste_masks_in_image,
    project_masks_on_boxes,
)

__all__ = ["CenterNet", "CenterNetBackbone", "CenterNetMask", "MaskPredictor", "centernet",
           "centernet_mask", "decode_heatmap", "encode_targets", "focal_heatmap_loss",
           "gaussian_radius", "paste_masks_in_image", "project_masks_on_boxes"]
