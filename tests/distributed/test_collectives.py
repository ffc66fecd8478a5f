"""ember.distributed's collectives on 2 and 3 processes (mpirun), against NumPy on the values
every rank held (tests/distributed/_worker_collectives.py); their errors without a group."""
import pytest
from _mpi import assert_section

import ember
import ember.distributed as dist


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", ["collectives", "errors"])
def test_collectives_against_numpy(n, name):
    assert_section(n, "_worker_collectives.py", name)


@pytest.mark.parametrize("call", [
    lambda: dist.all_reduce(ember.zeros(3)),
    lambda: dist.broadcast(ember.zeros(3), 0),
    lambda: dist.all_gather([ember.zeros(3)], ember.zeros(3)),
    lambda: dist.reduce_scatter(ember.zeros(3), [ember.zeros(3)]),
    lambda: dist.barrier(),
])
def test_collectives_need_a_process_group(call):
    with pytest.raises(ValueError, match="default process group has not been initialized"):
        call()
