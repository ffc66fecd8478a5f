"""A small fully convolutional network (Long, Shelhamer & Darrell 2015,
https://arxiv.org/abs/1411.4038): a VGG-style encoder (3x3 conv + BN + ReLU, 2x2 max pooling
between widths), a 1x1 classifier on the coarse map and bilinear upsampling back to the input
size (FCN-32s style, one stride).
"""
from __future__ import annotations

from ember import nn
from ember.nn import functional as F

__all__ = ["FCN", "fcn"]


class FCN(nn.Module):
    """Small FCN: ``features`` (conv-BN-ReLU blocks, a max pooling before each width after
    the first), ``classifier`` (3x3 conv-BN-ReLU + 1x1 conv to ``num_classes``), then
    ``F.interpolate(..., size=input size, mode="bilinear", align_corners=False)``."""

    def __init__(self, num_classes=11, in_channels=1, widths=(16, 32, 64)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"FCN: widths needs positive entries, got {widths}")
        layers, c_in = [], in_channels
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True)]
            c_in = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, padding=1, bias=False), nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=True), nn.Conv2d(c_in, num_classes, 1))

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError(f"FCN: expected (N, C, H, W) input, got {tuple(x.shape)}")
        y = self.classifier(self.features(x))
        return F.interpolate(y, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)


def fcn(num_classes=11, in_channels=1, widths=(16, 32, 64)):
    """A small FCN (widths per pooling level) for the scenes."""
    return FCN(num_classes=num_classes, in_channels=in_channels, widths=widths)


fcn.task = "segmentation"  # read by ember.train.autoencode.task_of
