"""The small FCN against a PyTorch twin (forward and backward, float64)."""
import numpy as np
import pytest

import ember
from ember import models
from tests._parity import check_module, import_torch


def torch_fcn(torch, widths, num_classes, in_channels):
    nn = torch.nn
    layers, c = [], in_channels
    for i, w in enumerate(widths):
        layers += ([nn.MaxPool2d(2)] if i else []) + [nn.Conv2d(c, w, 3, padding=1, bias=False),
                                                     nn.BatchNorm2d(w), nn.ReLU()]
        c = w

    class FCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False),
                                            nn.BatchNorm2d(c), nn.ReLU(),
                                            nn.Conv2d(c, num_classes, 1))

        def forward(self, x):
            return nn.functional.interpolate(self.classifier(self.features(x)), size=x.shape[2:],
                                             mode="bilinear", align_corners=False)
    return FCN()


@pytest.mark.parametrize("widths, size", [((16, 32, 64), (16, 16)), ((4, 6), (12, 10))])
def test_parity_with_torch_twin(widths, size):
    torch = import_torch()
    torch.manual_seed(0)
    tm = torch_fcn(torch, widths, 4, 1).double()
    em = models.fcn(num_classes=4, in_channels=1, widths=widths).double()
    check_module(em, tm, [np.random.default_rng(1).standard_normal((2, 1, *size))])


def test_shapes_and_errors():
    m = models.get_model("fcn", num_classes=11).eval()
    with ember.no_grad():
        assert tuple(m(ember.zeros(2, 1, 64, 64)).shape) == (2, 11, 64, 64)
    with pytest.raises(ValueError, match=r"FCN: expected \(N, C, H, W\) input"):
        m(ember.zeros(1, 64, 64))
    with pytest.raises(ValueError, match="FCN: widths needs positive entries"):
        models.fcn(widths=())
