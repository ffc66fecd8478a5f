"""Run under ``mpirun`` by tests/distributed/test_mpi.py: one rank fails on purpose.

``kill <ckpt>``: rank 0 writes a checkpoint at step 2, the last rank kills itself (SIGKILL)
at step 4; ``hang <ckpt>``: the last rank stops calling collectives at step 4 (sleeps), the
others wait with a 2 s timeout; ``error <ckpt>``: as ``ember train`` does, the group comes
from ``ember.train.distributed.setup()`` (with a 60 s timeout) and the last rank exits with
an error at step 4: its exit aborts the job at once. Every time the job must end non-zero,
naming the rank."""
import datetime
import os
import signal
import sys
import time

import numpy as np

import ember
import ember.distributed as dist

mode, path = sys.argv[1], sys.argv[2]
if mode == "error":
    from ember.train import distributed as data_parallel
    data_parallel.setup()
else:
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2))
rank, world = dist.get_rank(), dist.get_world_size()
t = ember.ones(1000)
for step in range(1, 100):
    if step == 4 and rank == world - 1:  # after step 3, which waits for the save
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "error":
            sys.exit("an error on one rank")
        time.sleep(120)
    dist.all_reduce(t)
    if step == 2 and rank == 0:
        ember.save({"step": step, "t": t}, path)
print(f"rank {rank} was never stopped", flush=True)
sys.exit(0 if np.isfinite(t.numpy()).all() else 3)
