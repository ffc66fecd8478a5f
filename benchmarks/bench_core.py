"""Core benchmarks (issue 2): an MLP training step and per-op Python overhead vs PyTorch.

    python benchmarks/bench_core.py

MLP 784-512-512-10 with ReLU, batch 128, softmax cross-entropy written with core ops
(logsumexp and gather), SGD by hand; both frameworks float32 with equal thread counts.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness

import numpy as np

import ember


def mlp_step_pair(batch=128, sizes=(784, 512, 512, 10), lr=0.01):
    torch = harness.import_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    shapes = list(zip(sizes[:-1], sizes[1:]))
    init = [((rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32),
             np.zeros(o, np.float32)) for i, o in shapes]

    ew = [(ember.tensor(w, requires_grad=True), ember.tensor(b, requires_grad=True))
          for w, b in init]
    ex, ey = ember.tensor(x), ember.tensor(y[:, None])

    def ember_step():
        h = ex
        for k, (w, b) in enumerate(ew):
            h = h @ w + b
            if k < len(ew) - 1:
                h = h.relu()
        loss = (h.logsumexp(1, keepdim=True) - h.gather(1, ey)).mean()
        loss.backward()
        with ember.no_grad():
            for p in (p for wb in ew for p in wb):
                p.data -= lr * p.grad.data
                p.grad = None
        return loss

    tw = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
          for w, b in init]
    tx, ty = torch.tensor(x), torch.tensor(y[:, None])

    def torch_step():
        h = tx
        for k, (w, b) in enumerate(tw):
            h = h @ w + b
            if k < len(tw) - 1:
                h = h.relu()
        loss = (h.logsumexp(1, keepdim=True) - h.gather(1, ty)).mean()
        loss.backward()
        with torch.no_grad():
            for p in (p for wb in tw for p in wb):
                p -= lr * p.grad
                p.grad = None
        return loss

    # same data, same start: the two losses must agree before we time anything
    le, lt = ember_step().item(), torch_step().item()
    assert abs(le - lt) < 1e-4 * max(1, abs(lt)), (le, lt)
    return ember_step, torch_step


def small_add_pair(n=10_000, requires_grad=False):
    torch = harness.import_torch()
    a, b = ember.randn(8, requires_grad=requires_grad), ember.randn(8)
    ta, tb = torch.randn(8, requires_grad=requires_grad), torch.randn(8)

    def ember_loop():
        for _ in range(n):
            a + b

    def torch_loop():
        for _ in range(n):
            ta + tb
    return ember_loop, torch_loop


def main():
    print(f"threads: {harness.THREADS}  numpy {np.__version__}  "
          f"torch {harness.import_torch().__version__}")
    e, t = mlp_step_pair()
    harness.compare("MLP 784-512-512-10 train step, batch 128", e, t, target=1.2, repeat=30)
    e, t = small_add_pair()
    harness.compare("10,000 x (a + b), 8 elements, no grad", e, t, target=3.0, repeat=5)
    e, t = small_add_pair(requires_grad=True)
    harness.compare("10,000 x (a + b), 8 elements, a requires grad", e, t, target=3.0,
                    repeat=5)


if __name__ == "__main__":
    main()
