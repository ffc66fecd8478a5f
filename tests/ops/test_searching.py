"""unique, nonzero, bucketize, searchsorted, histc, bincount and multinomial against
PyTorch: values and dtypes, and multinomial's reproducibility, statistics and
without-replacement semantics; error cases as PyTorch raises them."""
import numpy as np
import pytest

import ember
from _parity import import_torch

R = np.random.default_rng(0)
INTS = R.integers(0, 5, (4, 6))
FLOATS = np.round(R.uniform(-2, 2, (3, 5)), 1)


def same(fn, *arrays):
    """fn on ember and on torch tensors of ``arrays``: equal outputs of equal dtypes."""
    torch = import_torch()
    e = fn(ember, *[ember.tensor(a) for a in arrays])
    t = fn(torch, *[torch.tensor(a) for a in arrays])
    e, t = (e, t) if isinstance(e, tuple) else ((e,), (t,))
    assert len(e) == len(t)
    for a, b in zip(e, t):
        assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("fn", [
    lambda m, x: m.unique(x),
    lambda m, x: x.unique(return_inverse=True),
    lambda m, x: m.unique(x, return_counts=True),
    lambda m, x: m.unique(x, sorted=True, return_inverse=True, return_counts=True),
    lambda m, x: m.unique(x, dim=0, return_inverse=True, return_counts=True),
    lambda m, x: m.unique(x[:, :2], dim=-2),
    lambda m, x: m.unique(x, dim=1, return_counts=True),
    lambda m, x: m.nonzero(x),
    lambda m, x: (x - 2).nonzero(as_tuple=True),
    lambda m, x: m.nonzero(x[0, 0]),
    lambda m, x: m.nonzero(x[0, 0], as_tuple=True),
    lambda m, x: m.bincount(x.reshape(-1)),
    lambda m, x: x.reshape(-1).bincount(minlength=9),
    lambda m, x: m.bincount(x[0], x[1].to(m.float32)),
    lambda m, x: m.bincount(x[0], x[1]),
    lambda m, x: m.bincount(x[0], weights=x[1].to(m.float64), minlength=7),
])
def test_on_integers(fn):
    same(fn, INTS)


@pytest.mark.parametrize("fn", [
    lambda m, x: m.unique(x, return_inverse=True, return_counts=True),
    lambda m, x: m.nonzero(x > 0.5),
    lambda m, x: m.histc(x),
    lambda m, x: x.histc(bins=4, min=-1, max=1),
    lambda m, x: m.histc(x.to(m.float32), 7, -2, 2),
    lambda m, x: m.histc(x * 0, 3),
    lambda m, x: m.bucketize(x, m.tensor([-1.0, 0.0, 0.5, 1.5])),
    lambda m, x: m.bucketize(x, m.tensor([-1.0, 0.0, 0.5, 1.5]), right=True, out_int32=True),
    lambda m, x: m.bucketize(0.5, m.tensor([-1.0, 0.0, 0.5, 1.5])),
    lambda m, x: m.searchsorted(m.tensor([-1.0, 0.0, 0.5, 1.5]), x),
    lambda m, x: m.searchsorted(m.tensor([-1.0, 0.0, 0.5, 1.5]), x, right=True),
    lambda m, x: m.searchsorted(m.tensor([-1.0, 0.0, 0.5, 1.5]), x, side="right"),
    lambda m, x: m.searchsorted(m.tensor([-1.0, 0.0, 0.5, 1.5]), 0.5),
    lambda m, x: m.searchsorted(x.sort().values, x[:, :2], out_int32=True),
    lambda m, x: m.searchsorted(x, x[:, 1:3], sorter=x.argsort()),
])
@pytest.mark.filterwarnings("ignore:torch.searchsorted")
def test_on_floats(fn):
    same(fn, FLOATS)


@pytest.mark.parametrize("fn", [
    lambda m: m.bincount(m.tensor([[1, 2]])),
    lambda m: m.bincount(m.tensor([1, -2])),
    lambda m: m.bincount(m.tensor([1.0, 2.0])),
    lambda m: m.histc(m.tensor([1, 2])),
    lambda m: m.histc(m.tensor([1.0, 2.0]), bins=0),
    lambda m: m.histc(m.tensor([1.0, 2.0]), min=2, max=1),
    lambda m: m.bucketize(m.tensor([1.0]), m.tensor([[1.0, 2.0]])),
    lambda m: m.searchsorted(m.tensor([[1.0, 2.0]]), m.tensor([[1.0], [2.0]])),
    lambda m: m.searchsorted(m.tensor([1.0, 2.0]), m.tensor([1.0]), side="middle"),
    lambda m: m.searchsorted(m.tensor([1.0, 2.0]), m.tensor([1.0]), side="left", right=True),
    lambda m: m.multinomial(m.tensor([1.0, -1.0]), 1),
    lambda m: m.multinomial(m.tensor([1.0, float("nan")]), 1),
    lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1),
    lambda m: m.multinomial(m.tensor([1.0, 1.0]), 3),
    lambda m: m.multinomial(m.tensor([1, 1]), 1),
    lambda m: m.multinomial(m.ones(2, 2, 2), 1),
])
def test_errors(fn):
    with pytest.raises(RuntimeError):
        fn(import_torch())
    with pytest.raises(RuntimeError):
        fn(ember)


def test_refuses_arrays():
    for name in ("unique", "nonzero", "multinomial", "histc", "bincount", "searchsorted"):
        with pytest.raises(TypeError, match=name):
            getattr(ember, name)(np.zeros(3))


def test_multinomial_reproducible_and_shaped():
    p = ember.tensor([[0.1, 0.0, 0.6, 0.3], [1.0, 1.0, 1.0, 1.0]])
    ember.manual_seed(3)
    a = ember.multinomial(p, 3)
    b = p.multinomial(5, replacement=True)
    ember.manual_seed(3)
    assert np.array_equal(ember.multinomial(p, 3).numpy(), a.numpy())
    assert np.array_equal(p.multinomial(5, True).numpy(), b.numpy())
    assert a.shape == (2, 3) and b.shape == (2, 5) and a.dtype == ember.int64
    assert ember.multinomial(p[0], 2).shape == (2,)
    with pytest.raises(TypeError, match="no Generator objects.*manual_seed"):
        ember.multinomial(p, 1, generator=object())


def test_multinomial_with_replacement_statistics():
    ember.manual_seed(0)
    w = np.array([1.0, 0.0, 2.0, 5.0, 2.0])
    draws = ember.multinomial(ember.tensor(w), 200_000, replacement=True).numpy()
    freq = np.bincount(draws, minlength=5) / draws.size
    assert freq[1] == 0
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.005)


def test_multinomial_without_replacement():
    ember.manual_seed(1)
    w = np.array([[1.0, 0.0, 2.0, 5.0, 2.0]] * 20_000)
    draws = ember.multinomial(ember.tensor(w), 3).numpy()
    assert all(len(set(row)) == 3 for row in draws[:500])
    assert not (draws == 1).any()  # enough non-zero categories: zero weight never drawn
    first = np.bincount(draws[:, 0], minlength=5) / len(draws)
    np.testing.assert_allclose(first, w[0] / w[0].sum(), atol=0.01)  # first draw ~ p
    # the second draw is p renormalised without the first: P(second = 0) = sum_j p_j p_0 /
    # (1 - p_j) over j != 0
    p = w[0] / w[0].sum()
    want = sum(p[j] * p[0] / (1 - p[j]) for j in (2, 3, 4))
    assert abs((draws[:, 1] == 0).mean() - want) < 0.01
    full = ember.multinomial(ember.tensor([3.0, 1.0, 2.0]), 3).numpy()
    assert sorted(full) == [0, 1, 2]
