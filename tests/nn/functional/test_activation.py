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
    "mish": Op(_f("mish")),
    "hardswish": Op(_f("hardswish"), kink=3.0),
    "hardsigmoid": Op(_f("hardsigmoid"), kink=-3.0),
    "celu": Op(_f("celu"), kink=0.0),
    "celu_0.5": Op(_f("celu", 0.5), kink=0.0),
    "rrelu_eval": Op(_f("rrelu"), kink=0.0),
    "rrelu_eval_bounds": Op(_f("rrelu", 0.1, 0.6, False), kink=0.0),
    "softsign": Op(_f("softsign")),
    "softmin": Op(_f("softmin", -1)),
    "softmin_0": Op(_f("softmin", 0)),
    "logsigmoid": Op(_f("logsigmoid")),
    "threshold": Op(_f("threshold", 0.5, -2.0), kink=0.5),
    "hardshrink": Op(_f("hardshrink"), kink=0.5),
    "hardshrink_1": Op(_f("hardshrink", 1.0), kink=-1.0),
    "softshrink": Op(_f("softshrink"), kink=-0.5),
    "softshrink_1": Op(_f("softshrink", 1.0), kink=1.0),
    "tanhshrink": Op(_f("tanhshrink")),
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
    "hardswish": Op(_f("hardswish"), inputs=_at(-3.0, 3.0)),
    "hardsigmoid": Op(_f("hardsigmoid"), inputs=_at(-3.0, 3.0)),
    "celu": Op(_f("celu", 0.5), inputs=_at(0.0)),
    "rrelu_eval": Op(_f("rrelu"), inputs=_at(0.0)),
    "threshold": Op(_f("threshold", 2.0, 5.0), inputs=_at(0.0)),
    "hardshrink": Op(_f("hardshrink"), inputs=_at(-0.5, 0.5)),
    "softshrink": Op(_f("softshrink"), inputs=_at(-0.5, 0.5)),
    "softshrink_0": Op(_f("softshrink", 0.0), inputs=_at(0.0)),
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
                                  "softplus_beta", "sigmoid", "tanh", "mish", "celu",
                                  "celu_0.5", "logsigmoid", "softsign", "hardswish",
                                  "tanhshrink"])
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
    "mish": Op(_f("mish", True)),
    "hardswish": Op(_f("hardswish", True)),
    "hardsigmoid": Op(_f("hardsigmoid", True)),
    "celu": Op(_f("celu", 0.75, True)),
    "rrelu_eval": Op(_f("rrelu", 0.1, 0.3, False, True)),
    "threshold": Op(_f("threshold", 0.2, 1.0, True)),
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


# --- glu, rrelu in training, the new functions' errors -------------------------------------

@pytest.mark.parametrize("shape,dim", [((4, 6), -1), ((4, 6), 0), ((2, 4, 3), 1), ((8,), 0)],
                         ids=str)
def test_glu_parity(shape, dim):
    op = Op(lambda m, x: m.nn.functional.glu(x, dim))
    op.parity(shapes=[shape], low=-4, high=4)
    op.parity(np.float32, shapes=[shape], low=-4, high=4)
    op.gradcheck([shape])


def test_celu_gradient_is_exact_where_torch_rounds_one_over_alpha_to_float32():
    # torch's celu backward uses float(1 / alpha) rounded to float32: for an alpha like 0.7
    # its float64 gradient is off by ~1e-8 (relative); ember's is exact (tests elsewhere use
    # alphas whose reciprocal is exact in float32, where the two agree to 1e-10)
    x, = random_inputs([(3, 4)], low=-3, high=-0.1)
    xe = ember.tensor(x, requires_grad=True)
    F.celu(xe, 0.7).sum().backward()
    assert_close(xe.grad.numpy(), np.exp(x / 0.7), 1e-14, 0, "celu gradient")
    check_op(lambda t: F.celu(t, 0.7), lambda t: TF.celu(t, 0.7), inputs=[x], rtol=1e-7)


def test_logsigmoid_keeps_precision_far_out():
    x = np.array([-1e4, -745.0, -40.0, 40.0, 745.0, 1e4])
    got = F.logsigmoid(ember.tensor(x)).numpy()
    assert np.all(np.isfinite(got))
    assert_close(got, TF.logsigmoid(torch.tensor(x)).numpy(), 1e-15, 1e-300, "logsigmoid")


def _rrelu_training(x, lower, upper, inplace=False):
    xe = ember.tensor(x, requires_grad=True)
    h = xe * 1.0
    y = F.rrelu(h, lower, upper, training=True, inplace=inplace)
    assert (y is h) == inplace
    y.sum().backward()
    return y.detach().numpy(), xe.grad.numpy()


@pytest.mark.parametrize("inplace", [False, True])
def test_rrelu_training_slopes_are_uniform_and_the_gradient_is_the_slope(inplace):
    lower, upper = 0.1, 0.4
    x, = random_inputs([(200, 100)], low=-3, high=3, away_from=0.0)
    x[0, :10] = 0.0  # torch draws a slope for x <= 0
    ember.manual_seed(3)
    y, g = _rrelu_training(x, lower, upper, inplace)
    pos = x > 0
    assert np.array_equal(y[pos], x[pos]) and np.all(g[pos] == 1)
    assert np.all(y[x == 0] == 0) and np.all((g[x == 0] >= lower) & (g[x == 0] <= upper))
    slopes = y[x < 0] / x[x < 0]
    assert np.all((slopes >= lower) & (slopes <= upper))
    assert_close(g[x < 0], slopes, 1e-12, 0, "gradient vs slope")
    # uniform on [lower, upper]: mean and variance within a few standard errors
    n, width = slopes.size, upper - lower
    assert abs(slopes.mean() - (lower + upper) / 2) < 4 * width / np.sqrt(12 * n)
    assert abs(slopes.var() - width ** 2 / 12) < 0.05 * width ** 2 / 12
    # torch's slopes follow the same law
    ts = TF.rrelu(torch.tensor(x), lower, upper, training=True).numpy()[x < 0] / x[x < 0]
    assert abs(ts.mean() - slopes.mean()) < 8 * width / np.sqrt(12 * n)
    # the seed repeats the draw
    ember.manual_seed(3)
    y2, _ = _rrelu_training(x, lower, upper, inplace)
    assert np.array_equal(y, y2)


def test_rrelu_training_gradcheck():
    x, = random_inputs([(3, 4)], away_from=0.0)

    def fn(t):
        ember.manual_seed(0)  # the same slopes on every call of the finite differences
        return F.rrelu(t, 0.2, 0.5, training=True)
    check_grad(fn, inputs=[x])


def test_softmin_without_dim_warns_and_uses_torchs_rule():
    x, = random_inputs([(2, 3, 4)])
    with pytest.warns(UserWarning, match="Implicit dimension"):
        got = F.softmin(ember.tensor(x)).numpy()
    with pytest.warns(UserWarning):
        want = TF.softmin(torch.tensor(x)).numpy()
    assert_close(got, want, 1e-12, 1e-12, "softmin")
    check_op(lambda t: F.softmin(t, 1, dtype=ember.float32),
             lambda t: TF.softmin(t, 1, dtype=torch.float32), shapes=[(3, 4)], rtol=1e-6)


def test_bad_arguments_of_the_new_functions():
    with pytest.raises(ValueError, match=r"glu: halving dimension must be even.*size 5"):
        F.glu(ember.randn(2, 5))
    with pytest.raises(ValueError, match="glu: does not support scalars"):
        F.glu(ember.tensor(1.0))
    with pytest.raises(IndexError, match="glu: dim 2 is out of range"):
        F.glu(ember.randn(2, 4), 2)
    with pytest.raises(ZeroDivisionError, match="celu: alpha cannot be 0"):
        F.celu(ember.randn(2), 0.0)
    with pytest.raises(ValueError, match=r"rrelu: lower bound \(0.5\).*upper bound \(0.1\)"):
        F.rrelu(ember.randn(2), 0.5, 0.1)
    with pytest.raises(ValueError, match="softshrink: lambd must be non-negative"):
        F.softshrink(ember.randn(2), -0.5)


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.7,)), ("leaky_relu_", (0.2,)),
                                       ("hardtanh_", (-0.5, 0.5)), ("selu_", ()),
                                       ("celu_", (1.5,)), ("threshold_", (0.1, -2.0))])
def test_in_place_variants_match_torch(name, args):
    x = np.random.default_rng(0).standard_normal((3, 4))
    e, t = ember.tensor(x), torch.tensor(x)
    out_e, out_t = getattr(F, name)(e, *args), getattr(torch.nn.functional, name)(t, *args)
    assert out_e is e and out_t is t
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)


def test_rrelu_in_place_in_eval_matches_torch():
    x = np.random.default_rng(1).standard_normal(10)
    e, t = ember.tensor(x), torch.tensor(x)
    F.rrelu_(e), torch.nn.functional.rrelu_(t)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)


def test_gumbel_softmax_soft_hard_and_seeded():
    logits = ember.tensor(np.log([[0.1, 0.2, 0.7]] * 20000), requires_grad=True)
    ember.manual_seed(0)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    ember.manual_seed(0)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and (h.sum(-1) == 1).all()
    assert (h.argmax(-1) == soft.detach().numpy().argmax(-1)).all()  # same noise, same draw
    np.testing.assert_allclose(h.mean(0), [0.1, 0.2, 0.7], atol=0.01)  # Gumbel-max sampling
    g = np.random.default_rng(2).standard_normal(h.shape)
    ember.manual_seed(0)
    (F.gumbel_softmax(logits, tau=0.5, hard=True) * ember.tensor(g)).sum().backward()
    hard_grad = logits.grad.numpy().copy()
    logits.grad = None
    ember.manual_seed(0)
    (F.gumbel_softmax(logits, tau=0.5) * ember.tensor(g)).sum().backward()
    np.testing.assert_allclose(hard_grad, logits.grad.numpy(), rtol=1e-12)  # straight-through


def test_relu_refuses_bool_like_torch():
    for m in (ember, torch):
        with pytest.raises(RuntimeError):
            m.nn.functional.relu(m.tensor([True, False]))
