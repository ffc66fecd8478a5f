"""``ember demo``: a two-layer network trained with nothing but the core API (tensors,
autograd, SGD by hand) on CS231n's three-class spiral data."""
from __future__ import annotations

import time

import numpy as np

import ember


def spiral_data(points_per_class=100, classes=3, seed=0):
    """CS231n's spiral: ``classes`` interleaved arms in 2-D, not linearly separable."""
    rng = np.random.default_rng(seed)
    n = points_per_class
    x = np.zeros((n * classes, 2), np.float32)
    y = np.zeros(n * classes, np.int64)
    for c in range(classes):
        r = np.linspace(0.0, 1, n)
        t = np.linspace(c * 4, (c + 1) * 4, n) + rng.standard_normal(n) * 0.2
        x[c * n:(c + 1) * n] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[c * n:(c + 1) * n] = c
    return x, y


def run_demo(steps=2000, hidden=100, lr=1.0, seed=0) -> int:
    ember.manual_seed(seed)
    x_np, y_np = spiral_data(seed=seed)
    x, y = ember.tensor(x_np), ember.tensor(y_np[:, None])
    w1 = (ember.randn(2, hidden) * 1.0).requires_grad_()
    b1 = ember.zeros(hidden, requires_grad=True)
    w2 = (ember.randn(hidden, 3) * (2 / hidden) ** 0.5).requires_grad_()
    b2 = ember.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    print(f"ember demo: 2-layer MLP (2-{hidden}-3, ReLU) on {len(x_np)} spiral points, "
          f"full-batch SGD lr={lr}")
    start = time.perf_counter()
    for step in range(steps + 1):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        # softmax cross-entropy from core ops: log-sum-exp minus the true class's logit
        loss = (logits.logsumexp(1, keepdim=True) - logits.gather(1, y)).mean()
        loss.backward()
        with ember.no_grad():
            for p in params:
                p.array -= lr * p.grad.array
                p.grad = None
        if step % max(1, steps // 10) == 0:
            acc = (logits.argmax(1) == y[:, 0]).float().mean().item()
            print(f"  step {step:5d}   loss {loss.item():.4f}   accuracy {acc:.3f}")
    print(f"done in {time.perf_counter() - start:.1f} s; final training accuracy {acc:.3f}")
    return 0
