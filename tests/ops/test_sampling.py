"""In-place random fills (random_, uniform_, normal_, bernoulli_, exponential_): seeded
reproducibility, distribution statistics on 100k draws, dtype rules and errors as torch,
version bumps and the leaf-requires-grad refusal."""
import numpy as np
import pytest
from _parity import import_torch

import ember

N = 100_000
FILLS = [lambda x: x.random_(), lambda x: x.random_(10), lambda x: x.random_(-3, 4),
         lambda x: x.uniform_(), lambda x: x.uniform_(-2, 3), lambda x: x.normal_(),
         lambda x: x.normal_(2.0, 0.5), lambda x: x.bernoulli_(), lambda x: x.bernoulli_(0.2),
         lambda x: x.exponential_(), lambda x: x.exponential_(4.0)]


@pytest.mark.parametrize("fill", FILLS)
def test_fills_repeat_under_manual_seed_and_return_self(fill):
    ember.manual_seed(7)
    a = ember.zeros(1000)
    assert fill(a) is a
    ember.manual_seed(7)
    b = fill(ember.zeros(1000))
    assert a.tolist() == b.tolist()
    assert fill(ember.zeros(1000)).tolist() != b.tolist()  # the stream moves on


@pytest.mark.parametrize("fill, mean, var", [
    (lambda x: x.uniform_(), 0.5, 1 / 12), (lambda x: x.uniform_(-2, 3), 0.5, 25 / 12),
    (lambda x: x.normal_(), 0.0, 1.0), (lambda x: x.normal_(2.0, 0.5), 2.0, 0.25),
    (lambda x: x.bernoulli_(), 0.5, 0.25), (lambda x: x.bernoulli_(0.2), 0.2, 0.16),
    (lambda x: x.exponential_(), 1.0, 1.0), (lambda x: x.exponential_(4.0), 0.25, 1 / 16),
    (lambda x: x.random_(10), 4.5, 99 / 12), (lambda x: x.random_(-3, 4), 0.0, 4.0),
])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_fill_statistics(fill, mean, var, dtype):
    ember.manual_seed(0)
    x = fill(ember.zeros(N, dtype=dtype)).numpy().astype(np.float64)
    sd = np.sqrt(var)
    assert abs(x.mean() - mean) < 5 * sd / np.sqrt(N), (x.mean(), mean)
    assert abs(x.var() / var - 1) < 0.03, (x.var(), var)


@pytest.mark.parametrize("dtype, bits", [(ember.float32, 24), (ember.float64, 53)])
def test_random_without_bounds_is_uniform_up_to_two_to_the_mantissa(dtype, bits):
    ember.manual_seed(0)
    x = ember.zeros(N, dtype=dtype).random_().numpy().astype(np.float64) / 2.0 ** bits
    assert abs(x.mean() - 0.5) < 5 * np.sqrt(1 / 12 / N) and abs(x.var() * 12 - 1) < 0.03


def test_random_ranges_per_dtype_match_torch():
    torch = import_torch()
    cases = [("float32", 2 ** 24), ("float64", 2 ** 53), ("float16", 2 ** 11),
             ("int64", 2 ** 63 - 1), ("int32", 2 ** 31 - 1), ("uint8", 255), ("bool", 1)]
    for name, top in cases:
        e = ember.zeros(20000, dtype=getattr(ember, name)).random_()
        t = torch.zeros(20000, dtype=getattr(torch, name)).random_()
        assert str(e.dtype) == str(t.dtype).replace("torch.", "")
        for v in (e, t):
            a = np.asarray(v.tolist(), dtype=object)
            assert a.min() >= 0 and a.max() <= top, name
            assert all(float(u).is_integer() for u in a[:100]), name
        assert np.asarray(e.tolist(), dtype=np.float64).max() > top / 2, name


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "uint8", "bool"])
def test_bernoulli_and_bounded_random_keep_the_dtype_as_torch(dtype):
    torch = import_torch()
    for fill in (lambda x: x.bernoulli_(0.3), lambda x: x.random_(0, 2)):
        e = fill(ember.zeros(1000, dtype=getattr(ember, dtype)))
        t = fill(torch.zeros(1000, dtype=getattr(torch, dtype)))
        assert str(e.dtype) == str(t.dtype).replace("torch.", "")
        assert set(np.asarray(e.tolist(), dtype=np.int64).tolist()) == {0, 1}


def test_bernoulli_with_a_tensor_of_probabilities():
    p = ember.tensor([0.0, 1.0, 0.0, 1.0])
    assert ember.zeros(3, 4).bernoulli_(p).tolist() == [[0.0, 1.0, 0.0, 1.0]] * 3


def test_to_keyword():
    ember.manual_seed(1)
    x = ember.zeros(1000).random_(5, to=8)
    assert set(x.tolist()) == {5.0, 6.0, 7.0}
    assert set(ember.zeros(1000).random_(to=3).tolist()) == {0.0, 1.0, 2.0}
    assert ember.zeros(1000).uniform_(to=0.5).max().item() < 0.5


@pytest.mark.parametrize("fill, error", [
    (lambda m, x: x.random_(5, 2), RuntimeError),
    (lambda m, x: x.long().normal_(), (NotImplementedError, RuntimeError)),
    (lambda m, x: x.long().uniform_(), (NotImplementedError, RuntimeError)),
    (lambda m, x: x.long().exponential_(), RuntimeError),
    (lambda m, x: x.normal_(0, -1), RuntimeError), (lambda m, x: x.exponential_(0), RuntimeError),
    (lambda m, x: x.exponential_(-1), RuntimeError), (lambda m, x: x.bernoulli_(1.5), RuntimeError),
    (lambda m, x: x.uniform_(2, 1), RuntimeError),
    (lambda m, x: x.to(m.uint8).random_(0, 300), RuntimeError),
    (lambda m, x: x.to(m.uint8).random_(-1, 3), RuntimeError),
])
def test_errors_as_torch(fill, error):
    torch = import_torch()
    with pytest.raises(error):
        fill(torch, torch.zeros(3))
    with pytest.raises(RuntimeError, match="_"):
        fill(ember, ember.zeros(3))


@pytest.mark.parametrize("fill", FILLS)
def test_fills_bump_the_version_and_refuse_a_leaf_that_requires_grad(fill):
    x = ember.zeros(4)
    before = x._version[0]
    fill(x)
    assert x._version[0] == before + 1
    w = ember.zeros(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        fill(w)
    with ember.no_grad():
        fill(w)
    assert w.requires_grad


def test_a_fill_invalidates_a_saved_value():
    x = ember.ones(3, requires_grad=True)
    y = x * 1
    z = (y * y).sum()
    with ember.no_grad():
        y.normal_()
    with pytest.raises(RuntimeError):
        z.backward()
