"""VGG (Simonyan & Zisserman, 2014): configurations A, B, D, E = VGG-11/13/16/19, with and
without batch normalisation, in torchvision's layout (``features``, ``avgpool``,
``classifier``) so state_dict keys equal torchvision's.

Five 2x2 max pools halve the input five times, so inputs must be at least 32x32 (28x28 fails
at the fifth pool). The adaptive pool then stretches the map to 7x7 as torchvision does, so
the 102M-parameter first linear layer is kept for any input size.
"""
from __future__ import annotations

from ember import nn

__all__ = ["VGG", "SmallVGG", "cfgs", "make_layers", "vgg_small_bn", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16",
           "vgg16_bn", "vgg19", "vgg19_bn"]

# numbers are 3x3 conv widths, "M" a 2x2 max pool (Table 1 of the paper)
cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The convolutional part: 3x3 convs (padding 1) [+ BN] + ReLU, and 2x2 max pools."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` (from :func:`make_layers`), a 7x7 adaptive average pool and three fully
    connected layers (4096, 4096, num_classes) with ReLU and dropout.

    Shape: ``(N, C, H, W) -> (N, num_classes)``, H, W >= 32.
    """

    def __init__(self, features, num_classes=1000, dropout=0.5, init_weights=True):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:  # torchvision's: He normal convs, N(0, 0.01) linears, zero biases
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)  # (N, 512, H/32, W/32)
        x = self.avgpool(x).flatten(1)  # (N, 512*7*7)
        return self.classifier(x)


def _vgg(cfg, batch_norm, num_classes=1000, in_channels=3, **kwargs):
    return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes, **kwargs)


def _builder(name, cfg, batch_norm, n_params):
    def build(**kwargs):
        return _vgg(cfg, batch_norm, **kwargs)
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"VGG-{name[3:5]}, configuration {cfg}"
                     f"{' with batch normalisation' if batch_norm else ''} "
                     f"({n_params} parameters at 1000 classes).")
    return build


vgg11 = _builder("vgg11", "A", False, "132,863,336")
vgg11_bn = _builder("vgg11_bn", "A", True, "132,868,840")
vgg13 = _builder("vgg13", "B", False, "133,047,848")
vgg13_bn = _builder("vgg13_bn", "B", True, "133,053,736")
vgg16 = _builder("vgg16", "D", False, "138,357,544")
vgg16_bn = _builder("vgg16_bn", "D", True, "138,365,992")
vgg19 = _builder("vgg19", "E", False, "143,667,240")
vgg19_bn = _builder("vgg19_bn", "E", True, "143,678,248")


class SmallVGG(nn.Module):
    """A small VGG-style network for 28x28 / 32x32 images: two 3x3 conv + BN + ReLU + 2x2
    max-pool stages (the "2 conv + pooling + BN" row of Fashion-MNIST's benchmark table),
    then a 256-unit hidden layer with dropout.

    Shape: ``(N, C, H, W) -> (N, num_classes)``, H and W divisible by 4.
    """

    def __init__(self, num_classes=10, in_channels=1, widths=(32, 64), hidden=256,
                 dropout=0.3, input_size=28):
        super().__init__()
        self.features = make_layers([widths[0], "M", widths[1], "M"], True, in_channels)
        side = input_size // 4
        self.classifier = nn.Sequential(
            nn.Linear(widths[1] * side * side, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))  # (N, 64*7*7) -> (N, classes)


def vgg_small_bn(num_classes=10, in_channels=1, input_size=28):
    """:class:`SmallVGG`: 2 conv stages with batch norm (about 0.86M parameters at 28x28)."""
    return SmallVGG(num_classes, in_channels, input_size=input_size)
