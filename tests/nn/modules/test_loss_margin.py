"""Margin loss layers against PyTorch: every layer over every reduction in float64 and
float32 (values and gradients), constructor arguments and legacy size_average/reduce, the
weight buffers and their state_dict keys, constructor errors, and errors naming the layer
and the function."""
import numpy as np
import pytest
from _parity import import_torch
from nn._loss_cases import DTYPES, REDUCTIONS, parity, rng

import ember

W = rng(9).uniform(0.2, 2, 4)
SIGN = rng(3).choice([-1.0, 1.0], (5, 4))
LABELS = np.array([[1, 1, 3, -1], [-1, 0, 0, 0], [0, 1, 2, 3], [2, -1, 1, 1], [3, 0, -1, 2]])

# name -> (fn(m, reduction, *tensors), inputs, requires_grad)
LAYERS = {
    "MarginRankingLoss": (lambda m, r, a, b, y: m.nn.MarginRankingLoss(margin=0.2,
                                                                       reduction=r)(a, b, y),
                          [rng(1).normal(size=(5,)), rng(2).normal(size=(5,)), SIGN[:, 0]],
                          None),
    "HingeEmbeddingLoss": (lambda m, r, x, y: m.nn.HingeEmbeddingLoss(margin=0.5,
                                                                      reduction=r)(x, y),
                           [rng(1).uniform(-1, 2, (5, 4)), SIGN], [True, False]),
    "SoftMarginLoss": (lambda m, r, x, y: m.nn.SoftMarginLoss(reduction=r)(x, y),
                       [rng(1).normal(size=(5, 4)), SIGN], [True, False]),
    "MultiLabelSoftMarginLoss": (
        lambda m, r, x, y, w: m.nn.MultiLabelSoftMarginLoss(weight=w, reduction=r)(x, y),
        [rng(1).normal(size=(5, 4)), rng(2).uniform(0, 1, (5, 4)), W], [True, True, False]),
    "MultiLabelMarginLoss": (lambda m, r, x, y: m.nn.MultiLabelMarginLoss(reduction=r)(x, y),
                             [rng(1).normal(size=(5, 4)), LABELS], None),
    "MultiMarginLoss": (lambda m, r, x, y: m.nn.MultiMarginLoss(p=2, margin=0.8,
                                                                reduction=r)(x, y),
                        [rng(1).normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])], None),
    "TripletMarginLoss": (lambda m, r, a, p, n: m.nn.TripletMarginLoss(
        margin=1.2, p=1.5, eps=1e-4, swap=True, reduction=r)(a, p, n),
        [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)], None),
    "TripletMarginWithDistanceLoss": (lambda m, r, a, p, n: m.nn.TripletMarginWithDistanceLoss(
        distance_function=lambda x, y: (x - y).abs().sum(-1), margin=1.5, swap=True,
        reduction=r)(a, p, n), [rng(i).normal(size=(5, 4)) for i in (1, 2, 3)], None),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LAYERS)
def test_layer_parity(name, reduction, dtype):
    fn, inputs, grads = LAYERS[name]
    inputs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    parity(lambda m, *xs: fn(m, reduction, *xs), inputs, dtype, requires_grad=grads)


def test_legacy_arguments_and_weight_buffers():
    torch = import_torch()
    x, y = rng(1).normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    for kw in [{"size_average": False}, {"reduce": False}]:
        parity(lambda m, x, y, kw=kw: m.nn.MultiMarginLoss(weight=m.tensor(W), **kw)(x, y),
               [x, y], np.float64)
        parity(lambda m, a, b, kw=kw: m.nn.TripletMarginLoss(**kw)(a, b, a * b), [x, x + 1],
               np.float64)
    for cls in ("MultiMarginLoss", "MultiLabelSoftMarginLoss"):
        e, t = getattr(ember.nn, cls)(weight=ember.tensor(W)), getattr(torch.nn, cls)(
            weight=torch.tensor(W))
        assert list(e.state_dict()) == list(t.state_dict()) == ["weight"]
        assert repr(e) == repr(t) == f"{cls}()"
        assert list(getattr(ember.nn, cls)().state_dict()) == list(
            getattr(torch.nn, cls)().state_dict()) == []


def test_errors_name_the_layer():
    x = ember.randn(3, 4)
    with pytest.raises(ValueError, match=r"MultiMarginLoss: multi_margin_loss: target value 4 "
                                         r"is out of range"):
        ember.nn.MultiMarginLoss()(x, ember.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match=r"TripletMarginLoss: triplet_margin_loss: the anchor, "
                                         r"positive, and negative tensors"):
        ember.nn.TripletMarginLoss()(x, ember.randn(4), x)
    with pytest.raises(ValueError, match=r"MultiLabelMarginLoss: multilabel_margin_loss: "
                                         r"expected input \(C,\) or \(N, C\)"):
        ember.nn.MultiLabelMarginLoss()(x, ember.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        ember.nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match=r"MultiMarginLoss: expected weight to be a 1-D tensor"):
        ember.nn.MultiMarginLoss(weight=ember.ones(2, 2))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater "
                                         "than 0, got 0"):
        ember.nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin"):
        ember.nn.TripletMarginWithDistanceLoss(margin=-1.0)
