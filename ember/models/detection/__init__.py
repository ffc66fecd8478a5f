"""Object detection models with torchvision's detection interface: in training mode
``model(images, targets)`` returns a dict of losses; in eval mode ``model(images)`` returns one
``{"boxes", "labels", "scores"}`` dict per image. ``centernet``: a one-stage anchor-free
detector (CenterNet) for issue 21's scenes."""
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

__all__ = ["CenterNet", "CenterNetBackbone", "centernet", "decode_heatmap", "encode_targets",
           "focal_heatmap_loss", "gaussian_radius"]
