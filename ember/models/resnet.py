"""Residual networks (He et al., 2015): torchvision's ImageNet ResNet-18/34/50/101/152 and the
CIFAR ResNet-20/32/44/56/110 of the paper's section 4.2.

Submodule names are torchvision's (``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``; blocks
``conv1``/``bn1``/``conv2``/``bn2``[/``conv3``/``bn3``] and ``downsample``), so state_dict keys
equal torchvision's. The ImageNet ResNets downsample by 32: 28x28 and 32x32 inputs work (the
last stage is then 1x1), larger ones are better. The CIFAR ResNets are made for 32x32 and
downsample by 4.
"""
from __future__ import annotations

from ember import nn
from ember.nn import functional as F

__all__ = ["BasicBlock", "Bottleneck", "CifarResNet", "ResNet", "ShortcutA", "resnet18", "resnet20",
           "resnet32", "resnet34", "resnet44", "resnet50", "resnet56", "resnet101", "resnet110",
           "resnet152"]


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + s(x))``
    where ``s`` is ``downsample`` (or the identity)."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride, "ResNet v1.5" as torchvision), 1x1 expand by 4,
    plus the shortcut."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ShortcutA(nn.Module):
    """The paper's option A shortcut: no parameters; subsample by ``stride`` and append zero
    channels (half before, half after, as the widely used CIFAR implementations do).

    ``kernel_size``/``stride``/``padding`` describe its geometry for ``ember.summary``.
    """

    def __init__(self, in_planes, out_planes, stride=2):
        super().__init__()
        self.in_planes, self.out_planes = in_planes, out_planes
        self.kernel_size, self.stride, self.padding = 1, stride, 0

    def forward(self, x):
        s, extra = self.stride, self.out_planes - self.in_planes
        x = x[:, :, ::s, ::s]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def extra_repr(self):
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def _stage(block, inplanes, planes, blocks, stride, shortcut="B"):
    """``blocks`` residual blocks; the first changes resolution/width, its shortcut is a
    1x1 conv + BN (option B) or :class:`ShortcutA`."""
    out = planes * block.expansion
    down = None
    if stride != 1 or inplanes != out:
        if shortcut == "A":
            down = ShortcutA(inplanes, out, stride)
        else:
            down = nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
    layers = [block(inplanes, planes, stride, down)]
    layers += [block(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _init_weights(model, zero_init_residual):
    """torchvision's initialisation: He normal (fan_out) convolutions, BN scale 1 shift 0;
    optionally a zero last-BN scale in each block so that every block starts as identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            last_bn = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else \
                getattr(m, "bn2", None) if isinstance(m, BasicBlock) else None
            if last_bn is not None:
                nn.init.constant_(last_bn.weight, 0)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 stem, 3x3/2 max pool, four stages (64..512 wide, strides
    1, 2, 2, 2), global average pool, linear classifier.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``[2, 2, 2, 2]`` for ResNet-18.
        num_classes, in_channels: classifier outputs and input channels.
        zero_init_residual: start every residual branch at zero (torchvision's option).

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; H, W >= 17 (28 and 32 work).
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3,
                 zero_init_residual=False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths, inplanes = (64, 128, 256, 512), 64
        for i, (planes, n) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", _stage(block, inplanes, planes, n, 1 if i == 0 else 2))
            inplanes = planes * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self, zero_init_residual)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512 e, H/32, W/32)
        x = self.avgpool(x).flatten(1)
        return self.fc(x)


class CifarResNet(nn.Module):
    """The CIFAR-10 ResNet of He et al. (2015) section 4.2: 6n+2 layers; a 3x3 conv with 16
    filters, three stages of n basic blocks at 16, 32, 64 channels (strides 1, 2, 2),
    global average pool, linear classifier.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        num_classes, in_channels: classifier outputs and input channels.
        shortcut: ``"A"`` (parameter-free subsample + zero channels, the paper's choice for
            CIFAR) or ``"B"`` (1x1 conv + BN projections where the shape changes).

    Shape: ``(N, in_channels, H, W) -> (N, num_classes)``; made for 32x32 (28x28 works).
    """

    def __init__(self, depth=20, num_classes=10, in_channels=3, shortcut="A"):
        super().__init__()
        if (depth - 2) % 6 or depth < 8:
            raise ValueError(f"CifarResNet: depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' or 'B', got {shortcut!r}")
        n = (depth - 2) // 6
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _stage(BasicBlock, 16, 16, n, 1, shortcut)
        self.layer2 = _stage(BasicBlock, 16, 32, n, 2, shortcut)
        self.layer3 = _stage(BasicBlock, 32, 64, n, 2, shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self, zero_init_residual=False)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, H, W)
        x = self.layer3(self.layer2(self.layer1(x)))  # (N, 64, H/4, W/4)
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(**kwargs):
    """ResNet-18 (11,689,512 parameters at 1000 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs):
    """ResNet-34 (21,797,672 parameters at 1000 classes)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs):
    """ResNet-50 (25,557,032 parameters at 1000 classes)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


def resnet101(**kwargs):
    """ResNet-101 (44,549,160 parameters at 1000 classes)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], **kwargs)


def resnet152(**kwargs):
    """ResNet-152 (60,192,808 parameters at 1000 classes)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], **kwargs)


def resnet20(**kwargs):
    """CIFAR ResNet-20 (269,722 parameters with option A shortcuts at 10 classes)."""
    return CifarResNet(20, **kwargs)


def resnet32(**kwargs):
    """CIFAR ResNet-32 (464,154 parameters, option A, 10 classes)."""
    return CifarResNet(32, **kwargs)


def resnet44(**kwargs):
    """CIFAR ResNet-44 (658,586 parameters, option A, 10 classes)."""
    return CifarResNet(44, **kwargs)


def resnet56(**kwargs):
    """CIFAR ResNet-56 (853,018 parameters, option A, 10 classes)."""
    return CifarResNet(56, **kwargs)


def resnet110(**kwargs):
    """CIFAR ResNet-110 (1,727,962 parameters, option A, 10 classes)."""
    return CifarResNet(110, **kwargs)
