"""erf, erfinv, atan2, hypot, lerp, nan_to_num, addcmul, addcdiv, var_mean and std_mean
against PyTorch: values, gradients, dtypes, edge values and errors."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import import_torch
import _table

S = (3, 4)
Op = partial(_table.Op, shapes=(S,))

TABLE = {
    "erf": Op(lambda m, x: m.erf(x), low=-4, high=4),
    "erf_method": Op(lambda m, x: x.erf(), shapes=((2, 3, 4),)),
    "erfinv": Op(lambda m, x: m.erfinv(x), low=-0.99, high=0.99),
    "erfinv_method": Op(lambda m, x: x.erfinv(), low=-0.5, high=0.5, shapes=((5,),)),
    "atan2": Op(lambda m, y, x: m.atan2(y, x), shapes=(S, S)),
    "atan2_broadcast": Op(lambda m, y, x: y.atan2(x), shapes=((2, 1, 4), (3, 1))),
    "atan2_number": Op(lambda m, y: m.atan2(y, m.tensor(2.0, dtype=m.float64))),
    "hypot": Op(lambda m, x, y: m.hypot(x, y), shapes=(S, (4,))),
    "lerp": Op(lambda m, a, b, w: m.lerp(a, b, w), shapes=(S, S, S), low=0, high=1),
    "lerp_scalar": Op(lambda m, a, b: a.lerp(b, 0.3), shapes=(S, (4,))),
    "nan_to_num": Op(lambda m, x: m.nan_to_num(x, nan=1.5, posinf=9.0, neginf=-9.0)),
    "addcmul": Op(lambda m, x, a, b: m.addcmul(x, a, b, value=0.5), shapes=(S, S, (4,))),
    "addcmul_method": Op(lambda m, x, a, b: x.addcmul(a, b), shapes=(S, (3, 1), S)),
    "addcdiv": Op(lambda m, x, a, b: m.addcdiv(x, a, b, value=-2.0), shapes=(S, S, S),
                  low=0.5, high=2.0),
    "addcdiv_method": Op(lambda m, x, a, b: x.addcdiv(a, b), shapes=(S, S, (4,)),
                         low=0.5, high=2.0),
    "var_mean": Op(lambda m, x: m.var_mean(x), shapes=((3, 4, 5),)),
    "var_mean_dim": Op(lambda m, x: m.var_mean(x, 1, keepdim=True), shapes=((3, 4, 5),)),
    "var_mean_correction": Op(lambda m, x: m.var_mean(x, dim=(0, -1), correction=0),
                              shapes=((3, 4, 5),)),
    "var_mean_unbiased": Op(lambda m, x: m.var_mean(x, -1, False)),
    "std_mean": Op(lambda m, x: m.std_mean(x, 0)),
    "std_mean_correction": Op(lambda m, x: m.std_mean(x, dim=1, correction=2, keepdim=True)),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity_and_gradcheck(name):
    TABLE[name].parity()
    TABLE[name].gradcheck()


def test_nan_to_num_edges_and_defaults():
    x = np.array([[np.nan, np.inf, -np.inf, 1.0], [0.5, -np.nan, np.inf, -2.0]])
    for dtype in (np.float64, np.float32):
        _table.Op(lambda m, x: m.nan_to_num(x)).parity(inputs=(x.astype(dtype),), dtype=dtype)
        _table.Op(lambda m, x: x.nan_to_num(2.0, neginf=0.0)).parity(inputs=(x.astype(dtype),),
                                                                     dtype=dtype)


def test_erfinv_to_full_precision_and_edges():
    torch = import_torch()
    v = np.concatenate([np.linspace(-1, 1, 20001), 1 - np.logspace(-16, -1, 40),
                        -1 + np.logspace(-16, -1, 40), [1e-300, -1e-300, 1.5, -2.0, np.nan]])
    got = ember.erfinv(ember.tensor(v)).numpy()
    want = torch.erfinv(torch.tensor(v)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    x = ember.tensor(v[:20001].astype(np.float32))
    assert x.erfinv().dtype == ember.float32


def test_erf_and_erfinv_are_inverse():
    y = np.linspace(-5.5, 5.5, 1001)
    got = ember.erfinv(ember.erf(ember.tensor(y))).numpy()
    np.testing.assert_allclose(got[np.abs(y) < 3], y[np.abs(y) < 3], rtol=1e-12)


@pytest.mark.parametrize("fn", [lambda m, x, y: m.erf(x), lambda m, x, y: m.erfinv(x * 0),
                                lambda m, x, y: m.atan2(x, y),
                                lambda m, x, y: m.nan_to_num(x)])
def test_integer_inputs(fn):
    torch = import_torch()
    a, b = np.array([[1, -2], [0, 3]]), np.array([[2, 2], [-1, 0]])
    e = fn(ember, ember.tensor(a), ember.tensor(b))
    t = fn(torch, torch.tensor(a), torch.tensor(b))
    assert str(e.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


def test_refuses_arrays():
    for name in ("erf", "erfinv", "atan2", "nan_to_num", "var_mean", "addcmul"):
        with pytest.raises(TypeError, match=name):
            getattr(ember, name)(np.zeros(3), np.zeros(3))
