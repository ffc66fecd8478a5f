"""Train a small MLP, or resume it from a checkpoint, in its own process.

    python _resume_script.py start  CKPT OUT.npz N   # seed, train N steps, save_checkpoint
    python _resume_script.py resume CKPT OUT.npz M   # other seed, load_checkpoint, train M

Each batch is drawn from ember's RNG, so an exact resume needs the RNG state as well as the
model, optimizer and scheduler. test_checkpoint.py compares the result, bit for bit, with
N + M uninterrupted steps.
"""
import sys

import numpy as np

import ember
from ember import nn
from ember.io import load_checkpoint, save_checkpoint

TOTAL_STEPS = 40


def build():
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = ember.optim.AdamW(model.parameters(), lr=1e-2)
    sched = ember.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=TOTAL_STEPS)
    return model, opt, sched


def train(model, opt, sched, steps):
    for _ in range(steps):
        x, y = ember.randn(8, 6), ember.randn(8, 3)
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()


def parameters(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def main(mode, ckpt, out, steps):
    ember.manual_seed(0 if mode == "start" else 123)  # resume must not depend on the seed
    model, opt, sched = build()
    if mode == "resume":
        load_checkpoint(ckpt, model, opt, sched)
    train(model, opt, sched, steps)
    if mode == "start":
        save_checkpoint(ckpt, model=model, optimizer=opt, scheduler=sched, step=steps,
                        extra={"note": "first part"})
    np.savez(out, *parameters(model))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
