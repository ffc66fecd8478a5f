"""Tensor creation, conversion, properties and printing, against PyTorch where it applies."""
import numpy as np
import pytest

import ember
from _parity import import_torch


def _same(e, t):
    """Same values, shape and dtype name in ember and torch."""
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(np.asarray(e.tolist(), dtype=np.float64),
                               np.asarray(t.tolist(), dtype=np.float64), rtol=1e-6)


@pytest.mark.parametrize("data", [1.5, 3, True, [1, 2], [1.0, 2], [[1, 2], [3, 4]],
                                  [True, False], [[0.5], [1.5]], []],
                         ids=str)
def test_tensor_from_python_data_matches_torch(data):
    torch = import_torch()
    _same(ember.tensor(data), torch.tensor(data))


def test_tensor_from_numpy_keeps_dtype_and_copies():
    a = np.arange(6.0).reshape(2, 3)
    t = ember.tensor(a)
    assert t.dtype == ember.float64 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 0.0
    assert ember.tensor(a, dtype=ember.float32).dtype == ember.float32
    t2 = ember.tensor(t)
    assert not np.shares_memory(t2.data, t.data)
    assert ember.tensor(np.float64(2.5)).shape == () and ember.tensor([t, t]).shape == (2, 2, 3)
    assert ember.tensor([1.0], requires_grad=True).requires_grad


def test_from_numpy_and_as_tensor_share_memory():
    a = np.zeros(3, dtype=np.float32)
    t = ember.from_numpy(a)
    a[1] = 5
    assert t.tolist() == [0.0, 5.0, 0.0] and np.shares_memory(t.numpy(), a)
    assert np.shares_memory(ember.as_tensor(a).data, a)
    with pytest.raises(TypeError, match="numpy"):
        ember.from_numpy([1, 2])


@pytest.mark.parametrize("make", [
    lambda m: m.zeros(2, 3), lambda m: m.zeros((2, 3)), lambda m: m.ones([4]),
    lambda m: m.ones(2, dtype=m.float64), lambda m: m.zeros(2, dtype=m.int64),
    lambda m: m.full((2, 2), 1.5), lambda m: m.full((2,), 7), lambda m: m.full((2,), True),
    lambda m: m.arange(5), lambda m: m.arange(1, 4), lambda m: m.arange(0, 1, 0.1),
    lambda m: m.arange(5.0), lambda m: m.arange(10, 0, -3), lambda m: m.linspace(0, 1, 7),
    lambda m: m.linspace(-2, 3, 5, dtype=m.float64), lambda m: m.eye(3),
    lambda m: m.eye(2, 4), lambda m: m.zeros_like(m.ones(2, 3, dtype=m.float64)),
    lambda m: m.ones_like(m.arange(3)), lambda m: m.full_like(m.ones(2), 3.0),
    lambda m: m.empty(2, 3) * 0, lambda m: m.empty_like(m.ones(2)).shape,
    lambda m: m.zeros(0, 3), lambda m: m.ones(()),
], ids=lambda f: "")
def test_creation_matches_torch(make):
    torch = import_torch()
    e, t = make(ember), make(torch)
    if isinstance(e, tuple):
        assert tuple(e) == tuple(t)
    else:
        _same(e, t)


def test_creation_requires_grad_and_device():
    x = ember.zeros(2, requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.device == ember.device("cpu")
    assert ember.ones(2, device="cpu").device.type == "cpu"


def test_random_creation():
    ember.manual_seed(0)
    r = ember.rand(1000)
    assert r.dtype == ember.float32 and 0 <= r.min().item() and r.max().item() < 1
    n = ember.randn(2000, dtype=ember.float64)
    assert n.dtype == ember.float64 and abs(n.mean().item()) < 0.1
    assert abs(n.std().item() - 1) < 0.1
    i = ember.randint(3, 7, (100,))
    assert i.dtype == ember.int64 and i.min().item() >= 3 and i.max().item() < 7
    j = ember.randint(10, (5, 2))  # randint(high, size), as torch.randint(10, (5, 2))
    assert j.shape == (5, 2) and j.max().item() < 10
    assert ember.randint(0, 5, size=(3,)).shape == (3,)
    assert sorted(ember.randperm(6).tolist()) == list(range(6))
    like = ember.randn_like(ember.zeros(3, 2, dtype=ember.float64))
    assert like.shape == (3, 2) and like.dtype == ember.float64
    assert ember.rand_like(ember.zeros(4)).shape == (4,)
    assert ember.randn(2, 3, requires_grad=True).requires_grad


def test_manual_seed_reproducibility():
    def draw():
        return (ember.randn(5).tolist(), ember.rand(3).tolist(),
                ember.randint(0, 100, (4,)).tolist(), ember.randperm(5).tolist())
    ember.manual_seed(42)
    first = draw()
    second = draw()
    ember.manual_seed(42)
    assert draw() == first and first != second
    state = ember.get_rng_state()
    a = ember.randn(3).tolist()
    ember.set_rng_state(state)
    assert ember.randn(3).tolist() == a


def test_conversions():
    x = ember.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert ember.tensor([2.5]).item() == 2.5 and isinstance(ember.tensor(3).item(), int)
    with pytest.raises(ValueError, match="one element"):
        x.item()
    assert x.double().dtype == ember.float64 and x.double().float().dtype == ember.float32
    assert x.long().dtype == ember.int64 and x.int().dtype == ember.int32
    assert x.half().dtype == ember.float16 and (x > 2).bool().dtype == ember.bool
    assert x.to(ember.float64).dtype == ember.float64
    assert x.to("cpu") is x and x.cpu() is x and x.to(dtype=ember.float32) is x
    assert x.to("cpu", ember.float64).dtype == ember.float64
    assert x.to(ember.zeros(1, dtype=ember.float64)).dtype == ember.float64
    c = x.to(ember.float32, copy=True)
    assert c is not x and not np.shares_memory(c.data, x.data)
    assert float(ember.tensor(2.5)) == 2.5 and int(ember.tensor(3)) == 3
    assert [1, 2, 3][ember.tensor(1)] == 2
    assert np.asarray(x).shape == (2, 2)


def test_numpy_refused_while_requiring_grad():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_cast_keeps_gradient():
    x = ember.ones(3, requires_grad=True)
    y = x.double() * 2
    assert y.dtype == ember.float64
    y.sum().backward()
    assert x.grad.dtype == ember.float32 and x.grad.tolist() == [2.0] * 3


def test_detach_and_clone():
    x = ember.ones(3, requires_grad=True)
    d = x.detach()
    assert np.shares_memory(d.data, x.data) and not d.requires_grad
    c = x.clone()
    assert not np.shares_memory(c.data, x.data) and c.grad_fn is not None
    (c * 2).sum().backward()
    assert x.grad.tolist() == [2.0] * 3


def test_properties():
    torch = import_torch()
    e, t = ember.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert e.shape == t.shape and e.size() == t.size() and e.size(1) == t.size(1)
    assert e.size(-1) == 4 and e.ndim == 3 and e.dim() == 3 and e.numel() == 24
    assert e.dtype == ember.float32 and str(e.device) == "cpu" and not e.is_cuda
    assert e.T.shape == (4, 3, 2) and e.mT.shape == (2, 4, 3)
    assert ember.zeros(2, 5).T.shape == (5, 2) and len(e) == 2
    assert [tuple(r.shape) for r in e] == [(3, 4), (3, 4)]
    assert e.element_size() == 4 and e.shape.numel() == 24
    assert repr(e.shape) == "ember.Size([2, 3, 4])" and isinstance(e.shape, tuple)
    assert ember.is_tensor(e) and not ember.is_tensor(np.zeros(2))
    with pytest.raises(TypeError):
        len(ember.tensor(1.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.ones(2))
    assert bool(ember.ones(1))


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1.5, 2.0]), lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor(3.0),
    lambda m: m.tensor([[1.5, -2.0], [3.25, 4.0]]), lambda m: m.tensor([1e-5, 1.0]),
    lambda m: m.tensor([1e9, 1.0]), lambda m: m.tensor([float("nan"), 1.5, float("inf")]),
    lambda m: m.tensor([1, 2, -30]), lambda m: m.tensor([True, False]),
    lambda m: m.tensor([1.5], dtype=m.float64), lambda m: m.tensor([1, 2], dtype=m.int32),
    lambda m: m.tensor([1.5, 2.0], requires_grad=True), lambda m: m.zeros(0, 3),
    lambda m: m.tensor([]), lambda m: m.arange(2000), lambda m: m.arange(60.0).reshape(5, 12),
    lambda m: m.arange(2500.0).reshape(50, 50) / 7,
], ids=lambda f: "")
def test_repr_matches_torch(make):
    torch = import_torch()
    assert repr(make(ember)) == repr(make(torch)).replace("torch", "ember")


def test_repr_shows_grad_fn():
    y = ember.ones(2, requires_grad=True) * 2
    assert repr(y) == "tensor([2., 2.], grad_fn=<MulBackward>)"


def test_tensor_on_device(device):
    x = ember.randn(2, 3, device=device)
    assert x.device == ember.device(device) and x.to("cpu").device.type == "cpu"
    assert ember.zeros(2, device=device).device == ember.device(device)
    y = ember.tensor([1.0, 2.0], device=device)
    assert y.cpu().tolist() == [1.0, 2.0] and "tensor(" in repr(y)


# --- .data as in PyTorch: a tensor sharing memory, outside the graph ----------------------

def _both(fn):
    """Run the same PyTorch idiom on ember and torch; return both results as NumPy."""
    torch = import_torch()
    return [np.asarray(fn(m)) for m in (ember, torch)]


def test_data_is_a_detached_tensor_sharing_memory():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.data
    assert isinstance(d, ember.Tensor) and d is not x
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.array, x.array)
    d.add_(1)  # the PyTorch idiom p.data.add_(...) updates the parameter
    assert x.tolist() == [2.0, 3.0, 4.0] and x.requires_grad


@pytest.mark.parametrize("idiom", [
    lambda m: (lambda p: (p.data.add_(0.5), p)[1].detach())(m.ones(3, requires_grad=True)),
    lambda m: m.ones(2, 3, requires_grad=True).data.numpy(),
    lambda m: m.tensor([-1.0, 2.0], requires_grad=True).data.abs(),
    lambda m: m.sqrt(m.tensor([4.0, 9.0], requires_grad=True).data),
    lambda m: (lambda p: (p.data.mul_(3), p.data.sub_(1))[1])(m.ones(2, requires_grad=True)),
], ids=["add_", "numpy", "abs", "sqrt", "chain"])
def test_data_idioms_match_torch(idiom):
    mine, theirs = _both(idiom)
    np.testing.assert_array_equal(mine, theirs)


def test_writes_through_data_are_invisible_to_autograd_like_torch():
    """PyTorch's documented hazard, reproduced: no version error, the new values are used."""
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * x
        x.data.mul_(2)
        y.sum().backward()
        return x.grad
    mine, theirs = _both(run)
    np.testing.assert_array_equal(mine, theirs)


def test_setting_data_replaces_the_array_like_torch():
    torch = import_torch()
    layers = (ember.nn.Linear(2, 3), torch.nn.Linear(2, 3))
    for m, layer in zip((ember, torch), layers):
        layer.weight.data = m.zeros(4, 5)
    (e, t) = layers
    assert tuple(e.weight.shape) == tuple(t.weight.shape) == (4, 5)
    assert e.weight.requires_grad and isinstance(e.weight, ember.nn.Parameter)
    with pytest.raises(TypeError, match="must be set to a Tensor, got ndarray"):
        e.weight.data = np.ones(3)


def test_array_is_the_raw_array():
    x = ember.ones(2, 3)
    assert isinstance(x.array, np.ndarray) and x.array.shape == (2, 3)
    assert x.detach().array is x.array and x.data.array is x.array


def test_format_and_matrix_methods_like_torch():
    torch = import_torch()
    for m in (ember, torch):
        t = m.tensor([[1.2345]])
        assert f"{t[0, 0]:+.2f}" == "+1.23" and "{:.1f}".format(t.sum()) == "1.2"
        with pytest.raises(TypeError, match="unsupported format string"):
            f"{t:.1f}"  # noqa: B018 - only 0-d tensors take a format spec
        assert f"{m.tensor([1.0, 2.0])}" == str(m.tensor([1.0, 2.0]))
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(ember.tensor(a).mm(ember.tensor(b)).numpy(), a @ b)
    np.testing.assert_array_equal(ember.tensor(a[None]).bmm(ember.tensor(b[None])).numpy(),
                                  (a @ b)[None])
# --- PyTorch's legacy constructor: Tensor(data) / Tensor(*sizes) ----------------------------

@pytest.mark.parametrize("make", [
    lambda m: m.Tensor([1, 2]), lambda m: m.Tensor([[1, 2], [3, 4]]),
    lambda m: m.Tensor([True, False]), lambda m: m.Tensor([1.5, 2.5]), lambda m: m.Tensor([]),
    lambda m: m.Tensor(np.array([1, 2])), lambda m: m.Tensor(np.array([0.25, 2.0])),
    lambda m: m.Tensor(m.tensor([1, 2])), lambda m: m.Tensor(m.tensor([1.0], dtype=m.float64)),
    lambda m: m.LongTensor([1.5, 2]), lambda m: m.IntTensor([1, 2]),
    lambda m: m.DoubleTensor([1, 2]), lambda m: m.FloatTensor(np.array([1, 2])),
    lambda m: m.BoolTensor([1, 0]), lambda m: m.LongTensor(m.tensor([3, 4])),
])
def test_legacy_constructor_from_data_matches_torch(make):
    torch = import_torch()
    _same(make(ember), make(torch))


@pytest.mark.parametrize("make", [
    lambda m: m.Tensor(2, 3), lambda m: m.Tensor(3), lambda m: m.Tensor(0), lambda m: m.Tensor(),
    lambda m: m.Tensor(m.Size([2, 3])), lambda m: m.Tensor(np.int64(3)),
    lambda m: m.LongTensor(2, 3), lambda m: m.BoolTensor(4), lambda m: m.DoubleTensor(1, 2),
    lambda m: m.IntTensor(m.Size([5])), lambda m: m.FloatTensor(2),
])
def test_legacy_constructor_from_sizes_is_uninitialised_of_that_shape(make):
    torch = import_torch()
    e, t = make(ember), make(torch)
    assert tuple(e.shape) == tuple(t.shape) and str(e.dtype) == str(t.dtype).replace("torch.", "")


def test_legacy_constructor_follows_the_default_dtype_and_aliases_tensors():
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.Tensor([1, 2]).dtype == ember.float64
        assert ember.Tensor(2).dtype == ember.float64
        assert ember.FloatTensor([1]).dtype == ember.float32  # FloatTensor is float32 always
    finally:
        ember.set_default_dtype(ember.float32)
    x = ember.tensor([1.0, 2.0])
    y = ember.Tensor(x)
    y[0] = 5.0
    assert x.tolist() == [5.0, 2.0]  # shares memory, as torch.Tensor(tensor)


@pytest.mark.parametrize("make, error", [
    (lambda m: m.Tensor(2.5), TypeError), (lambda m: m.Tensor(np.float64(2.0)), TypeError),
    (lambda m: m.Tensor(-1), RuntimeError), (lambda m: m.Tensor(2, [3]), TypeError),
    (lambda m: m.LongTensor(m.tensor([1.0, 2.0])), TypeError),
])
def test_legacy_constructor_errors_as_torch(make, error):
    torch = import_torch()
    with pytest.raises(error):
        make(torch)
    with pytest.raises(error, match="Tensor"):
        make(ember)


def test_legacy_types_are_functions_not_classes():
    assert ember.LongTensor.__name__ == "LongTensor" and "isinstance" in ember.LongTensor.__doc__
    assert not isinstance(ember.LongTensor, type)


def test_internal_constructions_keep_dtype_and_values():
    """The call sites that build Tensors from arrays keep their dtypes (not the default)."""
    x = ember.zeros(2, dtype=ember.int64)
    x[0] = 2 ** 40 + 1  # setitem wraps the value in x's dtype
    x.copy_(x + 0)  # copy_ from a tensor
    assert x.tolist() == [2 ** 40 + 1, 0]
    x.copy_(2 ** 40 + 3)  # copy_ from a number: no trip through float32
    assert x.tolist() == [2 ** 40 + 3] * 2
    w = ember.tensor([[0.1, 0.2]], dtype=ember.float64)
    emb = ember.nn.Embedding.from_pretrained(w)
    assert emb.weight.dtype == ember.float64 and emb.weight.tolist() == w.tolist()
    p = ember.nn.Parameter(ember.tensor([1.0], dtype=ember.float64))
    b = ember.nn.Buffer(ember.tensor([1, 2]))
    assert p.dtype == ember.float64 and b.dtype == ember.int64 and p.requires_grad
    assert ember.nn.Parameter(np.array([1.5])).dtype == ember.float64


def test_device_kind_flags_match_torch():
    torch = import_torch()
    e, t = ember.zeros(1), torch.zeros(1)
    for flag in ("is_cpu", "is_cuda", "is_xpu", "is_mps"):
        assert getattr(e, flag) == getattr(t, flag), flag
    assert ember.device("cpu").type == "cpu" and ember.device("cpu").index is None
    assert ember.device("cuda", 1).index == 1 and isinstance(e.device, ember.device)


def test_parameter_from_sizes_idiom_runs_as_in_torch():
    torch = import_torch()
    for m in (ember, torch):
        w = m.nn.Parameter(m.Tensor(3, 4))
        m.nn.init.kaiming_uniform_(w, a=5 ** 0.5)
        assert tuple(w.shape) == (3, 4) and str(w.dtype).endswith("float32") and w.requires_grad
        assert float(w.abs().max()) <= 0.5 + 1e-6  # bound 1/sqrt(fan_in) = 0.5
