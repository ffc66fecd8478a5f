"""Core benchmarks (issue 2): an MLP training step and per-op Python overhead vs PyTorch.

    python benchmarks/bench_core.py                  # isolated processes, 6 per library
    python benchmarks/bench_core.py --processes 3    # fewer processes
    python benchmarks/bench_core.py --in-process     # both libraries in one process

MLP 784-512-512-10 with ReLU, batch 128, softmax cross-entropy written with core ops
(logsumexp and gather), SGD by hand; both frameworks float32 with equal thread counts.
See ``harness.py`` for how the isolated mode times each library alone.
"""
from __future__ import annotations

import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: I001 - first: sets BLAS threads before NumPy loads

import numpy as np


def _library(name):
    """The module of ``name`` ('ember' or 'torch'), imported only when asked for."""
    if name == "torch":
        return harness.import_torch()
    import ember
    return ember


def mlp_step(library, batch=128, sizes=(784, 512, 512, 10), lr=0.01):
    """One training step of the MLP in ``library``; the same data and weights in both."""
    lib = _library(library)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    shapes = list(itertools.pairwise(sizes))
    params = [(lib.tensor(w, requires_grad=True), lib.tensor(b, requires_grad=True))
              for w, b in (((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
                            np.zeros(o, np.float32)) for i, o in shapes)]
    tx, ty = lib.tensor(x), lib.tensor(y[:, None])

    def step():
        h = tx
        for k, (w, b) in enumerate(params):
            h = h @ w + b
            if k < len(params) - 1:
                h = h.relu()
        loss = (h.logsumexp(1, keepdim=True) - h.gather(1, ty)).mean()
        loss.backward()
        with lib.no_grad():
            for p in (p for wb in params for p in wb):
                p.data -= lr * p.grad.data
                p.grad = None
        return loss
    return step


def mlp_step_pair(**kw):
    """(ember step, torch step), checked to compute the same first loss."""
    e, t = mlp_step("ember", **kw), mlp_step("torch", **kw)
    le, lt = e().item(), t().item()  # same data, same start: the losses must agree
    assert abs(le - lt) < 1e-4 * max(1, abs(lt)), (le, lt)
    return e, t


def small_add(library, n=10_000, requires_grad=False):
    """``n`` additions of 8-element tensors: the per-op Python overhead."""
    lib = _library(library)
    a, b = lib.randn(8, requires_grad=requires_grad), lib.randn(8)

    def loop():
        for _ in range(n):
            a + b
    return loop


CASES = {
    "mlp": harness.Case("MLP 784-512-512-10 train step, batch 128", mlp_step, 1.2, repeat=30),
    "add": harness.Case("10,000 x (a + b), 8 elements, no grad", small_add, 3.0, repeat=5),
    "add-grad": harness.Case("10,000 x (a + b), 8 elements, a requires grad",
                             lambda lib: small_add(lib, requires_grad=True), 3.0, repeat=5),
}


def main(argv=None):
    args = harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    if args.worker:
        key, library = args.worker
        harness.worker(CASES[key], library)
        return 0
    mlp_step_pair()  # the correctness check, once, before timing
    mode = "in one process" if args.in_process else f"{args.processes} processes per library"
    print(f"threads: {harness.THREADS}  numpy {np.__version__}  "
          f"torch {harness.import_torch().__version__}  ({mode})  "
          f"ember from {os.path.dirname(_library('ember').__file__)}")
    harness.run_cases(os.path.abspath(__file__), CASES, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
