"""Run under ``mpirun -n N`` by tests/train/test_distributed.py: the Trainer's evaluation
sharded over the ranks (each its block of the loader, the sums and rows combined) against
the same evaluation of the whole set on every rank (a loader with a sampler of its own is
not sharded)."""
import _report
import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.data import DataLoader, TensorDataset
from ember.train import Trainer
from ember.train import distributed as data_parallel

data_parallel.setup()
rank, world = dist.get_rank(), dist.get_world_size()
N = 53  # not a multiple of 2 or 3: the blocks differ in size, and batches are partial
g = np.random.default_rng(0)
x = g.standard_normal((N, 1, 6, 6)).astype(np.float32)
y = g.integers(0, 3, N)
data = TensorDataset(ember.tensor(x), ember.tensor(y))


def trainer():
    ember.manual_seed(rank)  # DDP broadcasts rank 0's weights and buffers
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 3))
    t = Trainer(model, nn.CrossEntropyLoss(), ember.optim.SGD(model.parameters(), lr=0.1),
                progress=False)
    model.train()
    with ember.no_grad():  # a different BatchNorm running mean on every rank
        model(ember.randn(4, 1, 6, 6) + rank)
    return t


@_report.section(rank, "sharded_evaluation")
def _():
    t = trainer()
    loader = DataLoader(data, batch_size=8)
    shard = data_parallel.shard_loader(loader)
    assert shard is not None and len(shard.sampler) in (N // world, N // world + 1)
    got = t.evaluate(loader, num_classes=3, keep_examples=20)
    whole = DataLoader(data, batch_size=8, sampler=list(range(N)))  # not sharded
    assert data_parallel.shard_loader(whole) is None
    want = t.evaluate(whole, num_classes=3, keep_examples=20)
    for key in ("correct", "total"):
        assert got[key] == want[key], (key, got[key], want[key])
    assert got["total"] == N and got["accuracy"] == want["accuracy"]
    assert abs(got["loss"] - want["loss"]) <= 1e-6 * abs(want["loss"]), (got["loss"],
                                                                          want["loss"])
    for key in ("predictions", "targets", "confusion"):
        assert np.array_equal(got[key], want[key]), key
    assert len(got["misclassified"]) == len(want["misclassified"]) == 20
    for (a, ta, pa), (b, tb, pb) in zip(got["misclassified"], want["misclassified"]):
        assert np.array_equal(a, b) and (ta, pa) == (tb, pb)
    # the first 20 misclassified items reach past rank 0's block (it holds ~N / world)
    wrong = np.flatnonzero(got["predictions"] != got["targets"])[:20]
    assert wrong[-1] >= N // world, wrong
    # the same figures on every rank
    mine = ember.tensor([got["loss"], got["correct"]], dtype=ember.float64)
    first = mine.clone()
    dist.broadcast(first, 0)
    assert ember.equal(first, mine)
    # fewer items than ranks: not sharded, every rank evaluates them
    tiny = DataLoader(TensorDataset(ember.tensor(x[:1]), ember.tensor(y[:1])), batch_size=8)
    assert data_parallel.shard_loader(tiny) is None and t.evaluate(tiny)["total"] == 1


data_parallel.finish()
