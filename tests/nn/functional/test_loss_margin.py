"""Margin losses against PyTorch: values and gradients in float64 and float32 over every
reduction (and the legacy size_average/reduce pair), broadcasting, unbatched inputs, class
weights, -1-padded multi-label targets, p and swap of the triplet losses; finite-difference
gradchecks; extreme logits of the soft margin loss; argument errors naming the function."""
import numpy as np
import pytest
from _table import Op
from nn._loss_cases import DTYPES, REDUCTIONS, parity, rng

import ember
import ember.nn.functional as F


def _sign(shape, seed):
    return rng(seed).choice([-1.0, 1.0], shape)


def _labels(N, C, seed=0):
    """-1-padded multi-label targets with repeated labels and an empty row."""
    t = np.full((N, C), -1, np.int64)
    r = rng(seed)
    for n in range(N):
        k = r.integers(0, C) if n else 0
        t[n, :k] = r.integers(0, C, k)
    if N > 1 and C > 2:
        t[1, :3] = [2, 2, 0]  # a repeated label
    return t


# case(m, reduction, dtype) -> (fn(m, *tensors), inputs)
CASES = {
    "margin_ranking": lambda r, dt: (
        lambda m, a, b, y: m.nn.functional.margin_ranking_loss(a, b, y, margin=0.3,
                                                               reduction=r),
        [rng(1).normal(size=(6,)), rng(2).normal(size=(6,)), _sign((6,), 3)]),
    "margin_ranking_broadcast": lambda r, dt: (
        lambda m, a, b, y: m.nn.functional.margin_ranking_loss(a, b, y, reduction=r),
        [rng(1).normal(size=(4, 1)), rng(2).normal(size=(1, 3)), _sign((4, 3), 3)]),
    "hinge_embedding": lambda r, dt: (
        lambda m, x, y: m.nn.functional.hinge_embedding_loss(x, y, margin=0.7, reduction=r),
        [rng(1).uniform(-1, 2, (4, 5)), _sign((4, 5), 2)]),
    "soft_margin": lambda r, dt: (
        lambda m, x, y: m.nn.functional.soft_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(4, 5)) * 3, _sign((4, 5), 2)]),
    "multilabel_soft_margin": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multilabel_soft_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(4, 5)) * 3, rng(2).uniform(0, 1, (4, 5))]),
    "multilabel_soft_margin_weight_nd": lambda r, dt: (
        lambda m, x, y, w: m.nn.functional.multilabel_soft_margin_loss(x, y, weight=w,
                                                                       reduction=r),
        [rng(1).normal(size=(2, 3, 5)), rng(2).integers(0, 2, (2, 3, 5)).astype(float),
         rng(3).uniform(0.2, 2, (5,))]),
    "multilabel_soft_margin_unbatched": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multilabel_soft_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(5,)), rng(2).uniform(0, 1, (5,))]),
    "multilabel_margin": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multilabel_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(5, 6)), _labels(5, 6)]),
    "multilabel_margin_unbatched": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multilabel_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(6,)), np.array([3, 0, 3, -1, 1, 2])]),
    "multi_margin_p1": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multi_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(6, 4)), rng(2).integers(0, 4, 6)]),
    "multi_margin_p2_weight": lambda r, dt: (
        lambda m, x, y, w: m.nn.functional.multi_margin_loss(x, y, p=2, margin=0.6, weight=w,
                                                             reduction=r),
        [rng(1).normal(size=(6, 4)), rng(2).integers(0, 4, 6), rng(3).uniform(0.2, 2, 4)]),
    "multi_margin_unbatched": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multi_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(5,)), np.array([2])]),
    "multi_margin_unbatched_0d": lambda r, dt: (
        lambda m, x, y: m.nn.functional.multi_margin_loss(x, y, reduction=r),
        [rng(1).normal(size=(5,)), np.array(2)]),
    "triplet_p2": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_loss(a, p, n, margin=1.5,
                                                               reduction=r),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)]),
    "triplet_p1_swap": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_loss(a, p, n, p=1, swap=True,
                                                               margin=2.0, reduction=r),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)]),
    "triplet_p3_eps_broadcast": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_loss(a, p, n, p=3, eps=1e-3,
                                                               swap=True, reduction=r),
        [rng(1).normal(size=(5, 4)), rng(2).normal(size=(1, 4)), rng(3).normal(size=(5, 4))]),
    "triplet_pinf_p05": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_loss(a, p, n, p=float("inf"),
                                                               reduction=r)
        + m.nn.functional.triplet_margin_loss(a, p, n, p=0.5, margin=3.0, reduction=r),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)]),
    "triplet_unbatched": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_loss(a, p, n, margin=3.0,
                                                               reduction=r),
        [rng(i).normal(size=(4,)) for i in (1, 2, 3)]),
    "triplet_distance_default": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_with_distance_loss(
            a, p, n, margin=1.5, swap=True, reduction=r),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)]),
    "triplet_distance_cosine": lambda r, dt: (
        lambda m, a, p, n: m.nn.functional.triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda x, y: 1 - (x * y).sum(-1) / (
                x.norm(2, -1) * y.norm(2, -1)), margin=0.5, reduction=r),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CASES)
def test_parity(name, reduction, dtype):
    fn, inputs = CASES[name](reduction, dtype)
    inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    grads = [a.dtype.kind == "f" for a in inputs]
    if name.startswith(("soft_margin", "hinge")):
        grads[1] = False  # PyTorch refuses (soft margin) or gives none (a where condition)
    if name == "multi_margin_p2_weight":
        grads[2] = False  # PyTorch refuses a weight that requires grad
    parity(fn, inputs, dtype, requires_grad=grads)


def test_legacy_size_average_and_reduce():
    x, y = rng(1).normal(size=(4, 3)), _sign((4, 3), 2)
    for kw in [{"size_average": False}, {"reduce": False}, {"size_average": True}]:
        parity(lambda m, x, y, kw=kw: m.nn.functional.soft_margin_loss(x, y, **kw), [x, y],
               np.float64, requires_grad=[True, False])
        parity(lambda m, x, y, kw=kw: m.nn.functional.multi_margin_loss(
            x, m.tensor([0, 2, 1, 1]), **kw), [x, y], np.float64)
        parity(lambda m, a, b, kw=kw: m.nn.functional.triplet_margin_loss(a, b, b * 2, **kw),
               [x, y], np.float64)


def test_soft_margin_is_finite_for_extreme_logits():
    """Where PyTorch's log1p(exp(-y x)) overflows to inf, the stable form gives -y x."""
    x = ember.tensor([1e4, -1e4, 800.0, -800.0], dtype=ember.float64, requires_grad=True)
    y = ember.tensor([-1.0, 1.0, 1.0, -1.0], dtype=ember.float64)
    loss = F.soft_margin_loss(x, y, reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.detach().numpy(), [1e4, 1e4, 0, 0], atol=1e-300)
    np.testing.assert_allclose(x.grad.numpy(), [1, -1, 0, 0], atol=1e-300)
    x32 = ember.tensor([100.0, -100.0], dtype=ember.float32)
    assert np.isfinite(F.soft_margin_loss(x32, ember.tensor([-1.0, 1.0])).item())


def _t(m, a):
    return m.tensor(np.asarray(a))


GRADCHECKS = {  # finite differences, ember only
    "margin_ranking": Op(lambda m, a, b: m.nn.functional.margin_ranking_loss(
        a, b, _t(m, [1.0, -1.0, 1.0]), margin=0.1, reduction="none"), shapes=((3,), (3,))),
    "hinge_embedding": Op(lambda m, x: m.nn.functional.hinge_embedding_loss(
        x, _t(m, [1.0, -1, -1, 1]), margin=1.5), shapes=((3, 4),)),
    "soft_margin": Op(lambda m, x: m.nn.functional.soft_margin_loss(
        x, _t(m, [1.0, -1, -1, 1]), reduction="sum"), shapes=((3, 4),)),
    "multilabel_soft_margin": Op(lambda m, x, y: m.nn.functional.multilabel_soft_margin_loss(
        x, y, weight=_t(m, [1.0, 2, 0.5, 1]), reduction="none"), shapes=((3, 4), (3, 4))),
    "multilabel_margin": Op(lambda m, x: m.nn.functional.multilabel_margin_loss(
        x, _t(m, [[1, 1, 3, -1], [-1, 0, 0, 0], [0, 1, 2, 3]])), shapes=((3, 4),)),
    "multi_margin": Op(lambda m, x: m.nn.functional.multi_margin_loss(
        x, _t(m, [1, 0, 3]), p=2, weight=_t(m, [1.0, 2, 0.5, 1]), reduction="none"),
        shapes=((3, 4),)),
    "triplet": Op(lambda m, a, p, n: m.nn.functional.triplet_margin_loss(
        a, p, n, p=3, swap=True, margin=3.0), shapes=((3, 4), (3, 4), (3, 4))),
    "triplet_distance": Op(lambda m, a, p, n: m.nn.functional.triplet_margin_with_distance_loss(
        a, p, n, margin=3.0, reduction="sum"), shapes=((3, 4), (3, 4), (3, 4))),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    GRADCHECKS[name].gradcheck(away_from=0)


def test_errors_name_the_function_and_shapes():
    x = ember.randn(3, 4)
    with pytest.raises(ValueError, match=r"margin_ranking_loss: all input tensors should have "
                                         r"the same number of dims, got input1 \(3,\), "
                                         r"input2 \(3, 1\)"):
        F.margin_ranking_loss(ember.randn(3), ember.randn(3, 1), ember.randn(3))
    with pytest.raises(ValueError, match=r"hinge_embedding_loss: shapes do not broadcast: "
                                         r"input \(3,\), target \(4,\)"):
        F.hinge_embedding_loss(ember.randn(3), ember.randn(4))
    with pytest.raises(ValueError, match=r"soft_margin_loss: target shape \(3, 5\) does not "
                                         r"broadcast to input shape \(3, 4\)"):
        F.soft_margin_loss(x, ember.randn(3, 5))
    with pytest.raises(ValueError, match="soft_margin_loss: is not differentiable with respect "
                                         "to target"):
        F.soft_margin_loss(x, ember.randn(3, 4, requires_grad=True))
    with pytest.raises(ValueError, match="multilabel_soft_margin_loss: input must have a class"):
        F.multilabel_soft_margin_loss(ember.tensor(1.0), ember.tensor(1.0))
    with pytest.raises(ValueError, match=r"multilabel_margin_loss: expected input \(C,\) or "
                                         r"\(N, C\) and a target of the same shape, got input "
                                         r"\(3, 4\) and target \(3,\)"):
        F.multilabel_margin_loss(x, ember.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"multilabel_margin_loss: target value 4 is out of "
                                         r"range for 4 classes \(expected -1 <= target < 4\)"):
        F.multilabel_margin_loss(x, ember.tensor([[4, -1, 0, 0]] * 3))
    with pytest.raises(ValueError, match="multilabel_margin_loss: target must be an integer"):
        F.multilabel_margin_loss(x, ember.zeros(3, 4))
    with pytest.raises(ValueError, match="multi_margin_loss: only p == 1 and p == 2"):
        F.multi_margin_loss(x, ember.tensor([0, 1, 2]), p=3)
    with pytest.raises(ValueError, match=r"multi_margin_loss: target should be 1-D with one "
                                         r"class index per sample, expected \(3,\), got \(2,\)"):
        F.multi_margin_loss(x, ember.tensor([0, 1]))
    with pytest.raises(ValueError, match="multi_margin_loss: target value 7 is out of range"):
        F.multi_margin_loss(x, ember.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match=r"multi_margin_loss: weight shape \(3,\) does not "
                                         r"match the 4 classes"):
        F.multi_margin_loss(x, ember.tensor([0, 1, 2]), weight=ember.ones(3))
    with pytest.raises(ValueError, match=r"multi_margin_loss: expected input \(C,\) or \(N, C\)"):
        F.multi_margin_loss(ember.randn(2, 3, 4), ember.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"triplet_margin_loss: the anchor, positive, and "
                                         r"negative tensors are expected to have the same "
                                         r"number of dimensions, got anchor \(3, 4\), "
                                         r"positive \(4,\)"):
        F.triplet_margin_loss(x, ember.randn(4), x)
    with pytest.raises(ValueError, match=r"triplet_margin_loss: shapes do not broadcast"):
        F.triplet_margin_loss(x, ember.randn(2, 4), x)
    with pytest.raises(ValueError, match="triplet_margin_with_distance_loss: expected margin "
                                         "to be greater than 0, got 0"):
        F.triplet_margin_with_distance_loss(x, x, x, margin=0)
    with pytest.raises(ValueError, match="triplet_margin_loss: reduction must be one of"):
        F.triplet_margin_loss(x, x, x, reduction="batchmean")


def test_margin_losses_on_device(device):
    """Every margin loss runs where its inputs live and agrees with the CPU."""
    x, y = rng(0).normal(size=(4, 5)), _sign((4, 5), 1)
    labels, cls = _labels(4, 5), rng(2).integers(0, 5, 4)
    out = []
    for dev in ("cpu", device):
        def t(a, dev=dev):
            return ember.tensor(a, device=dev)
        xe = ember.tensor(x, requires_grad=True, device=dev)
        loss = (F.margin_ranking_loss(xe, xe.flip(0), t(y), margin=0.2)
                + F.hinge_embedding_loss(xe, t(y)) + F.soft_margin_loss(xe, t(y))
                + F.multilabel_soft_margin_loss(xe, t((y + 1) / 2), weight=t(np.ones(5)))
                + F.multilabel_margin_loss(xe, t(labels))
                + F.multi_margin_loss(xe, t(cls), p=2, weight=t(np.arange(1.0, 6)))
                + F.triplet_margin_loss(xe, xe * 2, xe.flip(1), swap=True)
                + F.triplet_margin_with_distance_loss(xe, xe * 2, xe.flip(1)))
        loss.backward()
        out.append((loss.item(), xe.grad.detach().cpu().numpy()))
    assert abs(out[0][0] - out[1][0]) < 1e-10
    np.testing.assert_allclose(out[0][1], out[1][1], atol=1e-12)
