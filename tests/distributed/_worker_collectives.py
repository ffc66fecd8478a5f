"""Run under ``mpirun -n N`` by tests/distributed/test_collectives.py (and the tests of
ember.distributed.nn.functional and DistributedSampler): every collective against NumPy on
the values all ranks hold (each rank can recompute the others' inputs from their seeds).
Prints ``PASS <section>`` / ``FAIL <section>: <why>`` per rank."""
import _report
import numpy as np

import ember
import ember.distributed as dist
from ember.distributed import ReduceOp

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()


def inputs(r, dtype, shape=(3, 4)):
    g = np.random.default_rng(10 + r)
    if np.dtype(dtype).kind == "f":
        return g.uniform(0.5, 1.5, shape).astype(dtype)
    return g.integers(-5, 6, shape).astype(dtype)


def section(name):
    return _report.section(rank, name)


def equal(got, want, tol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} vs {want.shape}"
    assert np.allclose(got, want, rtol=tol, atol=tol), f"max error {np.abs(got - want).max()}"


@section("collectives")
def _():
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    assert world == dist.launcher_world_size()
    for dtype in (np.float64, np.float32, np.int64, np.int32):
        xs = np.stack([inputs(r, dtype) for r in range(world)])
        tol = 1e-6 if dtype == np.float32 else 1e-13
        ops = {ReduceOp.SUM: xs.sum(0), ReduceOp.MAX: xs.max(0), ReduceOp.MIN: xs.min(0),
               ReduceOp.PRODUCT: xs.prod(0)}
        if np.dtype(dtype).kind == "f":
            ops[ReduceOp.AVG] = xs.sum(0) / world
        for op, want in ops.items():
            t = ember.tensor(inputs(rank, dtype))
            version = t._version[0]
            assert dist.all_reduce(t, op=op) is None
            equal(t.numpy(), want, tol)
            assert t._version[0] > version, "all_reduce did not bump the version"
        # async: a Work to wait on
        t = ember.tensor(inputs(rank, dtype))
        work = dist.all_reduce(t, async_op=True)
        assert work.wait() and work.is_completed()
        equal(t.numpy(), xs.sum(0), tol)
        # broadcast from the last rank
        t = ember.tensor(inputs(rank, dtype))
        dist.broadcast(t, src=world - 1)
        equal(t.numpy(), xs[world - 1])
        # all_gather, all_gather_into_tensor
        out = [ember.zeros(3, 4, dtype=dtype) for _ in range(world)]
        dist.all_gather(out, ember.tensor(inputs(rank, dtype)))
        equal(np.stack([o.numpy() for o in out]), xs)
        flat = ember.zeros(world * 3, 4, dtype=dtype)
        dist.all_gather_into_tensor(flat, ember.tensor(inputs(rank, dtype)))
        equal(flat.numpy(), xs.reshape(world * 3, 4))
        # reduce_scatter: rank r gets the sum over ranks of their r-th input
        parts = [ember.tensor(inputs(rank * world + k, dtype)) for k in range(world)]
        out = ember.zeros(3, 4, dtype=dtype)
        dist.reduce_scatter(out, parts)
        equal(out.numpy(), sum(inputs(r * world + rank, dtype) for r in range(world)), tol)
        big = ember.tensor(np.concatenate([inputs(rank * world + k, dtype) for k in range(world)]))
        dist.reduce_scatter_tensor(out, big, op=ReduceOp.MAX)
        equal(out.numpy(), np.max([inputs(r * world + rank, dtype) for r in range(world)], 0))
    # a non-contiguous view is reduced into its own memory
    base = ember.tensor(inputs(rank, np.float64, (4, 3)))
    view = base.transpose(0, 1)
    dist.all_reduce(view)
    equal(base.numpy(), sum(inputs(r, np.float64, (4, 3)) for r in range(world)), 1e-13)
    dist.barrier()
    dist.barrier(async_op=True).wait()


@section("errors")
def _():
    checks = [
        (lambda: dist.all_gather([ember.zeros(3)], ember.zeros(3)), ValueError, "one tensor per rank"),
        (lambda: dist.all_reduce(ember.tensor([1, 2]), op=ReduceOp.AVG), TypeError, "AVG"),
        (lambda: dist.all_reduce(np.zeros(3)), TypeError, "ember Tensor"),
        (lambda: dist.all_reduce(ember.zeros(3), op="sum"), TypeError, "ReduceOp"),
        (lambda: dist.broadcast(ember.zeros(3), src=world), ValueError, "src"),
        (lambda: dist.all_reduce(ember.zeros(3, dtype=ember.float16)), TypeError, "float16"),
        (lambda: dist.reduce_scatter_tensor(ember.zeros(3), ember.zeros(3 * world + 1)),
         ValueError, "world size"),
        (lambda: dist.init_process_group("mpi"), RuntimeError, "twice"),
    ]
    for fn, kind, words in checks:
        try:
            fn()
        except kind as e:
            assert words in str(e), f"{kind.__name__} without {words!r}: {e}"
        else:
            raise AssertionError(f"no {kind.__name__} mentioning {words!r}")


@section("nn.functional")
def _():
    from ember.distributed.nn.functional import all_reduce
    w = np.arange(1.0, 13.0).reshape(3, 4)
    x = ember.tensor(inputs(rank, np.float64), requires_grad=True)
    y = all_reduce(x * ember.tensor(w), op=ReduceOp.SUM)
    equal(y.detach().numpy(), sum(inputs(r, np.float64) for r in range(world)) * w, 1e-12)
    c = [float(r + 1) for r in range(world)]
    (y * c[rank]).sum().backward()
    # d/dx_r of sum_r' c_r' * sum_r'' (x_r'' * w) = w * sum(c)
    equal(x.grad.numpy(), w * sum(c), 1e-12)
    x.grad = None
    all_reduce(x, op=ReduceOp.AVG).sum().backward()
    equal(x.grad.numpy(), np.ones((3, 4)), 1e-12)


@section("sampler")
def _():
    from ember.data import DataLoader, DistributedSampler
    for n, drop_last in ((10, False), (11, False), (11, True), (2, False)):
        for epoch in (0, 1):
            s = DistributedSampler(range(n), drop_last=drop_last, seed=3)
            s.set_epoch(epoch)
            mine = ember.tensor(np.array(list(s), dtype=np.int64))
            assert len(mine) == len(s)
            shards = [ember.zeros(len(s), dtype=ember.int64) for _ in range(world)]
            dist.all_gather(shards, mine)
            seen = np.concatenate([t.numpy() for t in shards])
            if drop_last:  # every kept index once, none twice
                assert len(set(seen.tolist())) == len(seen) == (n // world) * world
            else:  # every index at least once, at most the padding more
                assert set(seen.tolist()) == set(range(n)), sorted(seen.tolist())
                assert len(seen) - n < world
    # the loader reads the shard, and a new epoch shuffles anew
    s = DistributedSampler(ember.data.TensorDataset(ember.arange(12)), seed=0)
    loader = DataLoader(s.dataset, batch_size=4, sampler=s)
    first = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(first.tolist()) == sorted(s) and len(first) == 12 // world
    s.set_epoch(1)
    second = np.concatenate([b[0].numpy() for b in loader])
    assert not np.array_equal(first, second)


dist.destroy_process_group()
assert not dist.is_initialized()
