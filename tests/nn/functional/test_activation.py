"""Activation functions against PyTorch: values and input gradients of the F functions,
finite-difference gradchecks, PyTorch's gradient at kinks, in-place variants, numerical
extremes, erf against math.erf, maxout against a NumPy reference, argument errors."""
import math
import warnings

import numpy as np
import pytest
from _parity import assert_close, check_grad, check_op, import_torch, random_inputs
from _table import Op

import ember
import ember.nn.functional as F
from ember import nn

torch = import_torch()
TF = torch.nn.functional


def _f(name, *args, **kwargs):
    """``m.nn.functional.<name>(x, *args, **kwargs)``: the same call on ember and on torch."""
    return lambda m, x: getattr(m.nn.functional, name)(x, *args, **kwargs)


# kink: keep inputs away from it (None: smooth)
TABLE = {
    "relu": Op(_f("relu"), kink=0.0),
    "relu6": Op(_f("relu6"), kink=0.0),
    "leaky_relu": Op(_f("leaky_relu"), kink=0.0),
    "leaky_relu_0.2": Op(_f("leaky_relu", 0.2), kink=0.0),
    "leaky_relu_neg": Op(_f("leaky_relu", -0.3), kink=0.0),
    "elu": Op(_f("elu"), kink=0.0),
    "elu_0.5": Op(_f("elu", 0.5), kink=0.0),
    "selu": Op(_f("selu"), kink=0.0),
    "gelu": Op(_f("gelu")),
    "gelu_tanh": Op(_f("gelu", approximate="tanh")),
    "silu": Op(_f("silu")),
    "softplus": Op(_f("softplus")),
    "softplus_beta": Op(_f("softplus", beta=2.0, threshold=3.0), kink=1.5),
    "hardtanh": Op(_f("hardtanh"), kink=1.0),
    "hardtanh_range": Op(_f("hardtanh", -0.5, 1.5), kink=-0.5),
    "sigmoid": Op(_f("sigmoid")),
    "tanh": Op(_f("tanh")),
    "softmax": Op(_f("softmax", -1)),
    "softmax_0": Op(_f("softmax", 0)),
    "log_softmax": Op(_f("log_softmax", -1)),
    "log_softmax_0": Op(_f("log_softmax", 0)),
}
SHAPES = [(5,), (1, 7), (3, 4), (2, 3, 4, 5)]


@pytest.mark.parametrize("name", TABLE)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_parity_float64(name, shape):
    TABLE[name].parity(shapes=[shape], low=-4, high=4)


@pytest.mark.parametrize("name", TABLE)
def test_parity_float32(name):
    TABLE[name].parity(np.float32, shapes=[(4, 6)], low=-4, high=4)


@pytest.mark.parametrize("name", TABLE)
def test_gradcheck(name):
    TABLE[name].gradcheck([(3, 4)], low=-4, high=4)


def test_hardtanh_kinks_away_from_both_bounds():
    TABLE["hardtanh"].parity(shapes=[(4, 5)], away_from=-1.0, low=-1.5, high=0.5)


# --- PyTorch's gradient exactly at the kinks ------------------------------------------------

def _at(*kinks):
    """The kinks, and points on either side of them."""
    return (np.array([*kinks, -2.0, 2.0, 7.0]),)


KINKS = {
    "relu": Op(_f("relu"), inputs=_at(0.0)),
    "relu6": Op(_f("relu6"), inputs=_at(0.0, 6.0)),
    "leaky_relu": Op(_f("leaky_relu", 0.1), inputs=_at(0.0)),
    "hardtanh": Op(_f("hardtanh"), inputs=_at(-1.0, 1.0)),
    "elu": Op(_f("elu"), inputs=_at(0.0)),
    "selu": Op(_f("selu"), inputs=_at(0.0)),
    "prelu": Op(lambda m, x: m.nn.functional.prelu(x, m.tensor([0.3], dtype=x.dtype,
                                                                device=x.device)),
                inputs=_at(0.0)),
}


@pytest.mark.parametrize("name", KINKS)
def test_gradient_at_kinks_matches_torch(name):
    KINKS[name].parity()


# --- extremes ----------------------------------------------------------------------------

EXTREME = np.array([-800.0, -60.0, -30.0, -15.0, -1e-8, 0.0, 1e-8, 15.0, 19.9, 20.1, 60.0,
                    800.0])


@pytest.mark.parametrize("name", ["elu", "selu", "gelu", "gelu_tanh", "silu", "softplus",
                                  "softplus_beta", "sigmoid", "tanh"])
def test_extreme_inputs_are_finite_and_match_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from NumPy
        TABLE[name].parity(inputs=[EXTREME.copy()])


def test_erf_matches_math_erf():
    from ember.ops.special import erf_array as erf
    z = np.concatenate([np.linspace(-7, 7, 20001), [-1e-200, 0.0, 1e-200, np.inf, -np.inf]])
    got = erf(np, z.copy())
    want = np.array([math.erf(v) for v in z])
    assert np.all(np.abs(got - want) <= 2e-14 * np.abs(want) + 1e-300)
    got32 = erf(np, z.astype(np.float32))
    assert got32.dtype == np.float32
    assert np.abs(got32 - want).max() < 1e-6


# --- prelu -------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,n", [((4, 3), 1), ((4, 3), 3), ((2, 3, 5, 5), 3),
                                     ((1, 2, 6), 2), ((5,), 1), ((2, 3, 5, 5), 1)], ids=str)
def test_prelu_parity(shape, n):
    x, w = random_inputs([shape, (n,)], low=-2, high=2, away_from=0.0)
    check_op(F.prelu, TF.prelu, inputs=[x, w])
    check_grad(F.prelu, inputs=[x, w])


def test_prelu_wrong_weight_size():
    with pytest.raises(ValueError, match=r"weight has 4 elements .* 3 channels"):
        F.prelu(ember.randn(2, 3), ember.randn(4))


# --- in place ------------------------------------------------------------------------------

INPLACE = {
    "relu": Op(_f("relu", inplace=True)),
    "relu6": Op(_f("relu6", inplace=True)),
    "leaky_relu": Op(_f("leaky_relu", 0.2, True)),
    "elu": Op(_f("elu", 0.7, True)),
    "selu": Op(_f("selu", True)),
    "silu": Op(_f("silu", True)),
    "hardtanh": Op(_f("hardtanh", -0.5, 0.5, True)),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_input_and_backpropagates(name):
    inplace = INPLACE[name].fn

    def fn(m, x):
        h = x * 1.5  # a non-leaf, as PyTorch requires for in-place ops in a graph
        out = inplace(m, h)
        assert out is h
        return out

    Op(fn).parity(shapes=[(3, 5)], away_from=0.0)


def test_inplace_on_leaf_requiring_grad_refuses():
    x = ember.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        F.relu(x, inplace=True)


def test_inplace_without_grad_modifies_tensor():
    x = ember.tensor([-1.0, 2.0])
    F.relu(x, inplace=True)
    assert x.tolist() == [0.0, 2.0]


# --- maxout ----------------------------------------------------------------------------

def _maxout_ref(x, k, dim):
    x = np.moveaxis(x, dim, -1)
    out = x.reshape(x.shape[:-1] + (x.shape[-1] // k, k)).max(-1)
    return np.moveaxis(out, -1, dim)


@pytest.mark.parametrize("shape,k,dim", [((2, 6), 2, 1), ((2, 6, 3, 3), 3, 1),
                                         ((1, 4, 8), 4, -1), ((9,), 3, 0)], ids=str)
def test_maxout_functional(shape, k, dim):
    x, = random_inputs([shape])
    xe = ember.tensor(x, requires_grad=True)
    y = F.maxout(xe, k, dim)
    assert_close(y.detach().numpy(), _maxout_ref(x, k, dim), 0, 0, "maxout")
    g = np.random.default_rng(1).standard_normal(y.shape)
    (y * ember.tensor(g)).sum().backward()
    # the gradient lands on the arg-max of each group: the reference as a torch expression
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.movedim(tx, dim, -1)
    ty = ty.reshape(ty.shape[:-1] + (ty.shape[-1] // k, k)).amax(-1)
    torch.movedim(ty, -1, dim).backward(torch.tensor(g))
    assert_close(xe.grad.numpy(), tx.grad.numpy(), 1e-12, 1e-12, "maxout grad")
    check_grad(lambda t: F.maxout(t, k, dim), inputs=[x])


def test_bad_arguments():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(ember.randn(2), approximate="fast")
    with pytest.raises(ValueError, match="min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(ember.randn(2), 1.0, -1.0)
