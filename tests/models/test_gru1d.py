"""The MNIST-1D GRU against the paper's model written in PyTorch (float64: outputs, input and
parameter gradients), its parameter count and keys, its gradient by finite differences and
its input checks."""
import numpy as np
import pytest
from _parity import check_grad, check_module, import_torch

import ember
from ember import models


def torch_gru_base(torch, hidden=6, bidirectional=True, time_steps=40):
    """The paper's GRUBase: GRU over (N, T, 1), every step's output flattened into a Linear."""
    class GRUBase(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(1, hidden, batch_first=True, bidirectional=bidirectional)
            self.linear = torch.nn.Linear((1 + bidirectional) * hidden * time_steps, 10)

        def forward(self, x):
            out, _ = self.gru(x.reshape(*x.shape[:2], 1))
            return self.linear(out.reshape(out.shape[0], -1))
    return GRUBase().double()


@pytest.mark.parametrize("bidirectional", [True, False])
def test_matches_the_papers_pytorch_model(bidirectional):
    torch = import_torch()
    em = models.gru1d(bidirectional=bidirectional).to(ember.float64)
    x = np.random.default_rng(0).standard_normal((5, 40))
    check_module(em, torch_gru_base(torch, bidirectional=bidirectional), [x])


def test_channel_first_input_equals_the_flat_one():
    m = models.gru1d()
    x = ember.randn(3, 40)
    with ember.no_grad():
        np.testing.assert_array_equal(m(x).numpy(), m(x.unsqueeze(1)).numpy())


def test_parameters_and_keys_are_the_papers():
    m = models.gru1d()
    assert sum(p.numel() for p in m.parameters()) == 5_134  # 2 x 162 + 480 x 10 + 10
    torch = import_torch()
    assert list(m.state_dict()) == list(torch_gru_base(torch).state_dict())


def test_finite_differences():
    m = models.gru1d(time_steps=5, hidden_size=3, num_classes=4).to(ember.float64)
    check_grad(lambda x: m(x), shapes=[(2, 1, 5)])


def test_more_channels():
    m = models.gru1d(in_channels=3, time_steps=7, num_classes=5)
    with ember.no_grad():
        assert tuple(m(ember.randn(2, 3, 7)).shape) == (2, 5)


def test_bad_input_and_arguments_name_the_shapes():
    m = models.gru1d()
    with pytest.raises(ValueError, match=r"GRU1D: expected input of shape \(N, 1, 40\) or "
                                         r"\(N, 40\), got \(2, 1, 39\)"):
        m(ember.randn(2, 1, 39))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2, 40\), got \(2, 40\)"):
        models.gru1d(in_channels=2)(ember.randn(2, 40))
    with pytest.raises(ValueError, match="GRU1D: time_steps must be a positive integer, got 0"):
        models.gru1d(time_steps=0)
