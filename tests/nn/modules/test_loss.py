"""Loss layers against PyTorch: values and gradients in float64 and float32 (NLLLoss, BCELoss,
KLDivLoss, CosineEmbeddingLoss over every reduction and weighting; CrossEntropyLoss and
BCEWithLogitsLoss on logits of +-1e4), weight and pos_weight buffers, errors naming the
layer."""
import numpy as np
import pytest
from _parity import DEVICE, EMBER, host, import_torch
from nn._loss_cases import DTYPES, REDUCTIONS, SHAPES, class_target, parity, rng, softmax

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_extreme_logits(weighted, smoothing, dtype):
    """Logits of +-1e4: the loss and gradient are finite and equal to PyTorch's."""
    x = (rng(1).choice([-1e4, 1e4], (8, 6)) * rng(2).uniform(0.5, 1, (8, 6))).astype(dtype)
    t = rng(3).integers(0, 6, 8)
    w = rng(4).uniform(0.2, 2, 6).astype(dtype)

    def case(m, x, t):
        return m.nn.CrossEntropyLoss(weight=m.tensor(w) if weighted else None,
                                     label_smoothing=smoothing)(x, t)
    xe = ember.tensor(x, requires_grad=True, device=DEVICE)
    loss = case(EMBER, xe, ember.tensor(t, device=DEVICE))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(host(xe.grad)).all()
    parity(case, [x, t], dtype)
    parity(case, [x, softmax(rng(5).normal(size=(8, 6)), 1).astype(dtype)], dtype)


def test_cross_entropy_module_and_buffers():
    torch = import_torch()
    w = rng(0).uniform(0.5, 1.5, 4)
    e = EMBER.nn.CrossEntropyLoss(weight=EMBER.tensor(w), ignore_index=0, label_smoothing=0.3)
    tm = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=0, label_smoothing=0.3)
    assert list(e.state_dict()) == list(tm.state_dict()) == ["weight"]
    assert repr(e) == "CrossEntropyLoss()"
    e.load_state_dict({"weight": tm.state_dict()["weight"].numpy() * 2})
    tm.weight.mul_(2)
    x, t = rng(1).normal(size=(5, 4, 3)), rng(2).integers(0, 4, (5, 3))
    parity(lambda m, x, t: (tm if m is torch else e)(x, t), [x, t], np.float64)


# --- NLL ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", ["none", "default", "class"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nll_loss(shape, ignore, weighted, reduction, dtype):
    shape = SHAPES[shape]
    x = np.log(softmax(rng(1).normal(size=shape), 1 if len(shape) > 1 else 0)).astype(dtype)
    t, ignore_index = class_target(shape, ignore)
    w = rng(2).uniform(0.2, 2, x.shape[1 if x.ndim > 1 else 0]).astype(dtype)

    def case(m, x, t):
        weight = m.tensor(w) if weighted else None
        return m.nn.NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction)(x, t)
    parity(case, [x, t], dtype)


# --- binary cross-entropy -------------------------------------------------------------
BCE_WEIGHTS = {"none": None, "class": (3,), "full": (2, 3), "nd": (2, 3, 4)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", BCE_WEIGHTS)
def test_binary_cross_entropy(weight, reduction, dtype):
    shape = (2, 3, 4) if weight == "nd" else (2, 3)
    x = rng(1).uniform(0.05, 0.95, shape).astype(dtype)
    t = rng(2).uniform(0, 1, shape).astype(dtype)
    wshape = (4,) if weight == "nd" else BCE_WEIGHTS[weight]
    w = None if wshape is None else rng(3).uniform(0.2, 2, wshape).astype(dtype)

    def case(m, x, t):
        return m.nn.BCELoss(weight=None if w is None else m.tensor(w), reduction=reduction)(x, t)
    parity(case, [x, t], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [False, True])
def test_binary_cross_entropy_with_logits_extreme(pos_weight, dtype):
    x = (rng(1).choice([-1e4, 1e4], (5, 3)) * rng(2).uniform(0.5, 1, (5, 3))).astype(dtype)
    t = rng(3).uniform(0, 1, (5, 3)).astype(dtype)
    pw = np.array([0.5, 1.0, 3.0], dtype)

    def case(m, x, t):
        return m.nn.BCEWithLogitsLoss(pos_weight=m.tensor(pw) if pos_weight else None,
                                      reduction="sum")(x, t)
    xe, te = (ember.tensor(a, requires_grad=True, device=DEVICE) for a in (x, t))
    loss = case(EMBER, xe, te)
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(host(xe.grad)).all()
    assert np.isfinite(host(te.grad)).all()
    parity(case, [x, t], dtype)


def test_bce_with_logits_module_buffers():
    torch = import_torch()
    w, pw = np.ones(3), np.full(3, 2.0)
    e = EMBER.nn.BCEWithLogitsLoss(weight=EMBER.tensor(w), pos_weight=EMBER.tensor(pw))
    tm = torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(pw))
    assert list(e.state_dict()) == list(tm.state_dict()) == ["weight", "pos_weight"]
    assert list(EMBER.nn.BCEWithLogitsLoss().state_dict()) == []


# --- KL divergence and cosine embedding -----------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "batchmean", "sum", "mean"])
def test_kl_div(reduction, log_target, dtype):
    x = np.log(softmax(rng(1).normal(size=(4, 5)), 1)).astype(dtype)
    p = softmax(rng(2).normal(size=(4, 5)), 1)
    t = (np.log(p) if log_target else p).astype(dtype)
    parity(lambda m, x, t: m.nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, t),
           [x, t], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3])
@pytest.mark.parametrize("batched", [True, False])
def test_cosine_embedding_loss(batched, margin, reduction, dtype):
    shape = (6, 4) if batched else (4,)
    a, b = (rng(i).normal(size=shape).astype(dtype) for i in (1, 2))
    y = np.array([1, -1, -1, 1, -1, 1]) if batched else np.array(-1)

    def case(m, a, b, y):
        return m.nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)(a, b, y)
    parity(case, [a, b, y], dtype)


# --- errors at the boundary -----------------------------------------------------------
def test_cross_entropy_target_shape_error():
    with pytest.raises(ValueError) as e:
        ember.nn.CrossEntropyLoss()(ember.randn(4, 10), ember.tensor([0, 1, 2, 3, 4]))
    assert str(e.value) == ("CrossEntropyLoss: cross_entropy: target shape (5,) does not match "
                            "input shape (4, 10) (expected (4,) class indices or (4, 10) "
                            "probabilities)")
    with pytest.raises(ValueError, match=r"NLLLoss: nll_loss: target shape \(4, 2\) does not "
                                         r"match input shape \(4, 3, 5\) \(expected \(4, 5\) "
                                         r"class"):
        ember.nn.NLLLoss()(ember.randn(4, 3, 5), ember.zeros(4, 2, dtype=ember.int64))


def test_argument_errors():
    x = ember.randn(3, 4)
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: cross_entropy: weight shape \(3,\) "
                                         r"does not match "
                                         r"the 4 classes of input shape \(3, 4\)"):
        ember.nn.CrossEntropyLoss(weight=ember.ones(3))(x, ember.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of 'none', 'mean', 'sum', got "
                                         "'avg'"):
        ember.nn.L1Loss(reduction="avg")(x, x)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(x, ember.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="SmoothL1Loss: smooth_l1_loss: beta must be non-negative"):
        ember.nn.SmoothL1Loss(beta=-1)(x, x)
    with pytest.raises(ValueError, match="HuberLoss: huber_loss: delta must be positive"):
        ember.nn.HuberLoss(delta=0)(x, x)
    with pytest.raises(ValueError, match=r"CosineEmbeddingLoss: cosine_embedding_loss: input2 "
                                         r"shape \(3, 5\) does not "
                                         r"match input shape \(3, 4\)"):
        ember.nn.CosineEmbeddingLoss()(x, ember.randn(3, 5), ember.ones(3))
    with pytest.raises(ValueError, match=r"pos_weight shape \(5,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=ember.ones(5))


def test_bce_errors_name_both_shapes():
    with pytest.raises(ValueError) as e:
        ember.nn.BCELoss()(ember.rand(4, 3), ember.rand(4))
    assert str(e.value) == ("BCELoss: binary_cross_entropy: target shape (4,) does not match "
                            "input shape (4, 3) (they must be equal)")
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss: binary_cross_entropy_with_logits: "
                                         r"target shape \(3, 4\) does not match input shape \(4, "
                                         r"3\)"):
        ember.nn.BCEWithLogitsLoss()(ember.randn(4, 3), ember.rand(3, 4))
    with pytest.raises(ValueError, match=r"BCELoss: binary_cross_entropy: all elements of input "
                                         r"should be between 0 "
                                         r"and 1 .* got values in \[-0.5, 2.0\]"):
        ember.nn.BCELoss()(ember.tensor([-0.5, 0.5, 2.0]), ember.rand(3))
