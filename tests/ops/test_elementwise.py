"""Elementwise maths against PyTorch (values and gradients, float64) and finite differences.

One table row per op: fn(module, *xs) runs unchanged on ember and on torch, so the table
doubles as a check that the names and signatures are PyTorch's.
"""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import check_op, import_torch
from _table import Op


UNARY = {
    "exp": Op(lambda m, x: m.exp(x)),
    "log": Op(lambda m, x: m.log(x), low=0.1, high=3),
    "log1p": Op(lambda m, x: m.log1p(x), low=-0.5, high=3),
    "log2": Op(lambda m, x: m.log2(x), low=0.1, high=3),
    "log10": Op(lambda m, x: x.log10(), low=0.1, high=3),
    "sqrt": Op(lambda m, x: m.sqrt(x), low=0.1, high=3),
    "rsqrt": Op(lambda m, x: m.rsqrt(x), low=0.1, high=3),
    "abs": Op(lambda m, x: m.abs(x), kink=0.0),
    "abs_dunder": Op(lambda m, x: abs(x), kink=0.0),
    "sin": Op(lambda m, x: m.sin(x)),
    "cos": Op(lambda m, x: x.cos()),
    "tanh": Op(lambda m, x: m.tanh(x)),
    "sigmoid": Op(lambda m, x: m.sigmoid(x), low=-8, high=8),
    "relu": Op(lambda m, x: m.relu(x), kink=0.0),
    "relu_method": Op(lambda m, x: x.relu(), kink=0.0),
    "clamp": Op(lambda m, x: m.clamp(x, -0.5, 0.8)),
    "clamp_min": Op(lambda m, x: x.clamp(min=0.3)),
    "clamp_max": Op(lambda m, x: m.clamp(x, max=-0.2)),
    "clip": Op(lambda m, x: m.clip(x, -1.0, 1.0)),
    "pow_method": Op(lambda m, x: x.pow(3)),
    "fn_pow_scalar_base": Op(lambda m, x: m.pow(1.7, x)),
    "neg": Op(lambda m, x: m.neg(x)),
    "cumsum0": Op(lambda m, x: m.cumsum(x, 0), shapes=((3, 4, 2),)),
    "cumsum_neg": Op(lambda m, x: x.cumsum(dim=-1), shapes=((3, 4, 2),)),
    "exp_0d": Op(lambda m, x: m.exp(x), shapes=((),)),
    "tanh_3d": Op(lambda m, x: m.tanh(x), shapes=((2, 3, 4),)),
}

BINARY = {
    "maximum": Op(lambda m, a, b: m.maximum(a, b), shapes=((3, 4), (4,))),
    "minimum": Op(lambda m, a, b: m.minimum(a, b), shapes=((2, 1, 4), (3, 1))),
    "max_binary": Op(lambda m, a, b: m.max(a, b), shapes=((3, 4), (3, 4))),
    "min_binary": Op(lambda m, a, b: m.min(a, b), shapes=((3, 4), ())),
    "where": Op(lambda m, a, b: m.where(a > b, a, b * 2), shapes=((3, 4), (4,))),
    "where_bcast": Op(lambda m, a, b: m.where(a > 0, a.exp(), b), shapes=((3, 1), (1, 4))),
    "where_scalar": Op(lambda m, a, b: m.where(a > 0, a, 0.5) * b, shapes=((3, 4), (4,))),
    "clamp_tensor": Op(lambda m, a, b: m.clamp(a, min=b), shapes=((3, 4), (4,))),
    "masked_fill": Op(lambda m, a, b: a.masked_fill(b > 0, 2.0) * b, shapes=((3, 4), (4,))),
}

TABLE = {**UNARY, **BINARY}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity(name):
    TABLE[name].parity()


@pytest.mark.parametrize("name", list(TABLE))
def test_gradcheck(name):
    TABLE[name].gradcheck()


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "relu", "clamp", "maximum",
                                  "where", "log"])
def test_parity_float32(name):
    TABLE[name].parity(np.float32)


# piecewise constant: values only
PIECEWISE = {
    "sign": Op(lambda m, x: m.sign(x)),
    "floor": Op(lambda m, x: m.floor(x)),
    "ceil": Op(lambda m, x: m.ceil(x)),
    "round": Op(lambda m, x: m.round(x)),
    "sign_method": Op(lambda m, x: x.sign()),
    "isnan": Op(lambda m, x: m.isnan(x.log())),
    "isinf": Op(lambda m, x: m.isinf(1 / x.round())),
    "isfinite": Op(lambda m, x: m.isfinite(x.log())),
}


@pytest.mark.parametrize("name", list(PIECEWISE))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log(-1), 1/0 on purpose
def test_piecewise_constant_values(name):
    x = np.array([[-1.5, -0.5, 0.0, 0.4], [0.5, 1.5, 2.5, -2.5]])
    PIECEWISE[name].parity(inputs=[x], grad=False)


def test_ties_share_gradient_as_torch():
    torch = import_torch()
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    for fn in (lambda m, a, b: m.maximum(a, b), lambda m, a, b: m.minimum(a, b)):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[a, b])
    # relu at exactly 0 and clamp at its bounds: PyTorch's subgradient choices
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    for fn in (lambda m, x: m.relu(x), lambda m, x: m.clamp(x, 0.5, 1.0),
               lambda m, x: m.abs(x)):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[x])


def test_sigmoid_is_stable_at_extremes():
    x = ember.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    y = ember.sigmoid(x)
    assert np.all(np.isfinite(y.detach().numpy()))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        ember.clamp(ember.ones(2))


def test_where_condition_from_tensor_and_dtype():
    c = ember.tensor([True, False])
    out = ember.where(c, ember.ones(2), 0.0)
    assert out.dtype == ember.float32 and out.tolist() == [1.0, 0.0]


def test_where_condition_as_list_bool_or_raw_array(device):
    x = ember.tensor([1.0, 2.0, 3.0], device=device)
    mask = (x > 1.5).data  # a raw array on x's device, as the losses pass it
    for cond, want in (([True, False, True], [1.0, 0.0, 3.0]), (False, [0.0, 0.0, 0.0]),
                       (mask, [0.0, 2.0, 3.0])):
        out = ember.where(cond, x, 0.0)
        assert out.device == x.device and out.cpu().tolist() == want


def test_elementwise_on_device(device):
    x = ember.rand(5, device=device, requires_grad=True)
    y = (ember.exp(x) + ember.log(x + 1) + ember.sqrt(x) + ember.tanh(x) +
         ember.sigmoid(x) + ember.relu(x - 0.5)).sum()
    y.backward()
    assert x.grad.device == ember.device(device) and x.grad.shape == x.shape


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh",
                                  "sigmoid", "log1p", "abs", "relu", "neg"])
def test_integer_inputs_follow_torch_dtypes(name):
    torch = import_torch()
    check_op(getattr(ember, name), getattr(torch, name), inputs=[np.array([[1, 4], [9, 2]])],
             grad=False, rtol=1e-6)


def test_nan_propagation_and_gradients_match_torch():
    torch = import_torch()
    a, b = np.array([1.0, np.nan, np.nan, 2.0]), np.array([np.nan, 0.0, np.nan, 2.0])
    for fn in (lambda m, a, b: m.maximum(a, b), lambda m, a, b: m.minimum(a, b)):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[a, b])
    for fn in (lambda m, x: m.relu(x), lambda m, x: x.clamp(0.0, 1.0), lambda m, x: x.abs(),
               lambda m, x: x.sigmoid(), lambda m, x: x.exp()):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[a])


def test_sign_of_nan_signed_zero_and_bool_as_torch():
    """Found by tests/ops/test_fuzz.py: PyTorch's sign is (0 < x) - (x < 0), so sign(nan) is
    0 and sign(-0.0) is +0; a bool tensor is its own sign."""
    torch = import_torch()
    x = [np.nan, -0.0, 0.0, -2.0, np.inf, -np.inf]
    a, b = ember.sign(ember.tensor(x)).numpy(), torch.sign(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    mask = [True, False]
    assert ember.sign(ember.tensor(mask)).dtype == ember.bool
    np.testing.assert_array_equal(ember.sign(ember.tensor(mask)).numpy(), mask)


@pytest.mark.parametrize("name", ["abs", "relu", "floor", "ceil", "round"])
def test_ops_without_a_bool_kernel_refuse_bool_as_torch(name):
    """Found by the fuzz test: PyTorch refuses these on bool tensors (relu: RuntimeError,
    the others NotImplementedError); NumPy would compute them."""
    torch = import_torch()
    with pytest.raises(Exception) as expected:
        getattr(torch, name)(torch.tensor([True, False]))
    with pytest.raises(expected.type, match=f"{name}: not implemented for bool"):
        getattr(ember, name)(ember.tensor([True, False]))
