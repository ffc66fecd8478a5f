"""The U-Net against a PyTorch twin (forward and backward, float64, train and eval mode),
its shapes, widths and errors."""
import numpy as np
import pytest

import ember
from benchmarks.scenes_unet_reference import torch_unet  # the reference run's twin
from ember import models
from tests._parity import check_module, import_torch


@pytest.mark.parametrize("widths, train", [((16, 32, 64), True), ((4, 8), False),
                                           ((3, 5, 6, 7), True)])
def test_parity_with_torch_twin(widths, train):
    torch = import_torch()
    torch.manual_seed(0)
    tm = torch_unet(torch, widths, num_classes=5, in_channels=2).double()
    em = models.unet(num_classes=5, in_channels=2, widths=widths)
    x = np.random.default_rng(0).standard_normal((2, 2, 16, 16))
    if not train:
        with torch.no_grad():  # eval mode with non-trivial running statistics
            for m in tm.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
        tm.eval()
        em.eval()
    check_module(em.double(), tm, [x])


def test_reference_unet_and_registry():
    m = models.get_model("unet")
    assert m.widths == (16, 32, 64) and isinstance(m, models.UNet)
    assert sum(p.numel() for p in m.parameters()) == 117_243
    keys = list(m.state_dict())
    assert keys[:3] == ["down.0.0.weight", "down.0.1.weight", "down.0.1.bias"]
    assert "up.0.weight" in keys and keys[-1] == "head.bias"
    with ember.no_grad():
        assert tuple(m.eval()(ember.zeros(1, 1, 64, 64)).shape) == (1, 11, 64, 64)


def test_errors():
    with pytest.raises(ValueError, match=r"UNet: expected \(N, C, H, W\) input with H and W "
                                         r"divisible by 4, got \(1, 1, 30, 32\)"):
        models.unet()(ember.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match="UNet: widths needs at least 2"):
        models.unet(widths=(8,))
