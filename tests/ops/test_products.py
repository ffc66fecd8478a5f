"""addmm, baddbmm, tensordot, kron and cdist against PyTorch: values, gradients, errors."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import import_torch
import _table

Op = partial(_table.Op)

TABLE = {
    "addmm": Op(lambda m, x, a, b: m.addmm(x, a, b), shapes=((3, 5), (3, 4), (4, 5))),
    "addmm_scaled_broadcast": Op(lambda m, x, a, b: x.addmm(a, b, beta=0.5, alpha=-2.0),
                                 shapes=((5,), (3, 4), (4, 5))),
    "addmm_beta0": Op(lambda m, x, a, b: m.addmm(x, a, b, beta=0), shapes=((3, 5), (3, 4),
                                                                           (4, 5))),
    "baddbmm": Op(lambda m, x, a, b: m.baddbmm(x, a, b), shapes=((2, 3, 5), (2, 3, 4),
                                                                (2, 4, 5))),
    "baddbmm_scaled": Op(lambda m, x, a, b: x.baddbmm(a, b, beta=2.0, alpha=0.5),
                         shapes=((3, 1), (2, 3, 4), (2, 4, 1))),
    "tensordot": Op(lambda m, a, b: m.tensordot(a, b), shapes=((2, 3, 4), (3, 4, 5))),
    "tensordot_int": Op(lambda m, a, b: m.tensordot(a, b, 1), shapes=((2, 3), (3, 4))),
    "tensordot_0": Op(lambda m, a, b: m.tensordot(a, b, 0), shapes=((2,), (3,))),
    "tensordot_lists": Op(lambda m, a, b: m.tensordot(a, b, dims=([2, 0], [-1, 0])),
                          shapes=((2, 3, 4), (2, 5, 4))),
    "tensordot_ints": Op(lambda m, a, b: m.tensordot(a, b, dims=([1], [0])),
                         shapes=((2, 3), (3, 2))),
    "kron": Op(lambda m, a, b: m.kron(a, b), shapes=((2, 3), (4, 2))),
    "kron_mixed": Op(lambda m, a, b: a.kron(b), shapes=((3,), (2, 2))),
    "kron_3d": Op(lambda m, a, b: m.kron(a, b), shapes=((2, 1, 3), (2, 2, 2))),
    "cdist": Op(lambda m, a, b: m.cdist(a, b), shapes=((4, 3), (5, 3))),
    "cdist_batched_p1": Op(lambda m, a, b: m.cdist(a, b, p=1.0), shapes=((2, 4, 3), (2, 5, 3))),
    "cdist_p3": Op(lambda m, a, b: m.cdist(a, b, 3), shapes=((4, 2), (3, 2))),
    "cdist_inf": Op(lambda m, a, b: m.cdist(a, b, float("inf")), shapes=((4, 2), (3, 2))),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity_and_gradcheck(name):
    TABLE[name].parity()
    TABLE[name].gradcheck()


def test_cdist_zero_distance_gradient():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    _table.Op(lambda m, a, b: m.cdist(a, b)).parity(inputs=(a, a.copy()))


def test_addmm_beta0_ignores_nan():
    torch = import_torch()
    x = np.full((2, 2), np.nan)
    a = np.eye(2)
    e = ember.addmm(ember.tensor(x), ember.tensor(a), ember.tensor(a), beta=0)
    t = torch.addmm(torch.tensor(x), torch.tensor(a), torch.tensor(a), beta=0)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("fn", [
    lambda m: m.addmm(m.zeros(3), m.zeros(3), m.zeros(3, 3)),
    lambda m: m.baddbmm(m.zeros(3), m.zeros(2, 3, 3), m.zeros(3, 3, 3)),
    lambda m: m.tensordot(m.zeros(2, 3), m.zeros(2, 3), 1),
    lambda m: m.cdist(m.zeros(3, 2), m.zeros(3, 4)),
    lambda m: m.cdist(m.zeros(3, 2), m.zeros(3, 2), -1.0),
])
def test_errors(fn):
    with pytest.raises(RuntimeError):
        fn(import_torch())
    with pytest.raises(RuntimeError):
        fn(ember)
