"""U-Net (Ronneberger, Fischer & Brox 2015, https://arxiv.org/abs/1505.04597), small: the
reference of issue 21 has widths 16-32-64 and 2 poolings. Each level is two 3x3 convolutions
(padding 1, no bias) + BatchNorm + ReLU; the decoder upsamples with a 2x2 stride-2 transposed
convolution, concatenates the encoder's map of the same size (the skip connection) and runs
two more; a 1x1 convolution gives the class logits. H and W must be divisible by
2 ** (len(widths) - 1).
"""
from __future__ import annotations

import itertools

import ember
from ember import nn

__all__ = ["DoubleConv", "UNet", "unet"]


class DoubleConv(nn.Sequential):
    """(3x3 conv, no bias -> BatchNorm2d -> ReLU) twice."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """U-Net with encoder widths ``widths`` (the last is the bottleneck).

    Args:
        num_classes: output channels (11 for the scenes: background + 10 classes).
        in_channels: image channels.
        widths: channels per level, e.g. (16, 32, 64): len(widths) - 1 poolings.

    Submodules: ``down.i`` (DoubleConv per level), ``up.i`` (ConvTranspose2d), ``dec.i``
    (DoubleConv after each skip), ``head`` (1x1 Conv2d).
    """

    def __init__(self, num_classes=11, in_channels=1, widths=(16, 32, 64)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"UNet: widths needs at least 2 positive entries, got {widths}")
        self.widths = widths
        self.down = nn.ModuleList(
            [DoubleConv(c_in, c_out) for c_in, c_out in zip((in_channels,) + widths, widths)])
        self.pool = nn.MaxPool2d(2)
        rev = widths[::-1]
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(c_in, c_out, 2, stride=2) for c_in, c_out in itertools.pairwise(rev)])
        self.dec = nn.ModuleList([DoubleConv(2 * c, c) for c in rev[1:]])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        factor = 2 ** (len(self.widths) - 1)
        if x.dim() != 4 or x.shape[2] % factor or x.shape[3] % factor:
            raise ValueError(f"UNet: expected (N, C, H, W) input with H and W divisible by "
                             f"{factor}, got {tuple(x.shape)}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, dec, skip in zip(self.up, self.dec, skips[-2::-1]):
            x = dec(ember.cat([up(x), skip], dim=1))
        return self.head(x)


def unet(num_classes=11, in_channels=1, widths=(16, 32, 64)):
    """The reference U-Net of issue 21 (widths 16-32-64, 2 poolings, BN, transposed-conv
    upsampling)."""
    return UNet(num_classes=num_classes, in_channels=in_channels, widths=widths)


unet.task = "segmentation"  # read by ember.train.autoencode.task_of
