"""Poisson and Gaussian NLL (and CTC) against PyTorch: values and gradients of every
differentiable input in float64 and float32 over every reduction; the Stirling term, eps,
the variance's broadcasting rules and its clamp (no gradient through it); finite-difference
gradchecks; argument errors naming the function and the shapes."""
import numpy as np
import pytest
from _table import Op
from nn._loss_cases import DTYPES, REDUCTIONS, parity, rng

import ember
import ember.nn.functional as F


def _counts(shape, seed):
    """Poisson targets: counts 0..6 (the Stirling term applies above 1)."""
    return rng(seed).integers(0, 7, shape).astype(float)


# case(m, reduction) -> (fn(m, *tensors), inputs)
CASES = {
    "poisson_log": lambda r: (
        lambda m, x, t: m.nn.functional.poisson_nll_loss(x, t, reduction=r),
        [rng(1).normal(size=(4, 5)), _counts((4, 5), 2)]),
    "poisson_log_full": lambda r: (
        lambda m, x, t: m.nn.functional.poisson_nll_loss(x, t, full=True, reduction=r),
        [rng(1).normal(size=(4, 5)), _counts((4, 5), 2) + 0.5]),
    "poisson_rate_full_eps": lambda r: (
        lambda m, x, t: m.nn.functional.poisson_nll_loss(x, t, log_input=False, full=True,
                                                         eps=1e-3, reduction=r),
        [rng(1).uniform(0.1, 3, (4, 5)), _counts((4, 5), 2) + 1.5]),
    "poisson_broadcast": lambda r: (
        lambda m, x, t: m.nn.functional.poisson_nll_loss(x, t, reduction=r),
        [rng(1).normal(size=(4, 1)), _counts((4, 5), 2)]),
    "gaussian": lambda r: (
        lambda m, x, t, v: m.nn.functional.gaussian_nll_loss(x, t, v, reduction=r),
        [rng(1).normal(size=(4, 3)), rng(2).normal(size=(4, 3)), rng(3).uniform(0.1, 2, (4, 3))]),
    "gaussian_full_per_sample_var": lambda r: (
        lambda m, x, t, v: m.nn.functional.gaussian_nll_loss(x, t, v, full=True, reduction=r),
        [rng(1).normal(size=(4, 3)), rng(2).normal(size=(4, 3)), rng(3).uniform(0.1, 2, (4,))]),
    "gaussian_one_mismatched_dim": lambda r: (
        lambda m, x, t, v: m.nn.functional.gaussian_nll_loss(x, t, v, reduction=r),
        [rng(1).normal(size=(2, 3, 4)), rng(2).normal(size=(2, 3, 4)),
         rng(3).uniform(0.1, 2, (2, 1, 4))]),
    "gaussian_clamped_var": lambda r: (
        lambda m, x, t, v: m.nn.functional.gaussian_nll_loss(x, t, v, eps=0.05, reduction=r),
        [rng(1).normal(size=(4, 3)), rng(2).normal(size=(4, 3)),
         np.where(rng(3).uniform(size=(4, 3)) < 0.5, 0.0, 0.01) + rng(4).uniform(0, 0.1, (4, 3))]),
    "gaussian_float_var": lambda r: (
        lambda m, x, t: m.nn.functional.gaussian_nll_loss(x, t, 0.7, reduction=r),
        [rng(1).normal(size=(4, 3)), rng(2).normal(size=(4, 3))]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CASES)
def test_parity(name, reduction, dtype):
    fn, inputs = CASES[name](reduction)
    parity(fn, [a.astype(dtype) for a in inputs], dtype)


def test_poisson_legacy_size_average_and_reduce():
    x, t = rng(1).normal(size=(4, 3)), _counts((4, 3), 2)
    for kw in [{"size_average": False}, {"reduce": False}, {"size_average": True}]:
        parity(lambda m, x, t, kw=kw: m.nn.functional.poisson_nll_loss(x, t, **kw), [x, t],
               np.float64)


def test_gaussian_var_clamp_passes_the_gradient_unchanged():
    """PyTorch clamps a clone in place under no_grad: the loss sees max(var, eps) but var's
    gradient is the gradient at the clamped value, even where var < eps."""
    v = ember.tensor([0.0, 1e-9, 2.0], dtype=ember.float64, requires_grad=True)
    x = ember.zeros(3, dtype=ember.float64)
    F.gaussian_nll_loss(x, x + 1, v, reduction="sum").backward()
    vc = np.array([1e-6, 1e-6, 2.0])
    np.testing.assert_allclose(v.grad.numpy(), 0.5 / vc - 0.5 / vc ** 2, rtol=1e-12)


GRADCHECKS = {  # finite differences, ember only
    "poisson": Op(lambda m, x, t: m.nn.functional.poisson_nll_loss(x, t + 2.5, full=True,
                                                                   reduction="none"),
                  shapes=((3, 4), (3, 4))),
    "poisson_rate": Op(lambda m, x, t: m.nn.functional.poisson_nll_loss(
        x, t, log_input=False), shapes=((3, 4), (3, 4)), low=0.5, high=2.0),
    "gaussian": Op(lambda m, x, t, v: m.nn.functional.gaussian_nll_loss(x, t, v.abs() + 0.1,
                                                                        full=True),
                   shapes=((3, 4), (3, 4), (3,))),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    GRADCHECKS[name].gradcheck(away_from=0)


def test_errors_name_the_function_and_shapes():
    x = ember.randn(3, 4)
    with pytest.raises(ValueError, match=r"poisson_nll_loss: target shape \(5,\) cannot be "
                                         r"broadcast to input shape \(3, 4\)"):
        F.poisson_nll_loss(x, ember.randn(5))
    with pytest.raises(ValueError, match="poisson_nll_loss: reduction must be one of"):
        F.poisson_nll_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var is of incorrect size: var "
                                         r"\(3, 2\) for input \(3, 4\)"):
        F.gaussian_nll_loss(x, x, ember.ones(3, 2))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entry"):
        F.gaussian_nll_loss(x, x, -ember.ones(3, 4))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entry"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match="gaussian_nll_loss: reduction must be one of"):
        F.gaussian_nll_loss(x, x, ember.ones(3, 4), reduction="avg")
