"""F.embedding against PyTorch: lookups and weight gradients (repeats, padding_idx,
scale_grad_by_freq), and a finite-difference gradcheck."""
import numpy as np
import pytest
from _parity import DEVICE, check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional

IDX = {
    "vector": np.array([3, 1, 4, 1, 5]),
    "matrix": np.array([[0, 2, 2], [9, 0, 7]]),
    "batch1": np.array([[6]]),
    "scalar": np.array(8),
}


@pytest.mark.parametrize("idx", IDX, ids=str)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 0}, {"padding_idx": -1},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 2, "scale_grad_by_freq": True}], ids=str)
def test_functional_parity(idx, kwargs):
    w, = random_inputs([(10, 4)])
    check_op(lambda w, i: F.embedding(i, w, **kwargs), lambda w, i: TF.embedding(i, w, **kwargs),
             inputs=[w, IDX[idx]])


def test_gradcheck():
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: not checked here)
    check_grad(lambda w: F.embedding(ember.tensor(IDX["matrix"], device=DEVICE), w),
               shapes=[(10, 3)])


BAGS = {  # name -> (indices, offsets, extra keywords)
    "2d": (np.array([[1, 2, 4, 5], [4, 3, 2, 9]]), None, {}),
    "offsets": (np.array([1, 2, 4, 5, 4, 3, 2, 9, 0]), np.array([0, 2, 2, 6]), {}),
    "last-offset": (np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3, 3, 8]),
                    dict(include_last_offset=True)),
}


@pytest.mark.parametrize("padding_idx", [None, 4, -6], ids=str)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("bags", list(BAGS))
def test_embedding_bag_matches_torch(bags, mode, padding_idx):
    idx, off, kw = BAGS[bags]
    e_off = None if off is None else ember.tensor(off, device=DEVICE)
    t_off = None if off is None else torch.tensor(off)
    check_op(lambda w: F.embedding_bag(ember.tensor(idx, device=DEVICE), w, e_off, mode=mode,
                                       padding_idx=padding_idx, **kw),
             lambda w: TF.embedding_bag(torch.tensor(idx), w, t_off, mode=mode,
                                        padding_idx=padding_idx, **kw),
             shapes=[(10, 3)])


def test_embedding_bag_per_sample_weights_and_gradcheck():
    idx, off = np.array([1, 2, 4, 5, 4, 3]), np.array([0, 2])
    check_op(lambda w, s: F.embedding_bag(ember.tensor(idx, device=DEVICE), w,
                                          ember.tensor(off, device=DEVICE), mode="sum",
                                          per_sample_weights=s),
             lambda w, s: TF.embedding_bag(torch.tensor(idx), w, torch.tensor(off), mode="sum",
                                           per_sample_weights=s),
             shapes=[(10, 3), (6,)])
    check_grad(lambda w: F.embedding_bag(ember.tensor(idx), w, ember.tensor(off)),
               shapes=[(10, 3)])


def test_embedding_bag_errors():
    w = ember.randn(10, 3)
    with pytest.raises(ValueError, match="mode must be"):
        F.embedding_bag(ember.tensor([[1, 2]]), w, mode="min")
    with pytest.raises(ValueError, match="per_sample_weights are only supported for mode='sum'"):
        F.embedding_bag(ember.tensor([[1, 2]]), w, per_sample_weights=ember.ones(1, 2))
    with pytest.raises(ValueError, match="offsets must be None for a 2-D input"):
        F.embedding_bag(ember.tensor([[1, 2]]), w, ember.tensor([0]))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        F.embedding_bag(ember.tensor([1, 2, 3]), w, ember.tensor([1, 2]))
# --- one_hot ---------------------------------------------------------------------------------

@pytest.mark.parametrize("idx", IDX, ids=str)
@pytest.mark.parametrize("num_classes", [-1, 10, 12])
def test_one_hot_matches_torch(idx, num_classes):
    got = F.one_hot(ember.tensor(IDX[idx], device=DEVICE), num_classes)
    want = TF.one_hot(torch.tensor(IDX[idx]), num_classes)
    assert got.dtype == np.int64 and tuple(got.shape) == tuple(want.shape)
    assert np.array_equal(got.cpu().numpy(), want.numpy()) and not got.requires_grad


def test_one_hot_of_an_empty_tensor_with_num_classes():
    got = F.one_hot(ember.tensor(np.zeros((0,), np.int64)), 3)
    assert tuple(got.shape) == (0, 3) and got.dtype == np.int64


@pytest.mark.parametrize("values,num_classes,error,match", [
    (np.array([1, 2], np.int32), -1, TypeError,
     "one_hot: expected an index tensor of dtype int64, got int32"),
    (np.array([1.0]), -1, TypeError, "dtype int64, got float"),
    (np.zeros((0,), np.int64), -1, ValueError, "one_hot: can not infer the number of classes"),
    (np.array([-1, 2]), -1, ValueError, "one_hot: class values must be non-negative, got -1"),
    (np.array([1, 5]), 3, ValueError, "smaller than num_classes=3, got 5"),
    (np.array([1, 2]), -2, ValueError, "num_classes must be -1 .* got -2"),
], ids=["int32", "float", "empty", "negative", "too_large", "num_classes"])
def test_one_hot_errors(values, num_classes, error, match):
    with pytest.raises(error, match=match):
        F.one_hot(ember.tensor(values), num_classes)
    with pytest.raises(RuntimeError):  # torch refuses the same inputs
        TF.one_hot(torch.tensor(values), num_classes)
