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


# --- CTC ------------------------------------------------------------------------------
def _ctc_case(seed, T, N, C, blank=0):
    """Log-probabilities (T, N, C), padded targets with repeated labels, lengths."""
    r = rng(seed)
    x = r.normal(size=(T, N, C))
    lp = x - np.log(np.exp(x).sum(2, keepdims=True))
    labels = [c for c in range(C) if c != blank]
    tl = r.integers(0, T // 2 + 1, N)
    tl[0] = max(tl[0], 2)
    t = r.choice(labels, (N, int(tl.max()) + 1))
    t[0, 1] = t[0, 0]  # a repeated label: it needs a blank between
    il = r.integers(T // 2 + 1, T + 1, N)
    il[0] = T
    return lp, t, il, tl


CTC_CASES = {  # name -> (seed, T, N, C, blank)
    "small": (0, 6, 3, 5, 0),
    "long": (1, 12, 4, 6, 0),
    "blank_last": (2, 9, 3, 5, 4),
    "batch1": (3, 7, 1, 4, 2),
}


def _ctc(reduction, zero_infinity=False, form="tuple", blank=0):
    def fn(m, lp, t, il, tl):
        if form == "concat":
            t = m.cat([t[i, :int(tl[i])] for i in range(len(tl))])
        if form == "tuple":
            il, tl = tuple(int(v) for v in il), tuple(int(v) for v in tl)
        return m.nn.functional.ctc_loss(lp, t, il, tl, blank=blank, reduction=reduction,
                                        zero_infinity=zero_infinity)
    return fn


@pytest.mark.parametrize("form", ["tuple", "tensor", "concat"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CTC_CASES)
def test_ctc_loss(case, reduction, form):
    seed, T, N, C, blank = CTC_CASES[case]
    lp, t, il, tl = _ctc_case(seed, T, N, C, blank)
    parity(_ctc(reduction, form=form, blank=blank), [lp, t, il, tl], np.float64,
           requires_grad=[True, False, False, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss_float32(reduction):
    lp, t, il, tl = _ctc_case(5, 8, 3, 5)
    parity(_ctc(reduction), [lp.astype(np.float32), t, il, tl], np.float32,
           requires_grad=[True, False, False, False])


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_loss_impossible_alignments(reduction, zero_infinity):
    """Too few frames for the target (repeats need a blank between; no frames at all): the
    loss is inf (gradient nan, as PyTorch) or, with zero_infinity, 0 with a zero gradient;
    an empty target with no frames has loss 0."""
    lp, _, _, _ = _ctc_case(6, 6, 4, 5)
    t = np.array([[1, 1, 1], [3, 3, 0], [4, 0, 0], [2, 0, 0]])
    il, tl = np.array([4, 6, 0, 0]), np.array([3, 2, 1, 0])
    parity(_ctc(reduction, zero_infinity), [lp, t, il, tl], np.float64,
           requires_grad=[True, False, False, False])


def test_ctc_loss_unbatched():
    lp, t, il, tl = _ctc_case(7, 7, 1, 5)
    for r in REDUCTIONS:
        parity(lambda m, lp, t, il, tl, r=r: m.nn.functional.ctc_loss(
            lp[:, 0], t[0, :int(tl[0])], il[0], tl[0], reduction=r),
               [lp, t, il, tl], np.float64, requires_grad=[True, False, False, False])


def test_ctc_loss_gradcheck():
    """Finite differences through log_softmax (PyTorch's CTC gradient assumes normalised
    log-probabilities: its exp(lp) term is cancelled by log_softmax's backward)."""
    _, t, il, tl = _ctc_case(8, 6, 3, 4)
    Op(lambda m, x: m.nn.functional.ctc_loss(
        x.log_softmax(2), m.tensor(t), m.tensor(il), m.tensor(tl))).gradcheck(shapes=((6, 3, 4),))
    _, t, il, tl = _ctc_case(9, 6, 3, 4, blank=3)
    Op(lambda m, x: m.nn.functional.ctc_loss(
        x.log_softmax(2), m.tensor(t), m.tensor(il), m.tensor(tl), reduction="none",
        blank=3)).gradcheck(shapes=((6, 3, 4),))


def test_ctc_loss_errors():
    lp = ember.randn(5, 3, 4).log_softmax(2)
    t = ember.tensor([[1, 1, 2], [1, 2, 3], [3, 3, 3]])
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths must be in \[0, T=5\], got "
                                         r"\[6, 5, 5\]"):
        F.ctc_loss(lp, t, (6, 5, 5), (3, 2, 3))
    with pytest.raises(ValueError, match=r"ctc_loss: padded targets must be \(N=3, S >= 4\)"):
        F.ctc_loss(lp, t, (5, 5, 5), (3, 2, 4))
    with pytest.raises(ValueError, match=r"ctc_loss: blank must be in label range \[0, 4\), "
                                         r"got 4"):
        F.ctc_loss(lp, t, (5, 5, 5), (3, 2, 3), blank=4)
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths must be of size batch_size "
                                         r"\(3\), got \(2,\)"):
        F.ctc_loss(lp, t, (5, 5), (3, 2, 3))
    with pytest.raises(ValueError, match=r"ctc_loss: concatenated targets must have "
                                         r"sum\(target_lengths\) = 8 elements, got \(4,\)"):
        F.ctc_loss(lp, ember.tensor([1, 2, 3, 1]), (5, 5, 5), (3, 2, 3))
    with pytest.raises(ValueError, match=r"ctc_loss: target value 0 is out of range for 4 "
                                         r"classes or is the blank \(0\)"):
        F.ctc_loss(lp, ember.tensor([[1, 0], [1, 1], [2, 2]]), (5, 5, 5), (2, 2, 2))
    with pytest.raises(ValueError, match=r"ctc_loss: expected log_probs \(T, N, C\) or \(T, C\), "
                                         r"got \(5,\)"):
        F.ctc_loss(ember.randn(5), t, (5,), (3,))
    with pytest.raises(ValueError, match="ctc_loss: reduction must be one of"):
        F.ctc_loss(lp, t, (5, 5, 5), (3, 2, 3), reduction="batchmean")


def test_nll_losses_on_device(device):
    """Poisson, Gaussian and CTC run where their inputs live and agree with the CPU."""
    lp, t, il, tl = _ctc_case(4, 8, 3, 5)
    x, y = rng(0).normal(size=(3, 4)), _counts((3, 4), 1)
    out = []
    for dev in ("cpu", device):
        xe = ember.tensor(x, requires_grad=True, device=dev)
        le = ember.tensor(lp, requires_grad=True, device=dev)
        loss = (F.poisson_nll_loss(xe, ember.tensor(y, device=dev), full=True)
                + F.gaussian_nll_loss(xe, xe.flip(0), ember.tensor(y[:, 0] / 4, device=dev))
                + F.ctc_loss(le, ember.tensor(t, device=dev), ember.tensor(il, device=dev),
                             tuple(tl)))
        loss.backward()
        out.append((loss.item(), xe.grad.detach().cpu().numpy(),
                    le.grad.detach().cpu().numpy()))
    assert abs(out[0][0] - out[1][0]) < 1e-10
    for a, b in zip(out[0][1:], out[1][1:]):
        np.testing.assert_allclose(a, b, atol=1e-12)
