"""Poisson and Gaussian NLL loss layers (and CTCLoss) against PyTorch: every reduction in
float64 and float32 (values and gradients), constructor arguments, legacy size_average /
reduce, no state, errors naming the layer."""
import numpy as np
import pytest
from _parity import import_torch
from nn._loss_cases import DTYPES, REDUCTIONS, parity, rng

import ember


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_layer(reduction, dtype):
    x, t = rng(1).uniform(0.1, 3, (4, 5)), rng(2).integers(0, 6, (4, 5)).astype(float)
    parity(lambda m, x, t: m.nn.PoissonNLLLoss(log_input=False, full=True, eps=1e-4,
                                               reduction=reduction)(x, t),
           [x.astype(dtype), t.astype(dtype)], dtype)
    parity(lambda m, x, t: m.nn.PoissonNLLLoss(reduction=reduction)(x, t),
           [x.astype(dtype), t.astype(dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_layer(reduction, dtype):
    x, t, v = rng(1).normal(size=(4, 3)), rng(2).normal(size=(4, 3)), rng(3).uniform(0, 2, 4)
    parity(lambda m, x, t, v: m.nn.GaussianNLLLoss(full=True, eps=0.1, reduction=reduction)(
        x, t, v), [a.astype(dtype) for a in (x, t, v)], dtype)


def test_legacy_arguments_state_and_errors():
    torch = import_torch()
    x, t = rng(1).normal(size=(4, 3)), rng(2).integers(0, 6, (4, 3)).astype(float)
    for kw in [{"size_average": False}, {"reduce": False}]:
        parity(lambda m, x, t, kw=kw: m.nn.PoissonNLLLoss(**kw)(x, t), [x, t], np.float64)
    for cls in ("PoissonNLLLoss", "GaussianNLLLoss", "CTCLoss"):
        e, tm = getattr(ember.nn, cls)(), getattr(torch.nn, cls)()
        assert list(e.state_dict()) == list(tm.state_dict()) == []
        assert repr(e) == repr(tm) == f"{cls}()"
    with pytest.raises(ValueError, match=r"GaussianNLLLoss: gaussian_nll_loss: var is of "
                                         r"incorrect size"):
        ember.nn.GaussianNLLLoss()(ember.randn(3, 4), ember.randn(3, 4), ember.ones(2))
    with pytest.raises(ValueError, match=r"PoissonNLLLoss: poisson_nll_loss: target shape"):
        ember.nn.PoissonNLLLoss()(ember.randn(3, 4), ember.randn(2))


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_layer(reduction, zero_infinity):
    x = rng(1).normal(size=(7, 3, 5))
    t = np.array([[1, 1, 2], [4, 3, 0], [2, 2, 2]])
    il, tl = np.array([7, 5, 4]), np.array([3, 2, 3])  # the last is impossible: inf

    def case(m, x, t, il, tl):
        return m.nn.CTCLoss(blank=0, reduction=reduction, zero_infinity=zero_infinity)(
            x.log_softmax(2), t, il, tl)
    parity(case, [x, t, il, tl], np.float64, requires_grad=[True, False, False, False])
    parity(case, [x.astype(np.float32), t, il, tl], np.float32,
           requires_grad=[True, False, False, False])


def test_ctc_layer_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"CTCLoss: ctc_loss: blank must be in label range"):
        ember.nn.CTCLoss(blank=7)(ember.randn(5, 2, 4), ember.tensor([[1], [2]]), (5, 5),
                                  (1, 1))
