"""Timing harness: ember against PyTorch in the same process, same threads, same data.

Every benchmark reports a ratio (ember time / torch time); the targets in the issues are
stated as such ratios, so the machine's speed cancels out.
"""
from __future__ import annotations

import os
import statistics
import time

THREADS = int(os.environ.get("EMBER_BENCH_THREADS", os.cpu_count() or 1))
# BLAS thread pools read these at import time: set them before NumPy or torch load.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))


def import_torch():
    import torch
    torch.set_num_threads(THREADS)
    return torch


def median_time(fn, repeat=20, warmup=3, min_time=0.0):
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(name, ember_fn, torch_fn, target=None, unit="ms", scale=1e3, **kw):
    """Time both (interleaved in rounds so drift hits both), print and return the ratio."""
    e_times, t_times = [], []
    for _ in range(3):
        e_times.append(median_time(ember_fn, **kw))
        t_times.append(median_time(torch_fn, **kw))
    e, t = min(e_times), min(t_times)
    ratio = e / t
    verdict = "" if target is None else ("  OK" if ratio <= target else f"  MISSES {target}x")
    print(f"{name:<48} ember {e * scale:9.3f} {unit}   torch {t * scale:9.3f} {unit}   "
          f"ratio {ratio:5.2f}x{verdict}")
    return ratio


def measure_peak_rss(script: str) -> int:
    """Run ``script`` in a fresh Python and return its peak resident memory in bytes.

    Read from the child's own ``VmHWM`` (``ru_maxrss`` of a forked child starts from the
    parent's peak, which would make every measurement the parent's size)."""
    import subprocess
    import sys
    code = script + "\nprint('PEAK', [ln.split()[1] for ln in open('/proc/self/status') " \
                    "if ln.startswith('VmHWM')][0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("PEAK")][-1]
    return int(line.split()[1]) * 1024
