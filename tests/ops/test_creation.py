"""Creation ops run as PyTorch code is written: Tensor.new_* methods and size= keywords,
compared with torch (dtype, shape, values)."""
import numpy as np
import pytest
from _parity import import_torch

import ember


def _same(e, t, values=True):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).replace("torch.", "")
    assert e.requires_grad == t.requires_grad
    if values:
        np.testing.assert_array_equal(np.asarray(e.tolist()), np.asarray(t.tolist()))


BASES = [lambda m: m.ones(2, 3), lambda m: m.ones(2, dtype=m.float64),
         lambda m: m.tensor([1, 2]), lambda m: m.tensor([True])]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("make", [
    lambda m, x: x.new_zeros(2, 3), lambda m, x: x.new_zeros((2, 3)),
    lambda m, x: x.new_ones([4]), lambda m, x: x.new_ones(size=(1, 2)),
    lambda m, x: x.new_full((2,), 3), lambda m, x: x.new_full((2, 2), 1.5, dtype=m.float64),
    lambda m, x: x.new_tensor([1, 2]), lambda m, x: x.new_tensor([[0.5]], dtype=m.float32),
    lambda m, x: x.new_zeros(3, dtype=m.int32),
    lambda m, x: x.new_zeros(2, dtype=m.float32, requires_grad=True),
])
def test_new_methods_inherit_dtype_and_device_as_torch(base, make):
    torch = import_torch()
    _same(make(ember, base(ember)), make(torch, base(torch)))


@pytest.mark.parametrize("base", BASES)
def test_new_empty_has_the_shape_and_dtype(base):
    torch = import_torch()
    _same(base(ember).new_empty(2, 3), base(torch).new_empty(2, 3), values=False)
    _same(base(ember).new_empty(size=(4,)), base(torch).new_empty(size=(4,)), values=False)


@pytest.mark.parametrize("make, values", [
    (lambda m: m.zeros(size=(2, 3)), True), (lambda m: m.ones(size=[2]), True),
    (lambda m: m.empty(size=(1, 2)), False), (lambda m: m.rand(size=(3,)), False),
    (lambda m: m.randn(size=(2, 2), dtype=m.float64), False),
    (lambda m: m.full(size=(2,), fill_value=7), True),
    (lambda m: m.zeros(size=(2,), dtype=m.int64, requires_grad=False), True),
])
def test_size_keyword_on_the_factories(make, values):
    torch = import_torch()
    _same(make(ember), make(torch), values)


def test_size_given_twice_is_an_error():
    with pytest.raises(TypeError, match="size"):
        ember.zeros(2, size=(2,))


def test_new_tensor_copies():
    x = ember.ones(2)
    src = np.array([1.0, 2.0], dtype=np.float32)
    y = x.new_tensor(src)
    src[0] = 9
    assert y.tolist() == [1.0, 2.0]
