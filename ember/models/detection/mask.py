"""A Mask R-CNN-style mask head over CenterNet (instance segmentation, issue 21).

Each box (the ground-truth boxes in training, the detections in eval mode) cuts a 14x14
window out of the detector's stride-4 features with ``roi_align`` (aligned, 2x2 samples per
bin); two 3x3 convolutions, a 2x2 stride-2 transposed convolution and a 1x1 convolution give
28x28 mask logits per class (torchvision's ``MaskRCNNHeads`` / ``MaskRCNNPredictor``
layout), and the box's class picks its channel. The loss is binary cross-entropy against the
ground-truth mask cut to the box by the same ``roi_align`` (torchvision's
``project_masks_on_boxes``); in eval mode each 28x28 probability map is pasted back into the
image over its box by bilinear interpolation (``paste_masks_in_image``), giving torchvision's
``masks`` (n, 1, H, W) float in [0, 1] (threshold at 0.5 for binary masks).
"""
from __future__ import annotations

import numpy as np

import ember
from ember import nn
from ember.backend import to_numpy
from ember.models.detection.centernet import CenterNet
from ember.nn import functional as F
from ember.vision.ops import roi_align

__all__ = ["CenterNetMask", "MaskPredictor", "centernet_mask", "paste_masks_in_image",
           "project_masks_on_boxes"]


def project_masks_on_boxes(masks, boxes, size):
    """Ground-truth ``masks`` (n, H, W) of one image cut to their ``boxes`` (n, 4) x1y1x2y2
    (pixel edges) and resampled to ``size`` x ``size``: (n, size, size) in [0, 1]."""
    m = masks.detach().to(boxes.dtype).unsqueeze(1)
    rois = ember.cat([ember.arange(boxes.shape[0], dtype=boxes.dtype,
                                   device=boxes.device).unsqueeze(1), boxes.detach()], dim=1)
    return roi_align(m, rois, size, spatial_scale=1.0, sampling_ratio=2, aligned=True)[:, 0]


def _paste_weights(lo, hi, m, n):
    """(n, m) bilinear weights that resample an m-sample axis spanning [lo, hi) onto pixel
    centres 0.5 .. n - 0.5; rows of pixels outside [lo, hi) are zero."""
    centres = np.arange(n) + 0.5
    u = (centres - lo) / max(hi - lo, 1e-6) * m - 0.5
    u = u.clip(0, m - 1)
    i0 = np.floor(u).astype(np.int64).clip(0, m - 1)
    i1 = np.minimum(i0 + 1, m - 1)
    frac = u - i0
    w = np.zeros((n, m))
    rows = np.arange(n)
    np.add.at(w, (rows, i0), 1 - frac)
    np.add.at(w, (rows, i1), frac)
    w[(centres < lo) | (centres >= hi)] = 0
    return w


def paste_masks_in_image(masks, boxes, image_size):
    """``masks`` (n, M, M) (probabilities) pasted over their ``boxes`` (n, 4) into images of
    ``image_size`` (H, W): (n, 1, H, W) NumPy, zero outside each box. A pixel whose centre lies
    in the box takes the bilinear interpolation of the mask at that centre (the mask's samples
    sit at the centres of an M x M grid over the box, as ``roi_align(aligned=True)`` reads)."""
    masks = np.asarray(masks, np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = image_size
    out = np.zeros((len(boxes), 1, h, w))
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        m = masks[k]
        out[k, 0] = _paste_weights(y1, y2, m.shape[0], h) @ m @ _paste_weights(
            x1, x2, m.shape[1], w).T
    return out


class MaskPredictor(nn.Sequential):
    """(K, C, 14, 14) RoI features -> (K, num_classes, 28, 28) mask logits: two 3x3 conv +
    ReLU (``mask_fcn1``, ``mask_fcn2``), a 2x2 stride-2 transposed conv + ReLU
    (``conv5_mask``) and a 1x1 conv (``mask_fcn_logits``)."""

    def __init__(self, in_channels, channels, num_classes):
        super().__init__()
        self.add_module("mask_fcn1", nn.Conv2d(in_channels, channels, 3, padding=1))
        self.add_module("relu1", nn.ReLU(inplace=True))
        self.add_module("mask_fcn2", nn.Conv2d(channels, channels, 3, padding=1))
        self.add_module("relu2", nn.ReLU(inplace=True))
        self.add_module("conv5_mask", nn.ConvTranspose2d(channels, channels, 2, stride=2))
        self.add_module("relu3", nn.ReLU(inplace=True))
        self.add_module("mask_fcn_logits", nn.Conv2d(channels, num_classes, 1))


class CenterNetMask(CenterNet):
    """CenterNet with a mask head (instance segmentation); arguments as ``CenterNet`` plus
    ``mask_channels`` (the head's width) and ``mask_roi_size`` (14: 28x28 masks).

    Training targets also need ``masks`` (n, H, W) per image; the losses add ``loss_mask``;
    eval outputs add ``masks`` (n, 1, H, W) probabilities. Submodule: ``mask_predictor``.
    """

    requires_masks = True

    def __init__(self, num_classes=11, in_channels=1, mask_channels=64, mask_roi_size=14,
                 **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        self.mask_roi_size = int(mask_roi_size)
        self.mask_predictor = MaskPredictor(self.backbone.out_channels, mask_channels,
                                            self.num_classes)

    def mask_logits(self, features, boxes):
        """(K, num_classes, 2R, 2R) logits for ``boxes``: a list of (n_i, 4) Tensors."""
        rois = roi_align(features, boxes, self.mask_roi_size, spatial_scale=1 / self.stride,
                         sampling_ratio=2, aligned=True)
        return self.mask_predictor(rois)

    @staticmethod
    def _pick(logits, labels):
        onehot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        return (logits * onehot.unsqueeze(-1).unsqueeze(-1)).sum(1)

    def extra_losses(self, features, targets):
        boxes = [t["boxes"].to(features.dtype) for t in targets]
        if sum(b.shape[0] for b in boxes) == 0:
            return {"loss_mask": features.sum() * 0}
        labels = ember.cat([t["labels"] for t in targets])
        size = 2 * self.mask_roi_size
        goal = ember.cat([project_masks_on_boxes(t["masks"], b, size)
                          for t, b in zip(targets, boxes) if b.shape[0]])
        logits = self._pick(self.mask_logits(features, boxes), labels)
        return {"loss_mask": F.binary_cross_entropy_with_logits(logits, goal.to(logits.dtype))}

    def extra_outputs(self, features, detections, image_size):
        boxes = [d["boxes"].to(features.dtype) for d in detections]
        if sum(b.shape[0] for b in boxes) == 0:
            for d in detections:
                d["masks"] = ember.zeros(0, 1, *image_size)
            return detections
        with ember.no_grad():
            labels = ember.cat([d["labels"] for d in detections])
            probs = to_numpy(ember.sigmoid(self._pick(self.mask_logits(features, boxes),
                                                      labels)).array)
        start = 0
        for d in detections:
            n = d["boxes"].shape[0]
            d["masks"] = ember.tensor(paste_masks_in_image(
                probs[start:start + n], d["boxes"].numpy(), image_size).astype(np.float32))
            start += n
        return detections


def centernet_mask(num_classes=11, in_channels=1, **kwargs):
    """The scenes' CenterNet with its mask head (28x28 masks from 14x14 RoIAlign windows)."""
    return CenterNetMask(num_classes=num_classes, in_channels=in_channels, **kwargs)


centernet_mask.task = "instance"  # read by ember.train.autoencode.task_of
