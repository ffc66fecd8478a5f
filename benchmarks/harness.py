"""Timing harness: ember against PyTorch, same threads, same data.

Every benchmark reports a ratio (ember time / torch time); the targets in the issues are
stated as such ratios, so the machine's speed cancels out.

Two ways to time a case:

* **Isolated (the default).** Each library runs alone in its own fresh Python process (the
  bench script re-invoked as ``--worker CASE LIBRARY``; an ember worker never imports torch
  and a torch worker never imports ember), several processes per library (6 unless
  ``--processes N``), interleaved ember, torch, ember, torch, ... Each worker prints one
  JSON line (the best of its rounds' medians, and its fastest single call); the parent keeps
  the best process per library and reports their ratio. Why: in one process, OpenBLAS's pool
  thread keeps spinning on the other core for ~0.1 s after each of ember's products and
  slows PyTorch's next step, and on this host the same step runs at one of two speeds from
  one process to the next (2.9 or 4.0 ms for PyTorch's MLP step), so a single process can
  land either library in its slow mode.
* **In-process** (``--in-process``): both libraries in this process, interleaved in rounds
  (``compare``), as every figure before 2026-12-03 was measured.

Correctness checks (the same first loss from both libraries) run in the parent, once,
before anything is timed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

THREADS = int(os.environ.get("EMBER_BENCH_THREADS", os.cpu_count() or 1))
# BLAS thread pools read these at import time: set them before NumPy or torch load.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(THREADS))

LIBRARIES = ("ember", "torch")


class Case(NamedTuple):
    """One timed workload: ``build(library)`` returns the call to time for that library."""
    title: str
    build: Callable[[str], Callable[[], object]]
    target: float | None = None
    repeat: int = 20   # timed calls per round
    warmup: int = 3    # untimed calls first
    rounds: int = 3    # rounds per process (in-process: interleaved rounds per library)


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


def _report(name, e, t, target, unit, scale, note=""):
    ratio = e / t
    verdict = "" if target is None else ("  OK" if ratio <= target else f"  MISSES {target}x")
    print(f"{name:<48} ember {e * scale:9.3f} {unit}   torch {t * scale:9.3f} {unit}   "
          f"ratio {ratio:5.2f}x{verdict}{note}", flush=True)
    return ratio


def compare(name, ember_fn, torch_fn, target=None, unit="ms", scale=1e3, rounds=3, **kw):
    """Time both in this process (interleaved in rounds so drift hits both), print and
    return the ratio."""
    e_times, t_times = [], []
    for _ in range(rounds):
        e_times.append(median_time(ember_fn, **kw))
        t_times.append(median_time(torch_fn, **kw))
    return _report(name, min(e_times), min(t_times), target, unit, scale)


def run_worker(script, key, library, extra_args=()):
    """Run ``script --worker key library`` in a fresh Python; return its JSON result."""
    cmd = [sys.executable, script, "--worker", key, library, *extra_args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {key} {library} failed:\n{out.stderr}")
    return json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])


def compare_isolated(script, key, case, processes=6, extra_args=(), unit="ms", scale=1e3):
    """Time ``case`` in ``processes`` fresh processes per library, interleaved; print and
    return the ratio of the best process of each."""
    medians = {lib: [] for lib in LIBRARIES}
    for _ in range(processes):
        for lib in LIBRARIES:
            medians[lib].append(run_worker(script, key, lib, extra_args)["median"])
    e, t = min(medians["ember"]), min(medians["torch"])
    spread = "  (processes: " + ", ".join(
        f"{lib} {min(m) * scale:.3g}-{max(m) * scale:.3g}" for lib, m in medians.items()) + ")"
    return _report(case.title, e, t, case.target, unit, scale, spread)


def worker(case, library):
    """Time ``case`` for ``library`` in this process and print one JSON line: the best of
    the rounds' medians and the fastest single call, in seconds."""
    fn = case.build(library)
    for _ in range(case.warmup):
        fn()
    times, medians = [], []
    for _ in range(case.rounds):
        round_times = []
        for _ in range(case.repeat):
            t0 = time.perf_counter()
            fn()
            round_times.append(time.perf_counter() - t0)
        medians.append(statistics.median(round_times))
        times += round_times
    print(json.dumps({"case": case.title, "library": library, "median": min(medians),
                      "best": min(times), "rounds": medians}), flush=True)


def parser(description):
    """The command line every bench script shares (add script-specific flags to it)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--in-process", action="store_true",
                   help="time both libraries in this process (the old mode)")
    p.add_argument("--processes", type=int, default=6,
                   help="fresh processes per library in the isolated mode (default 6)")
    p.add_argument("--worker", nargs=2, metavar=("CASE", "LIBRARY"), help=argparse.SUPPRESS)
    p.add_argument("cases", nargs="*", help="run only these cases (default: all)")
    return p


def parse_args(description, argv, cases, state_flag="--state-dir"):
    """The bench scripts' shared start: parse the shared flags plus ``--quick`` and the
    hidden ``state_flag`` (where the parent saved the weights). In a worker process, time its
    case (``cases(quick, state)[key]``) and return None; else the args (``--quick`` means 3
    processes unless ``--processes`` was given)."""
    p = parser(description)
    p.add_argument("--quick", action="store_true", help="fewer processes and repeats")
    p.add_argument(state_flag, dest="state", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        key, library = args.worker
        worker(cases(args.quick, args.state)[key], library)
        return None
    if args.quick and "--processes" not in (argv if argv is not None else sys.argv[1:]):
        args.processes = 3
    return args


def libraries(framework, seed=0):
    """``(nn, F, no_grad)`` of ``framework`` ('ember' or 'torch'), its generator seeded."""
    if framework == "torch":
        torch = import_torch()
        torch.manual_seed(seed)
        return torch.nn, torch.nn.functional, torch.no_grad
    import ember
    import ember.nn
    ember.manual_seed(seed)
    return ember.nn, ember.nn.functional, ember.no_grad


def run_cases(script, cases, args, extra_args=()):
    """Time every case of ``cases`` ({key: Case}) as ``args`` say; return the rows
    (title, target, ratio)."""
    unknown = set(args.cases) - set(cases)
    if unknown:
        raise SystemExit(f"unknown case(s) {sorted(unknown)}; known: {list(cases)}")
    rows = []
    for key, case in cases.items():
        if args.cases and key not in args.cases:
            continue
        if args.in_process:
            ratio = compare(case.title, case.build("ember"), case.build("torch"), case.target,
                            rounds=case.rounds, repeat=case.repeat, warmup=case.warmup)
        else:
            ratio = compare_isolated(script, key, case, args.processes, extra_args)
        rows.append((case.title, case.target, ratio))
    return rows


def measure_peak_rss(script: str) -> int:
    """Run ``script`` in a fresh Python and return its peak resident memory in bytes.

    Read from the child's own ``VmHWM`` (``ru_maxrss`` of a forked child starts from the
    parent's peak, which would make every measurement the parent's size)."""
    code = script + "\nprint('PEAK', [ln.split()[1] for ln in open('/proc/self/status') " \
                    "if ln.startswith('VmHWM')][0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("PEAK")][-1]
    return int(line.split()[1]) * 1024


def report_figures(figures, json_path=None, reference=None):
    """Print a run's ``figures`` one per line (floats to 4 decimals, beside ``reference``'s
    figure of the same name where it has one) and write them to ``json_path`` if given."""
    import json
    reference = reference or {}
    for k, v in figures.items():
        ref = (f" (PyTorch reference {reference[k]:.3f}, diff {v - reference[k]:+.3f})"
               if k in reference else "")
        print(f"{k}: {v:.4f}{ref}" if isinstance(v, float) else f"{k}: {v}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=1)
