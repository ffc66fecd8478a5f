"""Run under ``mpirun -n N`` by tests/distributed/test_process_group.py: ``new_group`` of the
first and the last rank (on 3 processes rank 1 is outside it), its collectives against NumPy
on the members' values, DDP over it against one process on the members' shards, the
default group still working in between, and the errors."""
import warnings

import _report
import numpy as np

import ember
import ember.distributed as dist
from ember import nn

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
MEMBERS = [0, world - 1]


def inputs(r, shape=(3, 4)):
    return np.random.default_rng(10 + r).uniform(0.5, 1.5, shape)


def equal(got, want, tol=1e-13):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and np.allclose(got, want, rtol=tol, atol=tol), (got, want)


@_report.section(rank, "new_group")
def _():
    sub = dist.new_group([world - 1, 0])  # sorted: group rank 1 is the last rank
    solo = dist.new_group([1])
    everyone = dist.new_group()
    assert dist.get_process_group_ranks(everyone) == list(range(world))
    xs = np.stack([inputs(r) for r in MEMBERS])
    if rank in MEMBERS:
        me = MEMBERS.index(rank)
        assert dist.get_rank(sub) == me and dist.get_world_size(sub) == 2
        assert dist.get_process_group_ranks(sub) == MEMBERS
        assert dist.get_global_rank(sub, 1) == world - 1 and dist.get_group_rank(sub, 0) == 0
        t = ember.tensor(inputs(rank))
        dist.all_reduce(t, group=sub)
        equal(t.numpy(), xs.sum(0))
        t = ember.tensor(inputs(rank))
        dist.broadcast(t, src=world - 1, group=sub)  # a global rank
        equal(t.numpy(), xs[1])
        t = ember.tensor(inputs(rank))
        dist.broadcast(t, group=sub, group_src=0)  # a rank of the group
        equal(t.numpy(), xs[0])
        out = [ember.zeros(3, 4, dtype=ember.float64) for _ in MEMBERS]
        dist.all_gather(out, ember.tensor(inputs(rank)), group=sub)
        equal(np.stack([o.numpy() for o in out]), xs)
        part = ember.zeros(3, 4, dtype=ember.float64)
        dist.reduce_scatter(part, [ember.tensor(inputs(10 * rank + k)) for k in range(2)],
                            group=sub)
        equal(part.numpy(), sum(inputs(10 * r + me) for r in MEMBERS))
        dist.barrier(group=sub)
    else:  # outside: PyTorch's marker, and collectives on it do nothing
        assert sub == dist.GroupMember.NON_GROUP_MEMBER
        assert dist.get_rank(sub) == -1 and dist.get_world_size(sub) == -1
        t = ember.tensor(inputs(rank))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert dist.all_reduce(t, group=sub) is None
        assert any("does not belong to the given group" in str(w.message) for w in caught)
        equal(t.numpy(), inputs(rank))
    if rank == 1:
        t = ember.tensor(inputs(rank))
        dist.all_reduce(t, group=solo)
        equal(t.numpy(), inputs(1))
    else:
        assert solo == dist.GroupMember.NON_GROUP_MEMBER
    # the default group is undisturbed
    t = ember.tensor(inputs(rank))
    dist.all_reduce(t)
    equal(t.numpy(), sum(inputs(r) for r in range(world)))
    assert dist.GroupMember.WORLD is not None and dist.get_world_size() == world
    if rank in MEMBERS:
        dist.destroy_process_group(sub)
        try:
            dist.all_reduce(t, group=sub)
        except ValueError as e:
            assert "destroyed" in str(e)
        else:
            raise AssertionError("a destroyed group still ran a collective")


@_report.section(rank, "ddp_on_a_group")
def _():
    sub = dist.new_group(MEMBERS)
    ember.manual_seed(rank)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    if rank not in MEMBERS:
        try:
            nn.parallel.DistributedDataParallel(model, process_group=sub)
        except ValueError as e:
            assert "not in process_group" in str(e)
        else:
            raise AssertionError("DDP on a group this process is outside of did not raise")
        return
    ddp = nn.parallel.DistributedDataParallel(model, process_group=sub)
    ref = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    ref.load_state_dict(model.state_dict())  # rank 0's weights: DDP broadcast them
    x = ember.tensor(np.random.default_rng(5).standard_normal((8, 4)))
    shards = {r: x[4 * k:4 * (k + 1)] for k, r in enumerate(MEMBERS)}
    ddp(shards[rank]).square().mean().backward()
    sum(ref(s).square().mean() for s in shards.values()).div(2).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        equal(p.grad.numpy(), q.grad.numpy(), 1e-12)


@_report.section(rank, "new_group_errors")
def _():
    checks = [
        (lambda: dist.new_group([world]), "distinct ranks"),
        (lambda: dist.new_group([]), "at least one"),
        (lambda: dist.new_group([0, 0]), "distinct ranks"),
        (lambda: dist.new_group(backend="nccl"), "backend 'nccl'"),
        (lambda: dist.broadcast(ember.zeros(3), src=0, group_src=0), "either src"),
        (lambda: dist.broadcast(ember.zeros(3)), "either src"),
        (lambda: dist.broadcast(ember.zeros(3), group_src=world), "group_src"),
        (lambda: dist.get_group_rank(dist.GroupMember.WORLD, world), "not part of the group"),
    ]
    for fn, words in checks:
        try:
            fn()
        except ValueError as e:
            assert words in str(e), f"ValueError without {words!r}: {e}"
        else:
            raise AssertionError(f"no ValueError mentioning {words!r}")


dist.destroy_process_group()
assert not dist.is_initialized()
