"""The ``ember`` command line.

``ember demo`` trains a small two-layer network with the core API (tensors, autograd, SGD
written by hand) on CS231n's three-class spiral data and prints the loss falling.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


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


def demo(args) -> int:
    import ember
    ember.manual_seed(args.seed)
    x_np, y_np = spiral_data(seed=args.seed)
    x, y = ember.tensor(x_np), ember.tensor(y_np[:, None])
    w1 = (ember.randn(2, args.hidden) * (2 / 2) ** 0.5).requires_grad_()
    b1 = ember.zeros(args.hidden, requires_grad=True)
    w2 = (ember.randn(args.hidden, 3) * (2 / args.hidden) ** 0.5).requires_grad_()
    b2 = ember.zeros(3, requires_grad=True)
    params = [w1, b1, w2, b2]
    print(f"ember demo: 2-layer MLP (2-{args.hidden}-3, ReLU) on {len(x_np)} spiral points, "
          f"full-batch SGD lr={args.lr}")
    start = time.perf_counter()
    for step in range(args.steps + 1):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        # softmax cross-entropy from core ops: log-sum-exp minus the true class's logit
        loss = (logits.logsumexp(1, keepdim=True) - logits.gather(1, y)).mean()
        loss.backward()
        with ember.no_grad():
            for p in params:
                p.data -= args.lr * p.grad.data
                p.grad = None
        if step % (args.steps // 10) == 0:
            acc = (logits.argmax(1) == y[:, 0]).float().mean().item()
            print(f"  step {step:5d}   loss {loss.item():.4f}   accuracy {acc:.3f}")
    print(f"done in {time.perf_counter() - start:.1f} s; final training accuracy {acc:.3f}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="ember", description="ember: deep learning from "
                                     "scratch on NumPy, checked against PyTorch.")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("demo", help="train a small MLP with the core API and print its loss")
    p.add_argument("--steps", type=int, default=2000, help="SGD steps (default 2000)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units (default 100)")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + list(argv or sys.argv[1:]))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
