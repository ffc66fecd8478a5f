"""sort, argsort, topk, kthvalue, cummax and cummin against PyTorch: values, indices (and
their dtype), gradients, ties, NaN and errors."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import import_torch
import _table

S = (3, 4, 5)
Op = partial(_table.Op, shapes=(S,))

TABLE = {
    "sort": Op(lambda m, x: m.sort(x)),
    "sort_dim0_desc": Op(lambda m, x: x.sort(0, descending=True)),
    "sort_stable": Op(lambda m, x: m.sort(x, dim=1, stable=True)),
    "sort_1d": Op(lambda m, x: x.sort(), shapes=((7,),)),
    "sort_0d": Op(lambda m, x: m.sort(x), shapes=((),)),
    "argsort": Op(lambda m, x: m.argsort(x, dim=-2) * x.sum()),
    "argsort_desc": Op(lambda m, x: x.argsort(descending=True) * 1.0 + x[..., :1]),
    "topk": Op(lambda m, x: m.topk(x, 2)),
    "topk_smallest_dim": Op(lambda m, x: x.topk(3, dim=0, largest=False)),
    "topk_all": Op(lambda m, x: m.topk(x, 5, -1)),
    "kthvalue": Op(lambda m, x: m.kthvalue(x, 2)),
    "kthvalue_keep": Op(lambda m, x: x.kthvalue(3, 1, keepdim=True)),
    "kthvalue_0d": Op(lambda m, x: m.kthvalue(x, 1), shapes=((),)),
    "cummax": Op(lambda m, x: m.cummax(x, 1)),
    "cummax_neg": Op(lambda m, x: x.cummax(dim=-1)),
    "cummin": Op(lambda m, x: m.cummin(x, 0)),
    "cummin_1d": Op(lambda m, x: x.cummin(0), shapes=((9,),)),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity_and_gradcheck(name):
    TABLE[name].parity()
    TABLE[name].gradcheck()


TIES = np.array([[1.0, 3.0, 1.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, -1.0, -1.0, 5.0]])


@pytest.mark.parametrize("fn", [
    lambda m, x: m.sort(x, stable=True), lambda m, x: m.sort(x, descending=True, stable=True),
    lambda m, x: m.sort(x, dim=0, descending=True, stable=True), lambda m, x: m.cummax(x, 1),
    lambda m, x: m.cummin(x, 1), lambda m, x: m.cummax(x, 0)])
def test_ties_as_torch(fn):
    _table.Op(fn).parity(inputs=(TIES,))


def test_nan_sorts_as_largest():
    x = TIES.copy()
    x[0, 2] = x[1, 0] = np.nan
    for desc in (False, True):
        _table.Op(lambda m, x, desc=desc: m.sort(x, descending=desc, stable=True)).parity(
            inputs=(x,), grad=False)
    _table.Op(lambda m, x: m.cummax(x, 1)).parity(inputs=(x,), grad=False)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32])
def test_dtypes(dtype):
    torch = import_torch()
    a = (np.arange(12) * 7 % 5).reshape(3, 4).astype(dtype)
    for name, args in [("sort", ()), ("argsort", ()), ("topk", (2,)), ("kthvalue", (2,)),
                       ("cummax", (1,)), ("cummin", (0,))]:
        e = getattr(ember, name)(ember.tensor(a), *args)
        t = getattr(torch, name)(torch.tensor(a), *args)
        for eo, to in zip(e if isinstance(e, tuple) else (e,), t if isinstance(t, tuple) else (t,)):
            assert str(eo.dtype) == str(to.dtype).replace("torch.", ""), name
            np.testing.assert_array_equal(eo.numpy(), to.numpy())


def test_errors():
    torch = import_torch()
    x = ember.randn(3, 4)
    with pytest.raises(RuntimeError, match="topk"):
        x.topk(5)
    with pytest.raises(RuntimeError):
        torch.randn(3, 4).topk(5)
    with pytest.raises(RuntimeError, match="kthvalue"):
        x.kthvalue(0)
    with pytest.raises(RuntimeError):
        torch.randn(3, 4).kthvalue(0)
    with pytest.raises(IndexError):
        x.sort(2)
    with pytest.raises(TypeError, match="sort"):
        ember.sort(np.zeros(3))
