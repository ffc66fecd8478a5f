"""Data-parallel training for the Trainer and ``ember train``: ``mpirun -n N ember train ...``.

Under an MPI launcher with N > 1 processes, ``setup()`` starts the process group; the Trainer
then wraps its model in ``DistributedDataParallel``, the training loader reads a
``DistributedSampler`` shard, and only rank 0 prints, runs the callbacks (logs,
checkpoints) and writes the run folder. ``--batch-size`` is per process, PyTorch DDP's
convention: the global batch is N x ``--batch-size`` and an epoch has 1/N of the steps.
Outside a process group of several ranks, every function here is a no-op.
"""
from __future__ import annotations

import atexit
import os
import sys

from ember import distributed

_state = {"finished": False}


def active() -> bool:
    """Whether a process group of more than one rank is up."""
    return distributed.is_initialized() and distributed.get_world_size() > 1


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints and writes files."""
    return not active() or distributed.get_rank() == 0


def setup() -> bool:
    """For a command run by ``mpirun -n N`` (N > 1): join the process group, silence stdout
    on ranks other than 0, and make a rank that exits without :func:`finish` (an error on
    one rank) abort the whole job at once instead of leaving the others waiting. Returns
    :func:`is_main_process`."""
    size = distributed.launcher_world_size()
    if size and size > 1 and not distributed.is_initialized():
        distributed.init_process_group("mpi")
        if distributed.get_rank() != 0:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
        _state["finished"] = False
        atexit.register(_abort_unless_finished)
    return is_main_process()


def finish() -> int:
    """The command is done on this rank: leave the process group. Returns 0."""
    _state["finished"] = True
    distributed.destroy_process_group()
    return 0


def _abort_unless_finished():
    if distributed.is_initialized() and not _state["finished"]:
        from ember.distributed.process_group import group_of
        group = group_of(None)
        print(f"ember: rank {group.rank} stopped before the end of the run (see its error "
              "above); aborting the other ranks", file=sys.stderr, flush=True)
        group.backend.abort(1)


def wrap(model):
    """``model`` in ``DistributedDataParallel`` when a group of several ranks is up (and it
    is not wrapped already); else ``model``."""
    from ember.nn.parallel import DistributedDataParallel
    if not active() or isinstance(model, DistributedDataParallel):
        return model
    return DistributedDataParallel(model)


def loader_order(dataset, seed=0):
    """DataLoader arguments for the training order: each rank's shard
    (``DistributedSampler``, reshuffled every epoch by the Trainer) or plain shuffling."""
    if not active():
        return {"shuffle": True}
    from ember.data import DistributedSampler
    return {"sampler": DistributedSampler(dataset, seed=seed)}


def set_epoch(loader, epoch):
    """Tell a sharded loader's sampler which epoch starts (its shuffle depends on it)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def average(*values):
    """The mean over ranks of each float (training loss and accuracy: each rank saw its own
    shard); the values themselves outside a group."""
    if not active():
        return values
    import ember
    t = ember.tensor([float(v) for v in values], dtype=ember.float64)
    distributed.all_reduce(t, op=distributed.ReduceOp.AVG)
    return tuple(t.tolist())


def rank0_decides(flag, reason):
    """Rank 0's ``(flag, reason)`` on every rank (early stopping is decided by rank 0's
    callbacks; every rank must leave the loop together)."""
    if not active():
        return flag, reason
    import ember
    t = ember.tensor([int(bool(flag))], dtype=ember.int64)
    distributed.broadcast(t, 0)
    flag = bool(t.item())
    return flag, (reason or "stopped by rank 0") if flag else reason


def rank0_text(text):
    """Rank 0's ``text`` on every rank (the run folder's name holds the time of day)."""
    if not active():
        return text
    import numpy as np

    import ember
    data = np.frombuffer(text.encode(), np.uint8)
    size = ember.tensor([data.size], dtype=ember.int64)
    distributed.broadcast(size, 0)
    buf = ember.zeros(int(size.item()), dtype=ember.uint8)
    if distributed.get_rank() == 0:
        buf = ember.tensor(data.copy())
    distributed.broadcast(buf, 0)
    return bytes(buf.numpy()).decode()


def sync_buffers(model):
    """Copy rank 0's buffers (BatchNorm statistics) to every rank before evaluating, so all
    ranks evaluate one model and take the same decisions."""
    from ember.nn.parallel import DistributedDataParallel
    if active() and isinstance(model, DistributedDataParallel):
        model.sync_buffers()


# --- sharded evaluation ----------------------------------------------------------------------
def shard_loader(loader):
    """For evaluation under a group of several ranks: a DataLoader over this rank's
    contiguous block of ``loader``'s data set (rank r of N gets items ``len * r // N`` to
    ``len * (r + 1) // N``: no padding, every item on exactly one rank, the blocks in rank
    order are the loader's order), with its batch size and settings. None outside a group,
    or when ``loader`` is not a plain unshuffled ``DataLoader`` (a sampler of its own, a
    ``collate_fn``, ``drop_last``, fewer items than ranks): then every rank evaluates all
    of it."""
    from ember.data import DataLoader
    from ember.data.sampler import BatchSampler, SequentialSampler
    if not active() or not isinstance(loader, DataLoader):
        return None
    world = distributed.get_world_size()
    plain = (type(loader.sampler) is SequentialSampler and
             type(loader.batch_sampler) is BatchSampler and loader.collate_fn is None and
             not loader.drop_last and loader.sampler.data_source is loader.dataset)
    if not plain or len(loader.dataset) < world:
        return None
    n, rank = len(loader.dataset), distributed.get_rank()
    return DataLoader(loader.dataset, batch_size=loader.batch_size,
                      sampler=range(n * rank // world, n * (rank + 1) // world),
                      num_workers=loader.num_workers, prefetch_factor=loader.prefetch_factor,
                      device=loader.device, generator=loader.generator)


def sum_over_ranks(*values):
    """The sum over ranks of each number (float64: counts stay exact below 2**53)."""
    import ember
    t = ember.tensor([float(v) for v in values], dtype=ember.float64)
    distributed.all_reduce(t)
    return tuple(t.tolist())


def gather_rows(array):
    """Every rank's ``array`` (the same trailing shape and dtype on every rank, any number
    of rows) concatenated along dim 0 in rank order, on every rank."""
    import numpy as np

    import ember
    array = np.ascontiguousarray(array)
    world = distributed.get_world_size()
    sizes = [ember.zeros(1, dtype=ember.int64) for _ in range(world)]
    distributed.all_gather(sizes, ember.tensor([array.size], dtype=ember.int64))
    sizes = [int(s.item()) for s in sizes]
    send = np.zeros(max(sizes), array.dtype)
    send[:array.size] = array.ravel()
    parts = [ember.tensor(np.zeros_like(send)) for _ in range(world)]
    distributed.all_gather(parts, ember.tensor(send))
    rows = [p.numpy()[:n].reshape((-1,) + array.shape[1:]) for p, n in zip(parts, sizes)]
    return np.concatenate(rows)
