"""Run under ``mpirun -n N`` by tests/train/test_distributed.py: the Trainer on N processes
(DDP, DistributedSampler shards, rank 0's callbacks) and resume from a checkpoint to the
very same weights as the uninterrupted run. argv[1]: a folder for the checkpoints."""
import os
import shutil
import sys

import _report
import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.data import DataLoader, TensorDataset
from ember.train import ModelCheckpoint, Trainer
from ember.train import distributed as data_parallel

folder = sys.argv[1]
assert data_parallel.setup() == (os.environ["OMPI_COMM_WORLD_RANK"] == "0")
rank, world = dist.get_rank(), dist.get_world_size()
g = np.random.default_rng(0)
x = g.standard_normal((90, 1, 6, 6)).astype(np.float32)
y = (x.mean((1, 2, 3)) > 0).astype(np.int64)
train_data = TensorDataset(ember.tensor(x), ember.tensor(y))


def make(seed):
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 2))
    loader = DataLoader(train_data, batch_size=8, **data_parallel.loader_order(train_data))
    val = DataLoader(TensorDataset(ember.tensor(x[:20]), ember.tensor(y[:20])), batch_size=10)
    opt = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = ember.optim.lr_scheduler.StepLR(opt, 1, 0.5)
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, sched, progress=True,
                      callbacks=[ModelCheckpoint(folder)])
    return trainer, loader, val


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@_report.section(rank, "resume")
def _():
    trainer, loader, val = make(rank)  # different seeds: DDP broadcasts rank 0's weights
    assert len(loader) == -(-90 // world // 8)
    trainer.fit(loader, val, epochs=1)
    if rank == 0:
        shutil.copy(os.path.join(folder, "last.ckpt"), os.path.join(folder, "mid.ckpt"))
    dist.barrier()
    trainer.fit(loader, val, epochs=3)
    full = weights(trainer.model)
    again, loader2, val2 = make(100 + rank)
    again.resume(os.path.join(folder, "mid.ckpt"))
    again.fit(loader2, val2, epochs=3)
    resumed = weights(again.model)
    for k in full:  # bit for bit: the RNG state and the sampler's epoch are restored
        assert np.array_equal(full[k], resumed[k]), k
    def logs(history):  # all but the wall-clock seconds
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert logs(again.history) == logs(trainer.history)
    # every rank holds the same weights and the same (averaged) logs
    mine = ember.tensor(np.concatenate([v.ravel() for v in full.values()]).astype(np.float64))
    first = mine.clone()
    dist.broadcast(first, 0)
    assert ember.equal(first, mine)
    saved = ember.load(os.path.join(folder, "last.ckpt"))
    assert saved["epoch"] == 3 and logs(saved["history"]) == logs(again.history)


@_report.section(rank, "rank0")
def _():
    trainer, _, _ = make(0)
    assert bool(trainer.callbacks) == (rank == 0) and trainer.progress == (rank == 0)
    assert isinstance(trainer.ddp, nn.parallel.DistributedDataParallel)
    assert data_parallel.rank0_text(f"run-{rank}") == "run-0"
    if rank != 0:
        assert sys.stdout.name == os.devnull  # only rank 0 prints


data_parallel.finish()
