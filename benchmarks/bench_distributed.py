"""Data-parallel training on MPI: 1 process against 2 (one BLAS thread each).

    python benchmarks/bench_distributed.py [--quick] [--models lenet5 resnet20]

Three measurements, each under ``mpirun -n 1`` and ``mpirun -n 2``:

* ``ember train`` end to end: one epoch of the Fashion-MNIST subset (``--limit`` images,
  ``--val-fraction 0``), the epoch's seconds from ``metrics.csv``, as images per second;
* the training step alone (this script as the worker: forward, loss, backward with DDP,
  SGD step on a fixed per-process batch): images/s over both processes, and the time
  DDP spends communicating per step (``DistributedDataParallel.comm_seconds``: starting
  the bucket all-reduces and waiting for them), with buckets started during backward
  (``overlap=True``, the default) and with every all-reduce deferred to the end of
  backward (``overlap=False``);
* one all-reduce of the whole gradient (all parameters in one buffer), alone.

Per-process batch (PyTorch's DDP convention): 2 processes train on twice the images per
step. Results go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
           PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))


def mpirun(n):
    cmd = [shutil.which("mpirun") or "mpirun", "-n", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def ember_train(model, n, limit, batch):
    """Seconds of one training epoch of ``ember train`` on ``n`` processes."""
    with tempfile.TemporaryDirectory() as out:
        cmd = mpirun(n) + [sys.executable, "-m", "ember", "train", "--model", model,
                           "--epochs", "1", "--limit", str(limit), "--batch-size", str(batch),
                           "--val-fraction", "0", "--no-progress", "--name", "b",
                           "--out-dir", out]
        subprocess.run(cmd, check=True, env=ENV, capture_output=True, text=True)
        with open(os.path.join(out, "b", "metrics.csv")) as f:
            row = next(csv.DictReader(f))
    return float(row["seconds"])


def worker(model_name, batch, steps, warmup):
    """Under mpirun: time DDP training steps with and without overlap; rank 0 prints JSON."""
    import numpy as np

    import ember
    import ember.distributed as dist
    from ember import models, nn
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    kwargs = {"num_classes": 10, "in_channels": 1}
    if model_name.startswith("lenet"):
        kwargs["input_size"] = 28
    g = np.random.default_rng(rank)
    x = ember.tensor(g.standard_normal((batch, 1, 28, 28)).astype(np.float32))
    y = ember.tensor(g.integers(0, 10, batch))
    result = {"model": model_name, "processes": world, "batch_per_process": batch}
    for overlap in (True, False):
        ember.manual_seed(0)
        model = models.get_model(model_name, **kwargs)
        ddp = nn.parallel.DistributedDataParallel(model, overlap=overlap)
        opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        times, comm = [], []
        for step in range(warmup + steps):
            dist.barrier()
            start = time.perf_counter()
            opt.zero_grad()
            loss_fn(ddp(x), y).backward()
            opt.step()
            if step >= warmup:
                times.append(time.perf_counter() - start)
                comm.append(ddp.comm_seconds)
        key = "overlap" if overlap else "no_overlap"
        result[key] = {"step_s": float(np.median(times)), "comm_s": float(np.median(comm)),
                       "images_per_s": world * batch / float(np.median(times))}
    # one all-reduce of the whole gradient, alone
    flat = ember.zeros(sum(p.numel() for p in model.parameters()))
    times = []
    for _ in range(warmup + steps):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        times.append(time.perf_counter() - start)
    result["allreduce_alone_s"] = float(np.median(times[warmup:]))
    result["gradient_mb"] = flat.numel() * 4 / 2 ** 20
    result["buckets"] = len(ddp.bucket_sizes)
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)
    dist.destroy_process_group()


def steps(model, n, batch, count, warmup):
    cmd = mpirun(n) + [sys.executable, os.path.abspath(__file__), "--worker", model,
                       str(batch), str(count), str(warmup)]
    out = subprocess.run(cmd, check=True, env=ENV, capture_output=True, text=True).stdout
    return json.loads(next(line for line in out.splitlines()
                           if line.startswith("RESULT "))[len("RESULT "):])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        model, batch, count, warmup = sys.argv[2], *map(int, sys.argv[3:6])
        return worker(model, batch, count, warmup)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["lenet5", "resnet20"])
    p.add_argument("--quick", action="store_true", help="fewer images and steps")
    args = p.parse_args()
    setups = {"lenet5": (64, 6000, 30), "resnet20": (32, 1500, 8)}
    print(f"{'model':9} {'procs':>5} {'train img/s':>11} {'step img/s':>10} "
          f"{'step ms':>8} {'comm ms':>8} {'no-overlap step ms':>18} {'comm ms':>8} "
          f"{'all-reduce alone ms':>19} {'grad MB':>7}")
    for model in args.models:
        batch, limit, count = setups[model]
        if args.quick:
            limit, count = limit // 5, max(3, count // 5)
        for n in (1, 2):
            seconds = ember_train(model, n, limit, batch)
            r = steps(model, n, batch, count, warmup=3)
            o, no = r["overlap"], r["no_overlap"]
            print(f"{model:9} {n:>5} {limit / seconds:>11.0f} {o['images_per_s']:>10.0f} "
                  f"{o['step_s'] * 1e3:>8.1f} {o['comm_s'] * 1e3:>8.2f} "
                  f"{no['step_s'] * 1e3:>18.1f} {no['comm_s'] * 1e3:>8.2f} "
                  f"{r['allreduce_alone_s'] * 1e3:>19.2f} {r['gradient_mb']:>7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
