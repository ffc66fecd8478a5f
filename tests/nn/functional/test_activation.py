"""Activation functions against PyTorch: values and input gradients of the F functions,
finite-difference gradchecks, PyTorch's gradient at kinks, in-place variants, numerical
extremes, erf against math.erf, maxout against a NumPy reference, argument errors."""
import math
import warnings

import numpy as np
import pytest
from _parity import assert_close, check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F
from ember import nn

torch = import_torch()
TF = torch.nn.functional


# name: (ember fn, torch fn, kink to keep inputs away from, or None)
TABLE = {
    "relu": (F.relu, TF.relu, 0.0),
    "relu6": (F.relu6, TF.relu6, 0.0),
    "leaky_relu": (F.leaky_relu, TF.leaky_relu, 0.0),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), 0.0),
    "leaky_relu_neg": (lambda x: F.leaky_relu(x, -0.3), lambda x: TF.leaky_relu(x, -0.3), 0.0),
    "elu": (F.elu, TF.elu, 0.0),
    "elu_0.5": (lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5), 0.0),
    "selu": (F.selu, TF.selu, 0.0),
    "gelu": (F.gelu, TF.gelu, None),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: TF.gelu(x, approximate="tanh"), None),
    "silu": (F.silu, TF.silu, None),
    "softplus": (F.softplus, TF.softplus, None),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: TF.softplus(x, beta=2.0, threshold=3.0), 1.5),
    "hardtanh": (F.hardtanh, TF.hardtanh, 1.0),
    "hardtanh_range": (lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: TF.hardtanh(x, -0.5, 1.5),
                       -0.5),
    "sigmoid": (F.sigmoid, torch.sigmoid, None),
    "tanh": (F.tanh, torch.tanh, None),
    "softmax": (lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1), None),
    "softmax_0": (lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0), None),
    "log_softmax": (lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), None),
    "log_softmax_0": (lambda x: F.log_softmax(x, 0), lambda x: TF.log_softmax(x, 0), None),
}


SHAPES = [(5,), (1, 7), (3, 4), (2, 3, 4, 5)]


@pytest.mark.parametrize("name", TABLE)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_parity_float64(name, shape):
    ef, tf, kink = TABLE[name]
    check_op(ef, tf, shapes=[shape], low=-4, high=4, away_from=kink)


@pytest.mark.parametrize("name", TABLE)
def test_parity_float32(name):
    ef, tf, kink = TABLE[name]
    check_op(ef, tf, shapes=[(4, 6)], dtype=np.float32, low=-4, high=4, away_from=kink)


@pytest.mark.parametrize("name", TABLE)
def test_gradcheck(name):
    ef, _, kink = TABLE[name]
    check_grad(ef, shapes=[(3, 4)], low=-4, high=4, away_from=kink)


def test_hardtanh_kinks_away_from_both_bounds():
    check_op(F.hardtanh, TF.hardtanh, shapes=[(4, 5)], away_from=-1.0, low=-1.5, high=0.5)


# --- PyTorch's gradient exactly at the kinks ------------------------------------------------

KINKS = {
    "relu": (F.relu, TF.relu, [0.0]),
    "relu6": (F.relu6, TF.relu6, [0.0, 6.0]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1), [0.0]),
    "hardtanh": (F.hardtanh, TF.hardtanh, [-1.0, 1.0]),
    "elu": (F.elu, TF.elu, [0.0]),
    "selu": (F.selu, TF.selu, [0.0]),
    "prelu": (lambda x: F.prelu(x, ember.tensor([0.3], dtype=x.dtype, device=x.device)),
              lambda x: TF.prelu(x, torch.tensor([0.3], dtype=x.dtype)), [0.0]),
}


@pytest.mark.parametrize("name", KINKS)
def test_gradient_at_kinks_matches_torch(name):
    ef, tf, points = KINKS[name]
    x = np.array(points + [-2.0, 2.0, 7.0])
    check_op(ef, tf, inputs=[x])


# --- extremes ----------------------------------------------------------------------------

EXTREME = np.array([-800.0, -60.0, -30.0, -15.0, -1e-8, 0.0, 1e-8, 15.0, 19.9, 20.1, 60.0,
                    800.0])


@pytest.mark.parametrize("name", ["elu", "selu", "gelu", "gelu_tanh", "silu", "softplus",
                                  "softplus_beta", "sigmoid", "tanh"])
def test_extreme_inputs_are_finite_and_match_torch(name):
    ef, tf, _ = TABLE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from NumPy
        check_op(ef, tf, inputs=[EXTREME.copy()])


def test_erf_matches_math_erf():
    from ember.nn.functional.activation import erf
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
    "relu": (lambda x, i: F.relu(x, inplace=i), lambda x, i: TF.relu(x, inplace=i)),
    "relu6": (lambda x, i: F.relu6(x, inplace=i), lambda x, i: TF.relu6(x, inplace=i)),
    "leaky_relu": (lambda x, i: F.leaky_relu(x, 0.2, i), lambda x, i: TF.leaky_relu(x, 0.2, i)),
    "elu": (lambda x, i: F.elu(x, 0.7, i), lambda x, i: TF.elu(x, 0.7, i)),
    "selu": (lambda x, i: F.selu(x, i), lambda x, i: TF.selu(x, i)),
    "silu": (lambda x, i: F.silu(x, i), lambda x, i: TF.silu(x, i)),
    "hardtanh": (lambda x, i: F.hardtanh(x, -0.5, 0.5, i),
                 lambda x, i: TF.hardtanh(x, -0.5, 0.5, i)),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_input_and_backpropagates(name):
    ef, tf = INPLACE[name]

    def e_fn(x):
        h = x * 1.5  # a non-leaf, as PyTorch requires for in-place ops in a graph
        out = ef(h, True)
        assert out is h
        return out

    def t_fn(x):
        h = x * 1.5
        out = tf(h, True)
        assert out is h
        return out

    check_op(e_fn, t_fn, shapes=[(3, 5)], away_from=0.0)


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
