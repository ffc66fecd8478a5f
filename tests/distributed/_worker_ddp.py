"""Run by tests/nn/parallel/test_distributed.py under ``mpirun -n N``: DDP on N processes,
each with its shard of a global batch, against one process (this one, on a private copy of
the model) with the whole batch; SyncBatchNorm against BatchNorm on the whole batch."""
import _report
import numpy as np

import ember
import ember.distributed as dist
from ember import nn

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
B = 12  # global batch, divisible by 2 and 3


def check(name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    assert err <= tol, f"{name}: max error {err:.3g} > {tol:g}"


def section(name):
    return _report.section(rank, name)


class Net(nn.Module):
    """Conv + (Sync)BatchNorm + a Linear used twice (two gradients reach its weight)."""

    def __init__(self, bn):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4) if bn else nn.Identity()
        self.fc = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        h = self.bn(self.conv(x)).relu().flatten(1)
        return self.head(self.fc(self.fc(h).tanh()))


def data(step, dtype):
    g = np.random.default_rng(100 + step)
    return (ember.tensor(g.standard_normal((B, 2, 4, 4)), dtype=dtype),
            ember.tensor(g.integers(0, 3, B)))


def shard(t):
    n = B // world
    return t[rank * n:(rank + 1) * n]


def run(dtype, bn=False, sync_bn=False, steps=3, accumulate=1, **ddp_kwargs):
    """Parameters (and buffers) after ``steps`` SGD steps with DDP on shards and with one
    process on the whole batch; each step accumulates ``accumulate`` micro-batches (all but
    the last under no_sync)."""
    ember.manual_seed(rank)  # different on every rank: DDP must broadcast rank 0's
    model = Net(bn).to(dtype)
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = nn.parallel.DistributedDataParallel(model, **ddp_kwargs)
    ref = Net(bn).to(dtype)
    ref.load_state_dict(model.state_dict())
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = ember.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        opt.zero_grad()
        ref_opt.zero_grad()
        for micro in range(accumulate):
            x, y = data(step * accumulate + micro, dtype)
            ref_loss = loss_fn(ref(x), y) / accumulate
            ref_loss.backward()
            if micro < accumulate - 1:
                with ddp.no_sync():
                    (loss_fn(ddp(shard(x)), shard(y)) / accumulate).backward()
            else:
                (loss_fn(ddp(shard(x)), shard(y)) / accumulate).backward()
        opt.step()
        ref_opt.step()
    return ddp, model, ref


TOL = {np.float64: 1e-12, np.float32: 2e-6}
DTYPES = (np.float64, np.float32)


def same_parameters(label, model, ref, tol):
    got = dict(model.named_parameters())
    for name, p in ref.named_parameters():
        check(f"{label} {name}", got[name].detach().numpy(), p.detach().numpy(), tol)


@section("ddp")
def _():
    for dtype in DTYPES:
        ddp, model, ref = run(dtype)
        same_parameters(np.dtype(dtype).name, model, ref, TOL[dtype])
        assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]


@section("buckets")
def _():
    for dtype in DTYPES:
        for overlap in (True, False):
            ddp, model, ref = run(dtype, bucket_cap_mb=0.0005, overlap=overlap)
            same_parameters(f"{np.dtype(dtype).name} overlap={overlap}", model, ref,
                            TOL[dtype])
            assert len(ddp.bucket_sizes) >= 3, ddp.bucket_sizes
            assert ddp.comm_seconds > 0


@section("no_sync")
def _():
    for dtype in DTYPES:
        _, model, ref = run(dtype, accumulate=3, bucket_cap_mb=0.0005)
        same_parameters(f"{np.dtype(dtype).name} no_sync", model, ref, TOL[dtype])


@section("sync_batchnorm")
def _():
    for dtype in DTYPES:
        _, model, ref = run(dtype, bn=True, sync_bn=True)
        assert isinstance(model.bn, nn.SyncBatchNorm)
        for name, t in ref.state_dict().items():  # parameters and running statistics
            check(f"{np.dtype(dtype).name} SyncBatchNorm {name}",
                  model.state_dict()[name].detach().numpy(), t.detach().numpy(),
                  TOL[dtype] * 10)


@section("broadcast_buffers")
def _():
    # without SyncBatchNorm each rank normalises its own shard: not the whole batch's
    ddp, model, ref = run(np.float64, bn=True)
    assert not np.allclose(model.bn.running_mean.numpy(), ref.bn.running_mean.numpy(),
                           atol=1e-6)

    def gathered():
        out = [ember.zeros(4, dtype=ember.float64) for _ in range(world)]
        dist.all_gather(out, ember.tensor(model.bn.running_mean.numpy()))
        return [o.numpy() for o in out]
    before = gathered()  # after the last forward, each rank's own update
    assert not np.allclose(before[0], before[1])
    ddp.sync_buffers()
    after = gathered()
    assert all(np.array_equal(a, before[0]) for a in after)


class Branchy(nn.Module):
    """A trunk and two heads; ``forward(x, heads)`` uses only the heads it is given (the
    others are unused parameters on this rank, on this step)."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 6)
        self.a, self.b = nn.Linear(6, 3), nn.Linear(6, 3)

    def forward(self, x, heads):
        h = self.trunk(x).tanh()
        out = 0
        for name in heads:
            out = out + getattr(self, name)(h)
        return out


# per step, per rank: the heads used; step 1 leaves b unused on every rank
HEADS = [lambda r: "ab" if r == 0 else "a", lambda r: "a", lambda r: "b" if r else "ab"]


@section("find_unused")
def _():
    # each rank's forward uses its own heads; the reference runs every rank's shard with
    # that rank's heads in one process, its loss the mean of the ranks' losses
    ember.manual_seed(rank)
    model = Branchy().double()
    ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True,
                                              bucket_cap_mb=0.0001)
    ref = Branchy().double()
    ref.load_state_dict(model.state_dict())
    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = ember.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    n = B // world
    for step, heads in enumerate(HEADS):
        g = np.random.default_rng(step)
        x = ember.tensor(g.standard_normal((B, 4)))
        opt.zero_grad()
        ref_opt.zero_grad()
        ddp(shard(x), heads(rank)).square().mean().backward()
        sum(ref(x[r * n:(r + 1) * n], heads(r)).square().mean()
            for r in range(world)).div(world).backward()
        for (name, p), q in zip(model.named_parameters(), ref.parameters()):
            assert (p.grad is None) == (q.grad is None), (step, name, q.grad is None)
            if q.grad is not None:
                check(f"step {step} grad {name}", p.grad.numpy(), q.grad.numpy(), 1e-12)
        opt.step()
        ref_opt.step()
    same_parameters("find_unused", model, ref, 1e-12)
    # a parameter unused on every rank keeps the .grad it had (here a different one per
    # rank); one used somewhere gets the average of every rank's .grad (zeros for None)
    stale = np.full((3, 6), float(rank))
    model.b.weight.grad = ember.tensor(stale.copy())
    model.trunk.bias.grad = None
    ddp(shard(ember.ones(B, 4, dtype=ember.float64)), "a").sum().backward()
    assert np.array_equal(model.b.weight.grad.numpy(), stale)


@section("unused_error")
def _():
    ember.manual_seed(0)
    ddp = nn.parallel.DistributedDataParallel(Branchy().double(), bucket_cap_mb=0.0001)
    x = ember.randn(3, 4, dtype=ember.float64)
    try:
        ddp(x, "a").sum().backward()
    except RuntimeError as e:
        assert "b.weight" in str(e) and "find_unused_parameters=True" in str(e), str(e)
        assert "a.weight" not in str(e), str(e)
    else:
        raise AssertionError("a backward with unused parameters did not raise")


@section("marked_twice")
def _():
    ember.manual_seed(0)
    model = Branchy().double()
    ddp = nn.parallel.DistributedDataParallel(model)
    loss = ddp(ember.randn(3, 4, dtype=ember.float64), "ab").sum()
    loss.backward(retain_graph=True)
    averaged = model.a.weight.grad.numpy().copy()
    try:
        loss.backward()
    except RuntimeError as e:
        assert "Expected to mark a variable ready only once" in str(e), str(e)
    else:
        raise AssertionError("a second backward through one forward did not raise")
    # the first backward's gradients are the same on every rank
    got = [ember.zeros(*averaged.shape, dtype=ember.float64) for _ in range(world)]
    dist.all_gather(got, ember.tensor(averaged))
    assert all(np.array_equal(t.numpy(), averaged) for t in got)


dist.destroy_process_group()
