"""Loss functions against PyTorch: values and gradients (of the input, and of the target
where PyTorch gives one) in float64 and float32, every reduction, class weights,
ignore_index, label smoothing, N-d inputs, batch 1, unbatched inputs; finite-difference
gradchecks; argument errors; the fused losses on each device."""
import numpy as np
import pytest
from _parity import host
from _table import Op
from nn._loss_cases import DTYPES, REDUCTIONS, SHAPES, class_target, parity, rng, softmax

import ember
import ember.nn.functional as F


# --- regression losses ----------------------------------------------------------------
def _loss(name, **kwargs):
    """``m.nn.functional.<name>(x, t, reduction=r, **kwargs)``, for ember and torch alike."""
    return lambda m, x, t, r: getattr(m.nn.functional, name)(x, t, reduction=r, **kwargs)


def _layer(name, **kwargs):
    """``m.nn.<name>(reduction=r, **kwargs)(x, t)``, for ember and torch alike."""
    return lambda m, x, t, r: getattr(m.nn, name)(reduction=r, **kwargs)(x, t)


# fn(m, x, t, reduction)
REGRESSION = {
    "mse": Op(_loss("mse_loss")),
    "l1": Op(_loss("l1_loss")),
    "smooth_l1": Op(_loss("smooth_l1_loss", beta=0.7)),
    "smooth_l1_beta0": Op(_loss("smooth_l1_loss", beta=0.0)),
    "huber": Op(_loss("huber_loss", delta=0.6)),
    "MSELoss": Op(_layer("MSELoss")),
    "L1Loss": Op(_layer("L1Loss")),
    "SmoothL1Loss": Op(_layer("SmoothL1Loss", beta=1.5)),
    "HuberLoss": Op(_layer("HuberLoss", delta=2.0)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_losses(name, reduction, dtype):
    x, t = (rng(i).uniform(-2, 2, (3, 4, 5)).astype(dtype) for i in (1, 2))
    parity(lambda m, x, t: REGRESSION[name].fn(m, x, t, reduction), [x, t], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_regression_elementwise_weight(name, reduction, dtype):
    """PyTorch 2.13's ``weight``: 'mean' is sum / sum(weight) for MSE and L1, a plain mean
    for Huber; the weight gets a gradient too."""
    x, t = (rng(i).uniform(-2, 2, (4, 3)).astype(dtype) for i in (1, 2))
    w = rng(3).uniform(0.1, 1, (4, 3)).astype(dtype)
    parity(lambda m, x, t, w: getattr(m.nn.functional, name)(x, t, reduction=reduction, weight=w),
           [x, t, w], dtype)


def test_regression_batch1_and_scalar():
    for shape in [(1,), (), (1, 1)]:
        x, t = (rng(i).uniform(-2, 2, shape) for i in (1, 2))
        for name in ["mse", "l1", "smooth_l1", "huber"]:
            parity(lambda m, x, t, f=REGRESSION[name].fn: f(m, x, t, "mean"), [x, t],
                   np.float64)


def test_legacy_size_average_and_reduce():
    x, t = (rng(i).uniform(-2, 2, (3, 4)) for i in (1, 2))
    for kw in [{"size_average": False}, {"reduce": False}, {"size_average": True}]:
        parity(lambda m, x, t, kw=kw: m.nn.MSELoss(**kw)(x, t), [x, t], np.float64)
        parity(lambda m, x, t, kw=kw: m.nn.functional.l1_loss(x, t, **kw), [x, t], np.float64)


def test_mismatched_target_broadcasts_with_a_warning():
    x, t = rng(1).uniform(-2, 2, (4, 3)), rng(2).uniform(-2, 2, (4, 1))
    with pytest.warns(UserWarning, match=r"target shape \(4, 1\) differs from input shape"):
        F.mse_loss(ember.tensor(x), ember.tensor(t))
    parity(lambda m, x, t: m.nn.functional.mse_loss(x, t), [x, t], np.float64)
    with pytest.raises(ValueError, match=r"MSELoss: mse_loss: target shape \(5,\) cannot be "
                                         r"broadcast to input shape \(4, 3\)"):
        ember.nn.MSELoss()(ember.tensor(x), ember.randn(5))


# --- cross-entropy and NLL ------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", ["none", "default", "class"])
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_class_indices(shape, ignore, weighted, smoothing, reduction, dtype):
    shape = SHAPES[shape]
    x = rng(1).uniform(-3, 3, shape).astype(dtype)
    t, ignore_index = class_target(shape, ignore)
    w = rng(2).uniform(0.2, 2, x.shape[1 if x.ndim > 1 else 0]).astype(dtype)

    def case(m, x, t):
        return m.nn.functional.cross_entropy(x, t, weight=m.tensor(w) if weighted else None,
                                 ignore_index=ignore_index, reduction=reduction,
                                 label_smoothing=smoothing)
    parity(case, [x, t], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_class_probabilities(shape, weighted, smoothing, reduction, dtype):
    """Soft targets: the gradient of the target is checked as well."""
    shape = SHAPES[shape]
    axis = 1 if len(shape) > 1 else 0
    x = rng(1).uniform(-3, 3, shape).astype(dtype)
    p = softmax(rng(2).normal(size=shape), axis).astype(dtype)
    w = rng(3).uniform(0.2, 2, shape[axis]).astype(dtype)

    def case(m, x, p):
        return m.nn.functional.cross_entropy(x, p, weight=m.tensor(w) if weighted else None,
                                 reduction=reduction, label_smoothing=smoothing)
    parity(case, [x, p], dtype)


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    loss = F.cross_entropy(x, ember.tensor([-100, -100, -100]), label_smoothing=0.1)
    loss.backward()
    assert np.isnan(loss.item()) and not x.grad.numpy().any()
    parity(lambda m, x, t: m.nn.functional.cross_entropy(x, t),
           [x.detach().numpy(), np.full(3, -100)], np.float64)


def test_nll_of_log_softmax_equals_cross_entropy():
    x = ember.randn(4, 7, 3, dtype=ember.float64)
    t = ember.randint(0, 7, (4, 3))
    a = F.nll_loss(F.log_softmax(x, 1), t).item()
    assert abs(a - F.cross_entropy(x, t).item()) < 1e-12


# --- binary cross-entropy and KL divergence ------------------------------------------
def test_binary_cross_entropy_clamps_log_at_minus_100():
    """Probabilities of exactly 0 and 1: PyTorch's clamped logs and its backward."""
    x = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1e-30]])
    t = np.array([[0.3, 0.6, 1.0], [1.0, 0.0, 0.5]])
    for r in REDUCTIONS:
        parity(lambda m, x, t, r=r: m.nn.functional.binary_cross_entropy(x, t, reduction=r), [x, t],
               np.float64, requires_grad=[True, False])
    parity(lambda m, x, t: m.nn.functional.binary_cross_entropy(x, t), [x.astype(np.float32),
           t.astype(np.float32)], np.float32, requires_grad=[True, False])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both", "nd"])
def test_binary_cross_entropy_with_logits(weights, reduction, dtype):
    shape = (2, 3, 2, 2) if weights == "nd" else (4, 3)
    x = rng(1).uniform(-4, 4, shape).astype(dtype)
    t = rng(2).uniform(0, 1, shape).astype(dtype)
    w = rng(3).uniform(0.2, 2, shape[1:] if weights != "nd" else shape).astype(dtype)
    pw = rng(4).uniform(0.2, 3, (3,) if weights != "nd" else (3, 1, 1)).astype(dtype)

    def case(m, x, t):
        return m.nn.functional.binary_cross_entropy_with_logits(
            x, t, weight=m.tensor(w) if weights in ("weight", "both", "nd") else None,
            pos_weight=m.tensor(pw) if weights in ("pos_weight", "both", "nd") else None,
            reduction=reduction)
    parity(case, [x, t], dtype)


def test_kl_div_zero_target_and_mean_warning():
    x = np.log(softmax(rng(1).normal(size=(3, 4)), 1))
    t = np.array([[0.0, 0.5, 0.5, 0.0], [0.25] * 4, [1.0, 0, 0, 0]])
    parity(lambda m, x, t: m.nn.functional.kl_div(x, t, reduction="batchmean"), [x, t], np.float64,
           requires_grad=[True, False])
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(ember.tensor(x), ember.tensor(t))


# --- finite-difference gradchecks -----------------------------------------------------
def _t(m, a):
    return m.tensor(np.asarray(a))


GRADCHECKS = {  # ember only (finite differences)
    "mse": Op(lambda m, x, t: m.nn.functional.mse_loss(x, t, reduction="none"),
              shapes=((3, 4), (3, 4))),
    "l1": Op(lambda m, x, t: m.nn.functional.l1_loss(x, t, reduction="sum"),
             shapes=((3, 4), (3, 4))),
    "smooth_l1": Op(lambda m, x, t: m.nn.functional.smooth_l1_loss(x, t, beta=1.3),
                    shapes=((3, 4), (3, 4))),
    "huber": Op(lambda m, x, t: m.nn.functional.huber_loss(x, t, delta=0.8, reduction="none"),
                shapes=((3, 4), (3, 4))),
    "ce": Op(lambda m, x: m.nn.functional.cross_entropy(
        x, _t(m, [0, 3, -100, 2, 1]), weight=_t(m, [.5, 1, 2, 1.5]), label_smoothing=0.2,
        reduction="none"), shapes=((5, 4),)),
    "ce_mean": Op(lambda m, x: m.nn.functional.cross_entropy(
        x, _t(m, [0, 3, 1, 2, 1]), weight=_t(m, [.5, 1, 2, 1.5]), ignore_index=1),
        shapes=((5, 4),)),
    "ce_nd": Op(lambda m, x: m.nn.functional.cross_entropy(x, _t(m, [[0, 2], [1, 1]]),
                                                          label_smoothing=0.1),
                shapes=((2, 3, 2),)),
    "ce_probs": Op(lambda m, x, p: m.nn.functional.cross_entropy(x, p.abs(), label_smoothing=0.1,
                                                                reduction="none"),
                   shapes=((3, 4), (3, 4))),
    "nll": Op(lambda m, x: m.nn.functional.nll_loss(x, _t(m, [[0, 2], [-100, 1]]),
                                                    weight=_t(m, [1., 2, 3]), reduction="none"),
              shapes=((2, 3, 2),)),
    "nll_mean": Op(lambda m, x: m.nn.functional.nll_loss(x, _t(m, [0, 2, 1]),
                                                         weight=_t(m, [1., 2, 3])),
                   shapes=((3, 3),)),
    "bce": Op(lambda m, x, t: m.nn.functional.binary_cross_entropy(x.sigmoid(), t,
                                                                   weight=_t(m, [1., 2, 3])),
              shapes=((2, 3), (2, 3))),
    "bce_logits": Op(lambda m, x, t: m.nn.functional.binary_cross_entropy_with_logits(
        x, t, weight=_t(m, [1., 2, 3]), pos_weight=_t(m, [.5, 1, 2]), reduction="none"),
        shapes=((2, 3), (2, 3))),
    "kl": Op(lambda m, x, t: m.nn.functional.kl_div(x, t.abs(), reduction="batchmean"),
             shapes=((3, 4), (3, 4))),
    "kl_log": Op(lambda m, x, t: m.nn.functional.kl_div(x, t, reduction="sum", log_target=True),
                 shapes=((3, 4), (3, 4))),
    "cosine": Op(lambda m, a, b: m.nn.functional.cosine_embedding_loss(
        a, b, _t(m, [1, -1, -1]), margin=-0.5, reduction="none"), shapes=((3, 4), (3, 4))),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    GRADCHECKS[name].gradcheck(away_from=0)


# --- errors at the boundary -----------------------------------------------------------
def test_class_target_value_errors():
    x = ember.randn(3, 10)
    for bad in (10, -3):
        with pytest.raises(ValueError, match=rf"CrossEntropyLoss: cross_entropy: target value "
                                             rf"{bad} "
                                             r"is out of range for 10 classes \(expected 0 <= "
                                             r"target < "
                                             r"10, or ignore_index=-100\)"):
            ember.nn.CrossEntropyLoss()(x, ember.tensor([1, bad, 2]))
    with pytest.raises(ValueError, match="nll_loss: target value 12 is out of range"):
        F.nll_loss(x, ember.tensor([12, 0, 0]))
    with pytest.raises(ValueError, match="class-index target must be an integer tensor"):
        F.cross_entropy(x, ember.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="probabilities and must be floating point"):
        F.cross_entropy(x, ember.zeros(3, 10, dtype=ember.int64))
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(x, ember.rand(3, 10), ignore_index=0)


def test_losses_on_device(device):
    """The fused losses run where their inputs live and agree with the CPU."""
    x = rng(0).normal(size=(4, 5, 3))
    t = rng(1).integers(0, 5, (4, 3))
    out = []
    for dev in ("cpu", device):
        xe = ember.tensor(x, requires_grad=True, device=dev)
        loss = (F.cross_entropy(xe, ember.tensor(t, device=dev), label_smoothing=0.1)
                + F.binary_cross_entropy_with_logits(xe, xe.sigmoid().detach())
                + F.nll_loss(xe, ember.tensor(t, device=dev), reduction="sum"))
        loss.backward()
        out.append((loss.item(), host(xe.grad)))
    assert abs(out[0][0] - out[1][0]) < 1e-10
    np.testing.assert_allclose(out[0][1], out[1][1], atol=1e-12)
