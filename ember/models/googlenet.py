"""GoogLeNet / Inception v1 (Szegedy et al., 2014) in torchvision's layout: 1x1 reductions
before the 3x3 and 5x5 branches, global average pooling instead of large fully connected
layers, and two auxiliary classifiers (after inception4a and inception4d) used in training.

As torchvision (whose weights this layout loads), every convolution is followed by batch
normalisation (``BasicConv2d``), and the "5x5" branch uses a 3x3 kernel. Inputs of 28x28 and
up work (the last stage is then 1x1).
"""
from __future__ import annotations

from collections import namedtuple

import ember
from ember import nn

__all__ = ["BasicConv2d", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "googlenet",
           "googlenet_loss"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = "What GoogLeNet returns in training with aux heads (torchvision's)."


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels: 1x1; 1x1 -> 3x3; 1x1 -> "5x5"
    (3x3, as torchvision); 3x3 max pool -> 1x1 projection."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x):
        return ember.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 adaptive average pool, 1x1 conv to 128, FC 1024, dropout,
    FC num_classes."""

    def __init__(self, in_channels, num_classes, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(x, (4, 4))
        x = self.conv(x).flatten(1)  # (N, 2048)
        x = self.dropout(nn.functional.relu(self.fc1(x)))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """Inception v1.

    Args:
        num_classes, in_channels: classifier outputs and input channels.
        aux_logits: build the two auxiliary heads (used only in training mode).
        dropout, dropout_aux: dropout before the main and inside the auxiliary classifiers.

    Shape: ``(N, C, H, W) -> (N, num_classes)`` in eval mode; in training mode with
    ``aux_logits``, ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``
    (combine them with :func:`googlenet_loss`).
    """

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, dropout=0.2,
                 dropout_aux=0.7, init_weights=True):
        super().__init__()
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:  # torchvision's: truncated normal (std 0.01), BN scale 1 shift 0
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))  # (N, 64, H/4, W/4)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (N, 192, H/8, W/8)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, H/16, W/16)
        x = self.inception4a(x)  # (N, 512, H/16, W/16)
        use_aux = self.training and self.aux1 is not None
        aux1 = self.aux1(x) if use_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, H/16, W/16)
        aux2 = self.aux2(x) if use_aux else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, H/32, W/32)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, H/32, W/32)
        x = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        return GoogLeNetOutputs(x, aux2, aux1) if use_aux else x


def googlenet(**kwargs):
    """GoogLeNet (6,624,904 parameters at 1000 classes without the auxiliary heads,
    13,004,888 with them)."""
    return GoogLeNet(**kwargs)


def googlenet_loss(outputs, target, aux_weight=0.3, criterion=None):
    """The paper's training loss: ``main + aux_weight * (aux1 + aux2)``; for plain logits
    (eval mode, or no aux heads) just ``criterion(logits, target)``.

    ``criterion`` defaults to ``ember.nn.functional.cross_entropy``.
    """
    criterion = criterion or nn.functional.cross_entropy
    if not isinstance(outputs, GoogLeNetOutputs):
        return criterion(outputs, target)
    aux = criterion(outputs.aux_logits1, target) + criterion(outputs.aux_logits2, target)
    return criterion(outputs.logits, target) + aux_weight * aux
