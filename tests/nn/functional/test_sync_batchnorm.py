"""sync_batch_norm on a one-rank group: training-mode batch norm against torch (values,
input and parameter gradients, running statistics), finite differences, errors. (Several
ranks: tests/nn/modules/test_sync_batchnorm.py.)"""
import numpy as np
import pytest
from _mpi import loopback_group
from _parity import check_grad, check_op

import ember
from ember.nn.functional.sync_batchnorm import sync_batch_norm


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (2, 3, 3, 2)])
def test_against_torch_batch_norm(shape):
    group = loopback_group()
    stats = {}

    def fn(m, x, w, b):
        rm, rv = m.zeros(3, dtype=m.float64), m.ones(3, dtype=m.float64)
        if m is ember:
            y = sync_batch_norm(x, rm, rv, w, b, 0.2, 1e-5, process_group=group)
        else:
            y = m.nn.functional.batch_norm(x, rm, rv, w, b, True, 0.2, 1e-5)
        stats[m.__name__] = (rm.numpy(), rv.numpy())
        return y
    check_op(lambda x, w, b: fn(ember, x, w, b), shapes=(shape, (3,), (3,)),
             torch_fn=lambda x, w, b: fn(__import__("torch"), x, w, b))
    for a, b in zip(stats["ember"], stats["torch"]):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_finite_differences():
    group = loopback_group()
    check_grad(lambda x, w, b: sync_batch_norm(x, None, None, w, b, process_group=group),
               shapes=((4, 2, 3), (2,), (2,)))


def test_errors():
    group = loopback_group()
    with pytest.raises(ValueError, match=r"sync_batch_norm: expected input of shape \(N, C, \*\)"):
        sync_batch_norm(ember.zeros(3), None, None, process_group=group)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\).*got \(4,\)"):
        sync_batch_norm(ember.zeros(2, 3), None, None, ember.ones(4), process_group=group)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        sync_batch_norm(ember.zeros(1, 3), None, None, process_group=group)
