"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998).

The paper's layout on a 1x32x32 input: C1 6@28x28 (5x5 conv), S2 6@14x14 (2x2 subsampling),
C3 16@10x10 (5x5 conv), S4 16@5x5, C5 120@1x1 (5x5 conv), F6 84, output 10. MNIST's 28x28
digits were centred in a 32x32 field; here ``input_size=28`` pads by 2 in C1 instead.

``variant="paper"`` uses tanh and average pooling, the common simplification of the paper's
scaled tanh (1.7159 tanh(2a/3)), trainable-coefficient subsampling and RBF output layer
(replaced by a linear layer for cross-entropy). ``c3_table=True`` adds the paper's partial
C3 connection table (Table I: each C3 map sees 3, 4 or 6 of the S2 maps), a fixed 0/1 mask on
the C3 weights: 1,516 of its 2,416 parameters are effective. ``variant="modern"`` uses ReLU
and max pooling.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

import ember
from ember import nn
from ember.nn import functional as F

__all__ = ["C3_TABLE", "LeNet5", "lenet5"]


def _c3_table():
    """Table I of the paper as a (16, 6) 0/1 array: C3 map j sees S2 maps table[j]."""
    table = np.zeros((16, 6), dtype=np.float32)
    for j in range(6):  # 6 maps see 3 contiguous S2 maps
        table[j, [(j + i) % 6 for i in range(3)]] = 1
    for j in range(6):  # 6 maps see 4 contiguous S2 maps
        table[6 + j, [(j + i) % 6 for i in range(4)]] = 1
    for j, maps in enumerate([(0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5)]):  # 3 discontinuous
        table[12 + j, list(maps)] = 1
    table[15] = 1  # the last sees all six
    return table


C3_TABLE = _c3_table()


class _MaskedConv2d(nn.Conv2d):
    """Conv2d whose weight is multiplied by a fixed (out, in) 0/1 connection table, so
    masked weights stay zero and get zero gradient."""

    def __init__(self, table, kernel_size):
        out_channels, in_channels = table.shape
        super().__init__(in_channels, out_channels, kernel_size)
        mask = ember.tensor(table[:, :, None, None] * np.ones((1, 1, kernel_size, kernel_size),
                                                              np.float32))
        self.register_buffer("mask", mask, persistent=False)
        with ember.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class LeNet5(nn.Module):
    """LeNet-5.

    Args:
        num_classes, in_channels: outputs and input channels.
        variant: ``"paper"`` (tanh, average pooling) or ``"modern"`` (ReLU, max pooling).
        c3_table: use the paper's partial C3 connection table (a fixed weight mask).
        input_size: 32 (the paper) or 28 (MNIST, padded by 2 in C1).

    Shape: ``(N, in_channels, input_size, input_size) -> (N, num_classes)``.
    """

    def __init__(self, num_classes=10, in_channels=1, variant="paper", c3_table=False,
                 input_size=32):
        super().__init__()
        if variant not in ("paper", "modern"):
            raise ValueError(f"LeNet5: variant must be 'paper' or 'modern', got {variant!r}")
        if input_size not in (28, 32):
            raise ValueError(f"LeNet5: input_size must be 32 (paper) or 28 (MNIST), "
                             f"got {input_size}")
        act = nn.Tanh if variant == "paper" else nn.ReLU
        pool = nn.AvgPool2d if variant == "paper" else nn.MaxPool2d
        c3 = _MaskedConv2d(C3_TABLE, 5) if c3_table else nn.Conv2d(6, 16, 5)
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, 5, padding=(32 - input_size) // 2)),  # 6@28x28
            ("act1", act()), ("s2", pool(2)),  # 6@14x14
            ("c3", c3), ("act3", act()), ("s4", pool(2)),  # 16@10x10, 16@5x5
            ("c5", nn.Conv2d(16, 120, 5)), ("act5", act()),  # 120@1x1
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("f6", nn.Linear(120, 84)), ("act6", act()), ("output", nn.Linear(84, num_classes)),
        ]))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def lenet5(num_classes=10, in_channels=1, variant="paper", c3_table=False, input_size=32):
    """LeNet-5 (61,706 parameters at 10 classes; 60,806 effective with ``c3_table``)."""
    return LeNet5(num_classes, in_channels, variant, c3_table, input_size)
