"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in two versions.

- ``variant="torchvision"``: torchvision's layout and keys (the "one weird trick" single-GPU
  version: 64-192-384-256-256 filters, no LRN), 61,100,840 parameters at 1000 classes.
- ``variant="original"``: the 2012 paper: 96 filters of 11x11 stride 4 in conv1 (34,944
  parameters), local response normalisation after conv1 and conv2, overlapping 3x3/2 max
  pooling, and the two-GPU split as ``groups=2`` in conv2, conv4 and conv5 (conv3 and the
  fully connected layers see both halves), 60,965,224 parameters; the paper's initialisation
  (N(0, 0.01) weights; biases 1 in conv2, conv4, conv5 and the hidden FC layers, else 0).

Both use the names ``features``, ``avgpool``, ``classifier``. The input is 3x227x227 in the
paper (224 also gives 6x6 maps); the minimum is 63x63 (torchvision) or 67x67 (original):
28x28 and 32x32 are too small for this architecture.
"""
from __future__ import annotations

from ember import nn

__all__ = ["AlexNet", "alexnet"]


def _features_torchvision(in_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2))


def _features_original(in_channels):
    # The paper's LRN is b = a / (k + alpha * sum a^2)^beta with k=2, n=5, alpha=1e-4,
    # beta=0.75; PyTorch's LocalResponseNorm divides alpha by n, hence alpha=5 * 1e-4.
    def lrn():
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4), nn.ReLU(inplace=True), lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # (96, 27, 27) for 227x227
        nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2), nn.ReLU(inplace=True), lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),  # (256, 13, 13)
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2))  # (256, 6, 6)


class AlexNet(nn.Module):
    """Five convolutions, then three fully connected layers (4096, 4096, num_classes) with
    dropout 0.5 before the first two.

    Args:
        num_classes, in_channels: classifier outputs and input channels.
        variant: ``"torchvision"`` or ``"original"`` (see the module docstring).
        dropout: dropout probability in the classifier.

    Shape: ``(N, C, H, W) -> (N, num_classes)``, H, W >= 63 (torchvision) / 67 (original).
    """

    def __init__(self, num_classes=1000, in_channels=3, variant="torchvision", dropout=0.5):
        super().__init__()
        builders = {"torchvision": _features_torchvision, "original": _features_original}
        if variant not in builders:
            raise ValueError(f"AlexNet: variant must be one of {list(builders)}, got {variant!r}")
        self.variant = variant
        self.features = builders[variant](in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))
        if variant == "original":
            self._paper_init()

    def _paper_init(self):
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for i, m in enumerate(layers):  # conv1..conv5, fc6, fc7, fc8
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)

    def forward(self, x):
        x = self.features(x)  # (N, 256, 6, 6) for 224/227 inputs
        x = self.avgpool(x).flatten(1)
        return self.classifier(x)


def alexnet(**kwargs):
    """AlexNet: torchvision's (61,100,840 parameters at 1000 classes) or, with
    ``variant="original"``, the 2012 paper's (60,965,224)."""
    return AlexNet(**kwargs)
