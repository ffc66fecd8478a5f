"""The process group without MPI: PyTorch's names, errors before init, the deadline (a
one-process loopback backend whose requests never complete); subgroups (``new_group``) on 2
and 3 processes (tests/distributed/_worker_groups.py)."""
import datetime

import pytest
from _mpi import assert_section, loopback_group

import ember
import ember.distributed as dist
from ember.distributed import ReduceOp


def test_pytorch_names():
    for name in ("init_process_group", "destroy_process_group", "is_initialized", "get_rank",
                 "get_world_size", "get_backend", "all_reduce", "broadcast", "all_gather",
                 "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor",
                 "barrier", "is_available", "is_mpi_available", "is_nccl_available", "ReduceOp",
                 "new_group", "GroupMember", "get_process_group_ranks", "get_global_rank",
                 "get_group_rank"):
        assert hasattr(dist, name), name
    assert {op.name for op in ReduceOp} == {"SUM", "AVG", "PRODUCT", "MIN", "MAX"}
    assert dist.is_available() and not dist.is_nccl_available()
    assert ember.distributed is dist


def test_nothing_before_init():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.get_backend, dist.new_group):
        with pytest.raises(ValueError, match="init_process_group"):
            fn()
    assert dist.GroupMember.WORLD is None
    dist.destroy_process_group()  # nothing to destroy: no error


def test_unknown_backends():
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(RuntimeError, match="'nccl' backend is not implemented"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_a_group_works_without_the_default_one():
    g = loopback_group()
    t = ember.arange(6.0)
    dist.all_reduce(t, group=g)
    out = [ember.zeros(6)]
    dist.all_gather(out, t, group=g)
    assert ember.equal(out[0], t)
    work = dist.broadcast(t, 0, group=g, async_op=True)
    assert work.is_completed() and work.wait()
    assert dist.get_rank(g) == 0 and dist.get_world_size(g) == 1


def test_a_collective_past_its_deadline_aborts_naming_the_wait(capsys):
    g = loopback_group(stuck=True, timeout=0.05)
    with pytest.raises(SystemExit):
        dist.all_reduce(ember.zeros(3), group=g)
    err = capsys.readouterr().err
    assert "ember.distributed: rank 0: all_reduce of shape (3,) (collective #1) did not " \
           "complete within 0.05 s" in err
    assert g.backend.aborted == 1
    # Work.wait takes its own timeout (seconds or a timedelta)
    work = dist.barrier(group=g, async_op=True)
    assert not work.is_completed()
    with pytest.raises(SystemExit):
        work.wait(timeout=datetime.timedelta(seconds=0.01))
    assert "barrier (collective #2)" in capsys.readouterr().err


def test_timeout_from_the_environment(monkeypatch):
    from ember.distributed import process_group
    assert process_group.default_pg_timeout == datetime.timedelta(minutes=10)
    assert process_group._seconds(datetime.timedelta(seconds=3)) == 3.0


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", ["new_group", "ddp_on_a_group", "new_group_errors"])
def test_new_group_on_several_processes(n, name):
    assert_section(n, "_worker_groups.py", name)


def test_a_collective_on_a_group_of_other_processes_does_nothing():
    t = ember.ones(3)
    with pytest.warns(UserWarning, match="does not belong to the given group"):
        assert dist.all_reduce(t, group=dist.GroupMember.NON_GROUP_MEMBER) is None
    assert ember.equal(t, ember.ones(3))
    assert dist.get_rank(dist.GroupMember.NON_GROUP_MEMBER) == -1


def test_a_group_names_global_ranks_when_it_times_out(capsys):
    from _mpi import Loopback
    g = dist.ProcessGroup(Loopback(stuck=True), 0.05, ranks=[2])  # rank 2's one-rank group
    assert dist.get_process_group_ranks(g) == [2] and dist.get_global_rank(g, 0) == 2
    with pytest.raises(SystemExit):
        dist.barrier(group=g)
    assert "ember.distributed: rank 2: barrier (collective #1)" in capsys.readouterr().err
