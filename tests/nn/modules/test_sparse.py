"""Embedding against PyTorch: outputs and weight gradients with torch's weights (padding_idx,
max_norm renormalisation, scale_grad_by_freq), default init, from_pretrained, errors."""
import numpy as np
import pytest
from _parity import assert_close, import_torch

import ember
from ember import nn

torch = import_torch()

IDX = {
    "vector": np.array([3, 1, 4, 1, 5]),
    "matrix": np.array([[0, 2, 2], [9, 0, 7]]),
    "batch1": np.array([[6]]),
    "scalar": np.array(8),
}


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}, {"max_norm": 1.0},
                                    {"max_norm": 0.5, "norm_type": 1.0},
                                    {"scale_grad_by_freq": True}], ids=str)
def test_module_parity_with_weight_copy(kwargs):
    tm = torch.nn.Embedding(10, 4, **kwargs).double()
    em = nn.Embedding(10, 4, **kwargs).double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    idx = IDX["matrix"]
    g = np.random.default_rng(1).standard_normal(idx.shape + (4,))
    ey = em(ember.tensor(idx))
    ty = tm(torch.tensor(idx))
    assert_close(ey.detach().numpy(), ty.detach().numpy(), 1e-12, 1e-12, "output")
    (ey * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    assert_close(em.weight.grad.numpy(), tm.weight.grad.numpy(), 1e-12, 1e-12, "weight grad")
    # max_norm renormalises the looked-up rows of the weight itself, in place
    assert_close(em.weight.detach().numpy(), tm.weight.detach().numpy(), 1e-12, 1e-12,
                 "weight after forward")
    assert repr(em) == repr(tm)


def test_padding_row_gets_no_gradient_and_starts_at_zero():
    em = nn.Embedding(6, 3, padding_idx=2)
    assert np.all(em.weight.detach().numpy()[2] == 0)
    em(ember.tensor([2, 2, 1])).sum().backward()
    assert np.all(em.weight.grad.numpy()[2] == 0) and np.all(em.weight.grad.numpy()[1] == 1)


def test_default_init_is_standard_normal():
    w = nn.Embedding(1000, 200).weight.detach().numpy().astype(np.float64)
    assert abs(w.mean()) < 5 / np.sqrt(w.size) and abs(w.std() - 1) < 0.01
    assert w.dtype == np.float64 and nn.Embedding(3, 2).weight.dtype == np.float32


def test_from_pretrained():
    table = ember.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    em = nn.Embedding.from_pretrained(table)
    assert not em.weight.requires_grad
    assert em(ember.tensor([2, 0])).tolist() == [[5.0, 6.0], [1.0, 2.0]]
    table.data[0, 0] = 100.0  # a copy, not a view
    assert em.weight.data[0, 0] == 1.0
    trainable = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.padding_idx == 1
    assert repr(trainable) == "Embedding(3, 2, padding_idx=1)"


def test_errors():
    em = nn.Embedding(10, 3)
    with pytest.raises(TypeError, match=r"Embedding\(10, 3\): embedding: expected an integer "
                                        r"index tensor, "
                                        r"got float32"):
        em(ember.randn(2))
    with pytest.raises(IndexError, match="index 10 is out of range .* 10 rows"):
        em(ember.tensor([1, 10]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        em(ember.tensor([-1, 3]))
    with pytest.raises(ValueError, match="padding_idx 10 must be within"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(ValueError, match="sparse"):
        nn.Embedding(10, 3, sparse=True)
    assert nn.Embedding(10, 3, padding_idx=-2).padding_idx == 8


@pytest.mark.parametrize("kw", [{}, dict(mode="sum"), dict(mode="max", padding_idx=0),
                                dict(include_last_offset=True, norm_type=1.0)], ids=str)
def test_embedding_bag_layer_matches_torch(kw):
    em, tm = nn.EmbeddingBag(10, 3, **kw).double(), torch.nn.EmbeddingBag(10, 3, **kw).double()
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    idx, off = np.array([1, 2, 4, 0, 4, 3, 2, 9]), np.array([0, 3, 3, 8])
    if not kw.get("include_last_offset"):
        off = off[:-1]
    ye = em(ember.tensor(idx), ember.tensor(off))
    yt = tm(torch.tensor(idx), torch.tensor(off))
    assert_close(ye.detach().numpy(), yt.detach().numpy(), 1e-12, 1e-12, "output")
    if kw.get("padding_idx") is not None:
        fresh = nn.EmbeddingBag(10, 3, **kw)
        assert (fresh.weight.detach().numpy()[0] == 0).all()
