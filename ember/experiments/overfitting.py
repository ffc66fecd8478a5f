"""``overfitting``: a deep net memorises 300 images; weight decay and dropout narrow the gap.

The lessons' experiment (Deep Learning from Scratch, ch. 6.4): an MLP with 6 hidden layers
of 100 ReLU units (He init) trained by SGD (lr 0.01, batch 100) on only 300 training
images reaches ~100% training accuracy while test accuracy stays far below; the same with
weight decay (L2, lambda 0.1: ``SGD(weight_decay=0.1)`` adds lambda W to the gradient, the
gradient of the lessons' 0.5 lambda |W|² penalty) and with dropout (ratio 0.2 after every
hidden activation). Here on the Fashion-MNIST subset.

Writes ``accuracy.png`` (train and test accuracy per epoch, one panel per run) and
``accuracy.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common

__all__ = ["PRESETS", "RUNS", "run"]

RUNS = {"plain": {"weight_decay": 0.0, "dropout": 0.0},
        "weight decay 0.1": {"weight_decay": 0.1, "dropout": 0.0},
        "dropout 0.2": {"weight_decay": 0.0, "dropout": 0.2}}

PRESETS = {
    "quick": {"n_train": 300, "n_test": 1000, "epochs": 60, "lr": 0.05, "batch_size": 100,
              "seed": 0},
    "default": {"n_train": 300, "n_test": 2000, "epochs": 200, "lr": 0.01, "batch_size": 100,
                "seed": 0},
}


def run(out_dir, n_train, n_test, epochs, lr, batch_size, seed, preset=None):
    """The three runs. Summary: per run ``train_acc``, ``test_acc`` and ``gap`` (train -
    test), each the mean over the last tenth of the epochs (at least one)."""
    plt = common.pyplot()
    x, y, xt, yt = common.image_arrays(n_train, n_test, seed=seed)
    last = max(1, epochs // 10)
    fig, axes = plt.subplots(1, len(RUNS), figsize=(11, 3.4), sharey=True)
    rows, summary = [], {}
    for ax, (name, cfg) in zip(axes, RUNS.items()):
        ember.manual_seed(seed)
        model = common.mlp(ember, [784] + [100] * 6 + [10], "relu", "he",
                           dropout=cfg["dropout"])
        opt = ember.optim.SGD(model.parameters(), lr=lr, weight_decay=cfg["weight_decay"])
        hist = common.train_classifier(ember, model, opt, x, y, epochs, batch_size, seed=seed,
                                       x_test=xt, y_test=yt)
        tr, te = np.mean(hist["train_acc"][-last:]), np.mean(hist["test_acc"][-last:])
        summary[name] = {"train_acc": float(tr), "test_acc": float(te), "gap": float(tr - te)}
        rows += [[name, e + 1, hist["train_loss"][e], hist["train_acc"][e],
                  hist["test_acc"][e]] for e in range(epochs)]
        ep = range(1, epochs + 1)
        ax.plot(ep, hist["train_acc"], label="train")
        ax.plot(ep, hist["test_acc"], label="test")
        ax.set_title(f"{name}: gap {tr - te:.3f}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"MLP 784-100x6-10 on {n_train} Fashion-MNIST images (test: {len(xt)}), "
                 f"SGD lr {lr}", fontsize=10)
    fig.tight_layout()
    figures = [common.save_figure(fig, out_dir, "accuracy.png")]
    csvs = [common.write_csv(out_dir, "accuracy.csv", ["run", "epoch", "train_loss",
                                                      "train_acc", "test_acc"], rows)]
    table = "\n".join([f"{'run':<18} {'train':>6} {'test':>6} {'gap':>6}"] + [
        f"{k:<18} {v['train_acc']:>6.3f} {v['test_acc']:>6.3f} {v['gap']:>6.3f}"
        for k, v in summary.items()] + [f"(means over the last {last} epochs)"])
    return figures, csvs, summary, table
