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


dist.destroy_process_group()
