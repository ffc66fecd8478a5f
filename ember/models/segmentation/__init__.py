"""Semantic segmentation models: a small FCN and a U-Net (``fcn``, ``unet``; registered in
``ember.models``). Both map (N, in_channels, H, W) images to (N, num_classes, H, W) logits
(a Tensor: torchvision's segmentation models wrap theirs in ``{"out": ...}``; these are not
torchvision's)."""
from __future__ import annotations

from ember.models.segmentation.fcn import FCN, fcn
from ember.models.segmentation.unet import UNet, unet

__all__ = ["FCN", "UNet", "fcn", "unet"]
