"""The differentiable all_reduce: values and gradients on 2 and 3 processes (mpirun); errors."""
import pytest
from _mpi import assert_section, loopback_group

import ember
from ember.distributed import ReduceOp
from ember.distributed.nn.functional import all_reduce


@pytest.mark.parametrize("n", [2, 3])
def test_all_reduce_values_and_gradients(n):
    assert_section(n, "_worker_collectives.py", "nn.functional")


def test_all_reduce_on_one_process_is_the_identity_with_its_gradient():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    y = all_reduce(x * 2, group=loopback_group())
    assert ember.allclose(y, x * 2)
    y.sum().backward()
    assert ember.allclose(x.grad, ember.full((3, 4), 2.0, dtype=ember.float64))


def test_all_reduce_errors():
    with pytest.raises(ValueError, match="only ReduceOp.SUM and ReduceOp.AVG"):
        all_reduce(ember.zeros(3), op=ReduceOp.MAX, group=loopback_group())
    with pytest.raises(TypeError, match="ember Tensor"):
        all_reduce([1.0, 2.0], group=loopback_group())
    with pytest.raises(ValueError, match="default process group"):
        all_reduce(ember.zeros(3))
