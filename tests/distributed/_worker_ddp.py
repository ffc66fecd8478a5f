"""Run by tests/nn/parallel/test_distributed.py under ``mpirun -n N``: DDP on N processes,
each with its shard of a global batch, against one process (this one, on a private copy of
the model) with the whole batch; SyncBatchNorm against BatchNorm on the whole batch."""
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
B = 12  # global batch, divisible by 2 and 3
failures = []


def check(name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    if not err <= tol:
        failures.append(f"{name}: max error {err:.3g} > {tol:g}")


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


tol = {np.float64: 1e-12, np.float32: 2e-6}
for dtype in (np.float64, np.float32):
    label = np.dtype(dtype).name
    for kwargs in ({}, {"bucket_cap_mb": 0.0005}, {"bucket_cap_mb": 0.0005, "overlap": False}):
        ddp, model, ref = run(dtype, **kwargs)
        for name, p in ref.named_parameters():
            check(f"{label} {kwargs} {name}", dict(model.named_parameters())[name].detach().numpy(), p.detach().numpy(),
                  tol[dtype])
    if len(ddp.bucket_sizes) < 3:
        failures.append(f"a tiny bucket_cap_mb gave buckets {ddp.bucket_sizes}")
    ddp, model, ref = run(dtype, accumulate=3, bucket_cap_mb=0.0005)
    for name, p in ref.named_parameters():
        check(f"{label} no_sync {name}", dict(model.named_parameters())[name].detach().numpy(), p.detach().numpy(),
              tol[dtype])
    ddp, model, ref = run(dtype, bn=True, sync_bn=True)
    for name, t in ref.state_dict().items():
        check(f"{label} SyncBatchNorm {name}", model.state_dict()[name].detach().numpy(), t.detach().numpy(),
              tol[dtype] * 10)

# without SyncBatchNorm each rank normalises its own shard: different from the whole batch
ddp, model, ref = run(np.float64, bn=True)
if np.allclose(model.bn.running_mean.detach().numpy(), ref.bn.running_mean.detach().numpy(), atol=1e-6):
    failures.append("plain BatchNorm under DDP matched the whole-batch statistics")
# broadcast_buffers: every rank holds rank 0's buffers after a forward
ddp(shard(data(0, np.float64)[0]))
mine = ember.tensor(model.bn.running_mean.detach().numpy())
gathered = [ember.zeros_like(mine) for _ in range(world)]
dist.all_gather(gathered, mine)
before = [g.detach().numpy() for g in gathered]
if rank == 0 and world > 1 and np.allclose(before[0], before[1]):
    failures.append("plain BatchNorm: ranks' running statistics should differ after training")
ddp.sync_buffers()
dist.all_gather(gathered, ember.tensor(model.bn.running_mean.detach().numpy()))
if any(not np.array_equal(g.detach().numpy(), gathered[0].detach().numpy()) for g in gathered):
    failures.append("sync_buffers left the ranks' buffers different")

if failures:
    print(f"rank {rank}: " + "\n".join(failures), file=sys.stderr)
    sys.exit(1)
print(f"rank {rank} ok")
dist.destroy_process_group()
