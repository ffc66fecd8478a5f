"""cumprod, logcumsumexp, tril, triu, diag, diagonal, trace, outer, narrow, take_along_dim,
repeat_interleave and meshgrid against PyTorch: values, gradients, dtypes and errors."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import import_torch
import _table

S = (3, 4, 5)
Op = partial(_table.Op, shapes=(S,))


def _i(m, rows):
    return m.tensor(np.array(rows))


TABLE = {
    "cumprod": Op(lambda m, x: m.cumprod(x, 1)),
    "cumprod_neg": Op(lambda m, x: x.cumprod(-1)),
    "cumprod_0d": Op(lambda m, x: m.cumprod(x, 0), shapes=((),)),
    "logcumsumexp": Op(lambda m, x: m.logcumsumexp(x, 1)),
    "logcumsumexp_neg": Op(lambda m, x: x.logcumsumexp(-1), shapes=((2, 6),)),
    "logcumsumexp_0": Op(lambda m, x: x.logcumsumexp(0), shapes=((7,),)),
    "tril": Op(lambda m, x: m.tril(x)),
    "tril_offset": Op(lambda m, x: x.tril(-1), shapes=((4, 6),)),
    "triu": Op(lambda m, x: m.triu(x, 2)),
    "triu_neg": Op(lambda m, x: x.triu(diagonal=-2), shapes=((5, 3),)),
    "diag_embed": Op(lambda m, x: m.diag(x), shapes=((4,),)),
    "diag_embed_up": Op(lambda m, x: x.diag(2), shapes=((3,),)),
    "diag_embed_down": Op(lambda m, x: m.diag(x, -1), shapes=((3,),)),
    "diag_take": Op(lambda m, x: m.diag(x), shapes=((4, 5),)),
    "diag_take_off": Op(lambda m, x: x.diag(-2), shapes=((4, 5),)),
    "diagonal": Op(lambda m, x: m.diagonal(x)),
    "diagonal_dims": Op(lambda m, x: x.diagonal(1, 2, 0)),
    "diagonal_neg": Op(lambda m, x: m.diagonal(x, offset=-1, dim1=-1, dim2=-2)),
    "trace": Op(lambda m, x: m.trace(x), shapes=((4, 5),)),
    "trace_method": Op(lambda m, x: x.trace(), shapes=((3, 3),)),
    "outer": Op(lambda m, x, y: m.outer(x, y), shapes=((3,), (4,))),
    "outer_method": Op(lambda m, x, y: x.outer(y), shapes=((2,), (5,))),
    "narrow": Op(lambda m, x: m.narrow(x, 1, 1, 2)),
    "narrow_neg": Op(lambda m, x: x.narrow(-1, -3, 2)),
    "take_along_dim": Op(lambda m, x: m.take_along_dim(x, _i(m, [[[0], [4], [4], [1]]]), 2)),
    "take_along_dim_flat": Op(lambda m, x: x.take_along_dim(_i(m, [0, 59, 7, 7]))),
    "take_along_dim_argsort": Op(lambda m, x: m.take_along_dim(x, x.argsort(1), 1)),
    "repeat_interleave": Op(lambda m, x: m.repeat_interleave(x, 2)),
    "repeat_interleave_dim": Op(lambda m, x: x.repeat_interleave(3, dim=1)),
    "repeat_interleave_tensor": Op(
        lambda m, x: m.repeat_interleave(x, _i(m, [2, 0, 1, 3]), dim=-2)),
    "meshgrid_ij": Op(lambda m, x, y: m.meshgrid(x, y, indexing="ij"), shapes=((3,), (4,))),
    "meshgrid_xy": Op(lambda m, x, y, z: m.meshgrid(x, y, z, indexing="xy"),
                      shapes=((3,), (4,), (2,))),
    "meshgrid_list": Op(lambda m, x, y: m.meshgrid([x, y], indexing="ij"),
                        shapes=((2,), (3,))),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity_and_gradcheck(name):
    TABLE[name].parity()
    TABLE[name].gradcheck()


@pytest.mark.parametrize("zeros", [[1], [0, 3], [2, 2]])
def test_cumprod_gradient_through_zeros(zeros):
    x = np.random.default_rng(1).uniform(-2, 2, (3, 5))
    x[:, zeros] = 0.0
    op = _table.Op(lambda m, x: m.cumprod(x, 1))
    op.parity(inputs=(x,))
    op.gradcheck(inputs=(x,))


def test_diagonal_past_the_edge_is_empty():
    Op(lambda m, x: m.diagonal(x, 7, 1, 2)).parity()


def test_logcumsumexp_is_stable():
    x = np.array([[-1000.0, 0.0, 1000.0, 1000.0], [-800.0, -800.0, -1.0, 700.0]])
    _table.Op(lambda m, x: m.logcumsumexp(x, 1)).parity(inputs=(x,))


def test_integer_results():
    torch = import_torch()
    a = np.arange(12).reshape(3, 4)
    for fn in [lambda m, x: m.cumprod(x, 1), lambda m, x: m.tril(x), lambda m, x: m.triu(x, 1),
               lambda m, x: m.diag(x), lambda m, x: m.trace(x),
               lambda m, x: m.repeat_interleave(x, 2, 0), lambda m, x: m.diagonal(x, 1),
               lambda m, x: m.repeat_interleave(m.tensor([1, 0, 3]))]:
        e, t = fn(ember, ember.tensor(a)), fn(torch, torch.tensor(a))
        assert str(e.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("fn, err", [
    (lambda m: m.tril(m.zeros(3)), RuntimeError),
    (lambda m: m.diag(m.zeros(2, 2, 2)), RuntimeError),
    (lambda m: m.diagonal(m.zeros(2, 3), 0, 1, 1), RuntimeError),
    (lambda m: m.trace(m.zeros(3)), RuntimeError),
    (lambda m: m.outer(m.zeros(2, 2), m.zeros(2)), RuntimeError),
    (lambda m: m.narrow(m.zeros(2, 3), 1, 2, 2), (IndexError, RuntimeError)),
    (lambda m: m.take_along_dim(m.zeros(2, 3), m.zeros(2, dtype=m.int64), 1), RuntimeError),
    (lambda m: m.repeat_interleave(m.zeros(3), m.tensor([1, 2])), RuntimeError),
    (lambda m: m.meshgrid(m.zeros(2), m.zeros(3), indexing="yx"), (ValueError, RuntimeError)),
])
def test_errors(fn, err):
    with pytest.raises(err):
        fn(ember)
    with pytest.raises(err):
        fn(import_torch())
