"""``lr-decay``: constant, step, exponential and 1/t learning-rate decay on the same run.

One MLP (784-100-100-10, ReLU, He init), one seed, one data order, plain SGD from the same
initial rate, trained for the same epochs on the Fashion-MNIST subset; only the schedule
differs (stepped once per epoch, the three decays built to end at the same rate, lr0 / 16):

- constant;
- step: ``StepLR`` halving the rate every quarter of the run;
- exponential: ``ExponentialLR`` with gamma = 16 ** (-1 / epochs);
- 1/t: ``InverseTimeLR``, lr0 / (1 + k t) with k = 15 / epochs.

A large constant rate keeps the loss noisy near the end; decaying it lets the run settle.

Writes ``schedules.png`` (the rate, the training loss and the test accuracy per epoch) and
``schedules.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common
from ember.optim import lr_scheduler

__all__ = ["PRESETS", "SCHEDULES", "run"]


def _constant(opt, epochs):
    return None


def _step(opt, epochs):
    return lr_scheduler.StepLR(opt, step_size=max(1, epochs // 4), gamma=0.5)


def _exponential(opt, epochs):
    return lr_scheduler.ExponentialLR(opt, gamma=16.0 ** (-1.0 / epochs))


def _inverse_time(opt, epochs):
    return lr_scheduler.InverseTimeLR(opt, decay_rate=15.0 / epochs)


SCHEDULES = {"constant": _constant, "step": _step, "exponential": _exponential,
             "1/t": _inverse_time}

PRESETS = {
    "quick": {"n_train": 1000, "n_test": 500, "epochs": 8, "lr": 0.3, "batch_size": 50, "seed": 0},
    "default": {"n_train": 10000, "n_test": 2000, "epochs": 20, "lr": 0.3, "batch_size": 100,
                "seed": 0},
}


def run(out_dir, n_train, n_test, epochs, lr, batch_size, seed, preset=None):
    """Train once per schedule. Summary per schedule: ``lr`` (per epoch), ``final_loss``
    (mean training loss of the last epoch), ``last_noise`` (std of the step losses in the
    last quarter of the run) and ``test_acc`` (after the last epoch)."""
    plt = common.pyplot()
    x, y, xt, yt = common.image_arrays(n_train, n_test, seed=seed)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    rows, summary = [], {}
    for name, make in SCHEDULES.items():
        ember.manual_seed(seed)
        model = common.mlp(ember, [784, 100, 100, 10], "relu", "he")
        opt = ember.optim.SGD(model.parameters(), lr=lr)
        hist = common.train_classifier(ember, model, opt, x, y, epochs, batch_size, seed=seed,
                                       scheduler=make(opt, epochs), x_test=xt, y_test=yt)
        steps = hist["step_loss"]
        summary[name] = {"lr": hist["lr"], "final_loss": hist["train_loss"][-1],
                         "last_noise": float(np.std(steps[-max(1, len(steps) // 4):])),
                         "test_acc": hist["test_acc"][-1]}
        rows += [[name, e + 1, hist["lr"][e], hist["train_loss"][e], hist["test_acc"][e]]
                 for e in range(epochs)]
        ep = range(1, epochs + 1)
        axes[0].plot(ep, hist["lr"], "o-", ms=3, label=name)
        axes[1].plot(ep, hist["train_loss"], "o-", ms=3, label=name)
        axes[2].plot(ep, hist["test_acc"], "o-", ms=3, label=name)
    for ax, what in zip(axes, ("learning rate", "training loss (epoch mean)",
                               "test accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"MLP 784-100-100-10, SGD from lr {lr}, {n_train} Fashion-MNIST images",
                 fontsize=10)
    fig.tight_layout()
    figures = [common.save_figure(fig, out_dir, "schedules.png")]
    csvs = [common.write_csv(out_dir, "schedules.csv", ["schedule", "epoch", "lr",
                                                       "train_loss", "test_acc"], rows)]
    table = "\n".join([(f"{'schedule':<12} {'last lr':>8} {'loss':>7} {'noise':>7} "
                       f"{'test acc':>8}")] + [
        f"{k:<12} {v['lr'][-1]:>8.4f} {v['final_loss']:>7.4f} {v['last_noise']:>7.4f} "
        f"{v['test_acc']:>8.3f}" for k, v in summary.items()])
    return figures, csvs, summary, table
