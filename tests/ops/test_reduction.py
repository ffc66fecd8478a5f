"""Reductions against PyTorch: values, indices and gradients (float64), finite differences,
and hypothesis-drawn shapes and axes."""
import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ember
from _parity import check_grad, check_op, import_torch
import _table

S = (3, 4, 5)
Op = partial(_table.Op, shapes=(S,))


TABLE = {
    "sum_all": Op(lambda m, x: m.sum(x)),
    "sum_dim": Op(lambda m, x: x.sum(1)),
    "sum_neg_keep": Op(lambda m, x: x.sum(dim=-1, keepdim=True)),
    "sum_tuple": Op(lambda m, x: m.sum(x, (0, 2))),
    "sum_tuple_keep": Op(lambda m, x: m.sum(x, dim=(2, 0), keepdim=True)),
    "sum_0d": Op(lambda m, x: x.sum(), shapes=((),)),
    "mean_all": Op(lambda m, x: x.mean()),
    "mean_dim": Op(lambda m, x: m.mean(x, 0)),
    "mean_tuple_keep": Op(lambda m, x: x.mean((1, 2), keepdim=True)),
    "var_all": Op(lambda m, x: x.var()),
    "var_dim": Op(lambda m, x: m.var(x, 1)),
    "var_biased": Op(lambda m, x: x.var(1, unbiased=False)),
    "var_correction": Op(lambda m, x: m.var(x, dim=(0, 2), correction=2, keepdim=True)),
    "var_correction0": Op(lambda m, x: x.var(dim=-1, correction=0)),
    "std_all": Op(lambda m, x: x.std()),
    "std_dim_keep": Op(lambda m, x: m.std(x, 2, keepdim=True)),
    "std_biased": Op(lambda m, x: x.std(dim=(0, 1), unbiased=False)),
    "max_all": Op(lambda m, x: x.max()),
    "min_all": Op(lambda m, x: m.min(x)),
    "max_dim": Op(lambda m, x: m.max(x, 1)),
    "max_dim_keep": Op(lambda m, x: x.max(dim=-1, keepdim=True)),
    "min_dim": Op(lambda m, x: x.min(0)),
    "min_dim_keep": Op(lambda m, x: m.min(x, dim=2, keepdim=True)),
    "max_values": Op(lambda m, x: x.max(1).values * 2),
    "amax": Op(lambda m, x: m.amax(x, 1)),
    "amax_tuple_keep": Op(lambda m, x: x.amax((0, 2), keepdim=True)),
    "amin": Op(lambda m, x: x.amin(-1)),
    "amin_tuple": Op(lambda m, x: m.amin(x, (1, 2))),
    "prod_all": Op(lambda m, x: m.prod(x), shapes=((2, 3),)),
    "prod_dim": Op(lambda m, x: x.prod(1)),
    "prod_dim_keep": Op(lambda m, x: m.prod(x, 0, keepdim=True)),
    "logsumexp": Op(lambda m, x: m.logsumexp(x, 1)),
    "logsumexp_tuple_keep": Op(lambda m, x: x.logsumexp((0, 2), keepdim=True)),
    "norm_fro": Op(lambda m, x: m.norm(x)),
    "norm_fro_dim": Op(lambda m, x: x.norm(p="fro", dim=(1, 2))),
    "norm_2_dim": Op(lambda m, x: m.norm(x, 2, 1)),
    "norm_1": Op(lambda m, x: m.norm(x, 1, dim=-1, keepdim=True), kink=0.0),
    "norm_1_all": Op(lambda m, x: x.norm(p=1), kink=0.0),
    "norm_inf": Op(lambda m, x: m.norm(x, math.inf, dim=1)),
    "norm_inf_all": Op(lambda m, x: x.norm(p=float("inf"))),
    "norm_3": Op(lambda m, x: m.norm(x, 3, dim=(0, 1))),
    "norm_3_all": Op(lambda m, x: x.norm(3)),
    "norm_neg_inf": Op(lambda m, x: m.norm(x, -math.inf, dim=0)),
    "norm_0": Op(lambda m, x: x.norm(0, dim=1), kink=0.0),
    "softmax": Op(lambda m, x: m.softmax(x, 1)),
    "softmax_last": Op(lambda m, x: x.softmax(dim=-1), low=-30, high=30),
    "log_softmax": Op(lambda m, x: m.log_softmax(x, 0)),
    "log_softmax_last": Op(lambda m, x: x.log_softmax(-1), low=-30, high=30),
    "cumsum": Op(lambda m, x: m.cumsum(x, 1)),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity(name):
    TABLE[name].parity()


@pytest.mark.parametrize("name", list(TABLE))
def test_gradcheck(name):
    op = TABLE[name]
    op.gradcheck(tuple((2, 3, 2) if s == S else s for s in op.shapes))  # small: full Jacobians


@pytest.mark.parametrize("name", ["sum_tuple", "mean_all", "var_dim", "max_dim", "amax",
                                  "logsumexp", "norm_2_dim", "softmax", "log_softmax"])
def test_parity_float32(name):
    TABLE[name].parity(np.float32)


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_with_zeros(dim):
    torch = import_torch()
    x = np.array([[0.0, 2.0, 3.0, -1.5], [1.5, 0.0, 0.0, 2.0], [0.5, -2.0, 1.0, 3.0]])
    fn = (lambda m, x: m.prod(x)) if dim is None else (lambda m, x: m.prod(x, dim))
    check_op(partial(fn, ember), partial(fn, torch), inputs=[x])
    check_grad(partial(fn, ember), inputs=[x])


# integer and boolean results: values and dtypes only
INDEX_AND_BOOL = {
    "argmax": Op(lambda m, x: m.argmax(x)),
    "argmin": Op(lambda m, x: m.argmin(x)),
    "argmax_dim": Op(lambda m, x: x.argmax(1)),
    "argmin_keep": Op(lambda m, x: m.argmin(x, dim=-1, keepdim=True)),
    "argmax_keep": Op(lambda m, x: m.argmax(x, keepdim=True)),
    "all": Op(lambda m, x: m.all(x > -1)),
    "any_dim": Op(lambda m, x: (x > 0).any(1)),
    "all_keep": Op(lambda m, x: m.all(x > 0, dim=0, keepdim=True)),
    "sum_bool": Op(lambda m, x: m.sum(x > 0, 1)),
    "argmax_0d": Op(lambda m, x: x[0, 0, 0].argmax(0)),
    "argmin_0d_keep": Op(lambda m, x: m.argmin(x[0, 0, 0], -1, keepdim=True)),
}


@pytest.mark.parametrize("name", list(INDEX_AND_BOOL))
def test_index_and_bool_reductions(name):
    INDEX_AND_BOOL[name].parity(grad=False)


def test_ties_in_max_and_amax_match_torch():
    torch = import_torch()
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    for fn in (lambda m, x: m.max(x), lambda m, x: m.amax(x, 1), lambda m, x: x.amin(0),
               lambda m, x: m.norm(x, float("inf"), 1)):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[x])
    _values, indices = ember.max(ember.tensor(x), 1)
    assert indices.tolist() == torch.max(torch.tensor(x), 1).indices.tolist()


def test_norm_and_logsumexp_edge_values():
    torch = import_torch()
    z = np.zeros((2, 3))
    for fn in (lambda m, x: m.norm(x, 2, 1), lambda m, x: m.norm(x), lambda m, x: m.norm(x, 3)):
        check_op(partial(fn, ember), partial(fn, torch), inputs=[z])
    x = ember.tensor([-np.inf, -np.inf])
    assert ember.logsumexp(x, 0).item() == -np.inf
    big = np.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    fn = lambda m, x: m.logsumexp(x, 1)
    check_op(partial(fn, ember), partial(fn, torch), inputs=[big])


def test_reduction_dtypes():
    i = ember.tensor([[1, 2], [3, 4]], dtype=ember.int32)
    assert ember.sum(i).dtype == ember.int64  # as torch: integer sums widen to int64
    assert ember.sum(ember.tensor([True, True])).item() == 2
    assert ember.max(i, 1).indices.dtype == ember.int64
    assert ember.ones(2, 3).mean(0).dtype == ember.float32


def test_bad_dim_raises():
    with pytest.raises(IndexError, match="dimension 3"):
        ember.ones(2, 3).sum(3)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
       keepdim=st.booleans())
def test_reduction_axes_property(data, shape, keepdim):
    torch = import_torch()
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape),
                              unique=True))
    dim = tuple(a - len(shape) if data.draw(st.booleans()) else a for a in axes)  # negatives
    for fn in (lambda m, x: m.sum(x, dim, keepdim=keepdim),
               lambda m, x: m.mean(x, dim, keepdim=keepdim),
               lambda m, x: m.amax(x, dim, keepdim=keepdim),
               lambda m, x: m.logsumexp(x, dim, keepdim=keepdim)):
        check_op(partial(fn, ember), partial(fn, torch), shapes=[shape])
    if math.prod(shape[a] for a in axes) > 1:  # the unbiased variance needs two elements
        fn = lambda m, x: m.var(x, dim, keepdim=keepdim)
        check_op(partial(fn, ember), partial(fn, torch), shapes=[shape])


def test_reductions_on_device(device):
    x = ember.randn(4, 5, device=device, requires_grad=True)
    loss = x.sum(1).mean() + x.var(0).sum() + x.max(1).values.sum() + x.logsumexp(1).sum()
    loss = loss + ember.softmax(x, 1)[:, 0].sum() + x.norm()
    loss.backward()
    assert x.grad.device == ember.device(device) and np.isfinite(x.grad.cpu().numpy()).all()


# fixed inputs at the edges: zero spread, too few elements, nan, 0-d tensors, -inf
EDGE = {
    "std_zero": Op(lambda m, x: x.std(), inputs=(np.ones(3),)),  # zero spread: gradient 0
    "std_dim_zero": Op(lambda m, x: m.std(x, 1, keepdim=True),
                       inputs=(np.array([[1.0, 1.0], [1.0, 2.0]]),)),
    "var_one": Op(lambda m, x: x.var(), inputs=(np.ones(1),)),  # N - 1 == 0: nan
    "max_nan": Op(lambda m, x: x.max(), inputs=(np.array([1.0, np.nan, 3.0]),)),  # nan wins
    "amin_nan": Op(lambda m, x: m.min(x), inputs=(np.array([[1.0, np.nan], [0.0, 3.0]]),)),
    "max_0d": Op(lambda m, x: x.max(0), inputs=(np.array(2.0),)),  # 0-d tensors, dim 0
    "min_0d_keep": Op(lambda m, x: m.min(x, -1, keepdim=True), inputs=(np.array(2.0),)),
    "softmax_0d": Op(lambda m, x: x.softmax(0), inputs=(np.array(2.0),)),
    "log_softmax_0d": Op(lambda m, x: m.log_softmax(x, -1), inputs=(np.array(2.0),)),
    "prod_0d": Op(lambda m, x: x.prod(0), inputs=(np.array(2.0),)),
    "sum_0d": Op(lambda m, x: x.sum(0), inputs=(np.array(2.0),)),
    "cumsum_0d": Op(lambda m, x: x.cumsum(0), inputs=(np.array(2.0),)),
    "logsumexp_0d": Op(lambda m, x: x.logsumexp(0), inputs=(np.array(2.0),)),
    "softmax_ninf": Op(lambda m, x: x.softmax(0), inputs=(np.array([-np.inf, 1.0, 2.0]),)),
    "log_softmax_ninf": Op(lambda m, x: x.log_softmax(0),
                           inputs=(np.array([-np.inf, 1.0, 2.0]),)),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", list(EDGE))
def test_edge_values_match_torch(name):
    EDGE[name].parity()


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("shape,dim", [((2, 0), 1), ((2, 0), 0), ((0, 3), 1), ((0,), 0)])
def test_softmax_family_over_empty_dims_as_torch(name, shape, dim):
    """Size-0 inputs: empty results of torch's shape (logsumexp over an empty dim is -inf),
    no error, no warning; the backward runs too."""
    import warnings
    torch = import_torch()
    outs = []
    for m in (ember, torch):
        x = m.zeros(*shape, dtype=m.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = getattr(m, name)(x, dim)
            y.sum().backward()
        outs.append((y.detach().numpy(), x.grad.numpy()))
    for a, b in zip(outs[0], outs[1]):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("x,dim", [
    ([[1.0, 0.0, 3.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 1),  # one, two, all zeros
    ([[1.0, 0.0, 3.0], [2.0, 4.0, 5.0]], None),
    ([[-0.0, 2.0], [3.0, -0.0]], 0),  # signed zeros
    ([1e200, 1e200, 0.0], 0),  # the product overflows to inf only with the zero left out
])
def test_prod_gradient_at_zeros_as_torch(x, dim):
    torch = import_torch()
    out = []
    for m in (ember, torch):
        t = m.tensor(x, dtype=m.float64, requires_grad=True)
        y = m.prod(t) if dim is None else m.prod(t, dim)
        y.backward(m.ones_like(y))
        out.append((y.detach().numpy(), t.grad.numpy()))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def test_prod_gradient_where_the_product_overflows_is_inf_as_torch():
    """Without zeros PyTorch's gradient is grad * prod / x, so where prod overflows every
    gradient is inf; ember follows it."""
    torch = import_torch()
    grads = []
    for m in (ember, torch):
        x = m.tensor([1e200, 1e200, 2.0], dtype=m.float64, requires_grad=True)
        with np.errstate(over="ignore"):
            x.prod().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], [np.inf] * 3)


def test_mean_refuses_integers_and_logsumexp_promotes_them_as_torch():
    """Found by tests/ops/test_fuzz.py: mean of an int / bool tensor is a RuntimeError in
    PyTorch; logsumexp computes integers in the default float dtype."""
    torch = import_torch()
    for x in ([1, 2], [True, False]):
        with pytest.raises(RuntimeError):
            torch.mean(torch.tensor(x))
        with pytest.raises(RuntimeError, match="mean"):
            ember.mean(ember.tensor(x))
        a, b = ember.logsumexp(ember.tensor(x), 0), torch.logsumexp(torch.tensor(x), 0)
        assert a.dtype == ember.float32 and b.dtype == torch.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["var", "std", "argmax", "argmin"])
def test_reductions_refuse_dtypes_as_torch(name):
    """Found by tests/ops/test_fuzz.py: var / std of integers and argmax / argmin of bools
    are RuntimeErrors in PyTorch."""
    torch = import_torch()
    x = [1, 2, 4] if name in ("var", "std") else [True, False]
    with pytest.raises(RuntimeError):
        getattr(torch, name)(torch.tensor(x))
    with pytest.raises(RuntimeError, match=name):
        getattr(ember, name)(ember.tensor(x))
