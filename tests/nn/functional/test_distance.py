"""cosine_similarity, pairwise_distance and normalize against PyTorch: values and gradients
(broadcasting, every dim, several p), finite-difference gradchecks, zero vectors (the
clamped norms), integer inputs, errors."""
import numpy as np
import pytest
from _parity import check_op, import_torch, random_inputs
from _table import Op

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional


def _f(name, *args, **kwargs):
    return lambda m, *xs: getattr(m.nn.functional, name)(*xs, *args, **kwargs)


TABLE = {
    "cosine": Op(_f("cosine_similarity"), shapes=((3, 5), (3, 5))),
    "cosine_dim0": Op(_f("cosine_similarity", 0), shapes=((4, 3), (4, 3))),
    "cosine_dim-1": Op(_f("cosine_similarity", dim=-1), shapes=((2, 3, 4), (2, 3, 4))),
    "cosine_broadcast": Op(_f("cosine_similarity", dim=-1), shapes=((2, 1, 4), (3, 4))),
    "cosine_broadcast_dim": Op(_f("cosine_similarity"), shapes=((3, 1), (3, 4))),
    "cosine_1d": Op(_f("cosine_similarity", dim=0), shapes=((6,), (6,))),
    "cosine_eps": Op(_f("cosine_similarity", 1, 0.5), shapes=((3, 2), (3, 2)), low=-0.2,
                     high=0.2),
    "pairwise": Op(_f("pairwise_distance"), shapes=((4, 5), (4, 5))),
    "pairwise_keepdim": Op(_f("pairwise_distance", keepdim=True), shapes=((4, 5), (4, 5))),
    "pairwise_p1": Op(_f("pairwise_distance", 1.0), shapes=((4, 5), (4, 5)), kink=0.0),
    "pairwise_p3": Op(_f("pairwise_distance", 3.0, 1e-3), shapes=((4, 5), (4, 5))),
    "pairwise_p1.5": Op(_f("pairwise_distance", 1.5), shapes=((4, 5), (4, 5))),
    "pairwise_pinf": Op(_f("pairwise_distance", float("inf")), shapes=((4, 5), (4, 5))),
    "pairwise_p-1": Op(_f("pairwise_distance", -1.0), shapes=((4, 5), (4, 5))),
    "pairwise_broadcast": Op(_f("pairwise_distance"), shapes=((5,), (3, 5))),
    "pairwise_1d": Op(_f("pairwise_distance"), shapes=((5,), (5,))),
    "pairwise_3d": Op(_f("pairwise_distance"), shapes=((2, 3, 4), (3, 4))),
    "normalize": Op(_f("normalize"), shapes=((3, 4),)),
    "normalize_p1": Op(_f("normalize", 1.0, 0), shapes=((3, 4),), kink=0.0),
    "normalize_dim-1": Op(_f("normalize", dim=-1), shapes=((2, 3, 4),)),
    "normalize_p3": Op(_f("normalize", 3, 2), shapes=((2, 3, 4),)),
    "normalize_pinf": Op(_f("normalize", float("inf")), shapes=((3, 4),)),
    "normalize_eps": Op(_f("normalize", eps=0.5), shapes=((3, 4),), low=-0.2, high=0.2),
}


@pytest.mark.parametrize("name", TABLE)
def test_parity(name):
    TABLE[name].parity()
    TABLE[name].parity(np.float32)


# not cosine_eps: PyTorch clamps the norms outside the graph, so where the clamp acts its
# gradient (ember's too) is not the derivative of the clamped formula
@pytest.mark.parametrize("name", [n for n in TABLE if "inf" not in n and n != "cosine_eps"])
def test_gradcheck(name):
    TABLE[name].gradcheck()


def test_zero_vectors_match_torch():
    x1, x2 = random_inputs([(4, 3), (4, 3)])
    x1[1] = 0.0
    x2[2] = 0.0
    check_op(F.cosine_similarity, TF.cosine_similarity, inputs=[x1, x2])
    check_op(F.normalize, TF.normalize, inputs=[x1])
    check_op(F.pairwise_distance, TF.pairwise_distance, inputs=[x1, x1 + 1e-6])


def test_cosine_similarity_stays_in_range_for_parallel_vectors():
    x = ember.tensor(np.array([[1e-3, 2e-3, 3e-3], [1e150, 2e150, 3e150]]))
    got = F.cosine_similarity(x, x * 7.0).numpy()
    assert np.all(np.abs(got) <= 1.0) and np.allclose(got, 1.0, atol=1e-15)


def test_integer_inputs():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    got = F.pairwise_distance(ember.tensor(a), ember.tensor(a[::-1].copy()))
    want = TF.pairwise_distance(torch.tensor(a), torch.tensor(a[::-1].copy()))
    assert got.dtype == np.float32 and str(want.dtype) == "torch.float32"
    assert np.allclose(got.numpy(), want.numpy(), rtol=1e-6)
    for fn in (lambda t: F.cosine_similarity(t, t), F.normalize):
        with pytest.raises(TypeError, match="expected floating point inputs, got int64"):
            fn(ember.tensor(a))


def test_normalize_out():
    x, = random_inputs([(3, 4)])
    out = ember.zeros(3, 4, dtype=ember.float64)
    assert F.normalize(ember.tensor(x), out=out) is out
    assert np.allclose(out.numpy(), TF.normalize(torch.tensor(x)).numpy(), rtol=1e-12)


def test_errors():
    a, b = ember.randn(3, 4), ember.randn(2, 4)
    with pytest.raises(ValueError, match=r"cosine_similarity: x1 of shape \(3, 4\) and x2 of "
                                         r"shape \(2, 4\) do not broadcast"):
        F.cosine_similarity(a, b)
    with pytest.raises(ValueError, match=r"pairwise_distance: x1 of shape \(3, 4\)"):
        F.pairwise_distance(a, b)
    with pytest.raises(IndexError, match=r"cosine_similarity: dim 1 is out of range for 1-D"):
        F.cosine_similarity(ember.randn(3), ember.randn(3))
    with pytest.raises(IndexError, match=r"normalize: dim 2 is out of range for 2-D"):
        F.normalize(a, dim=2)
    with pytest.raises(ValueError, match="pairwise_distance: expected inputs with at least"):
        F.pairwise_distance(ember.tensor(1.0), ember.tensor(2.0))
    with pytest.raises(TypeError, match="cosine_similarity: expected Tensors, got ndarray"):
        F.cosine_similarity(np.ones((2, 2)), a)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.5, 0.5, float("inf")])
def test_pdist_matches_torch(p):
    check_op(lambda x: F.pdist(x, p), lambda x: torch.nn.functional.pdist(x, p), shapes=[(5, 3)])
    with pytest.raises(ValueError, match=r"pdist: expected a 2-D input"):
        F.pdist(ember.ones(2, 3, 4))
