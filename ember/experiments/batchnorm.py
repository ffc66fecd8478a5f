"""``batchnorm``: batch normalisation speeds learning and loosens the grip of the initial
weight scale.

Two parts:

- the lessons' experiment (Deep Learning from Scratch, ch. 6.3): an MLP with 5 hidden
  layers of 100 ReLU units on a small training set, weights drawn with std over
  ``np.logspace(0, -4, scales)``, SGD lr 0.01, batch 100; training accuracy per epoch with
  and without ``BatchNorm1d`` after each hidden linear layer;
- d2l.ai's recipe (ch. 7.6 / 8.5): LeNet with sigmoids and average pooling, with and
  without batch norm after each convolution and hidden linear layer, Xavier-uniform
  weights, plain SGD at lr 0.9 without BN and 1.0 with BN, batch 256, cross-entropy;
  ``preset="full"`` is the documented run (10 epochs on all 60,000 Fashion-MNIST
  images, as d2l.ai; PyTorch's figures there: train loss 0.471 against 0.269, train
  accuracy 0.824 against 0.901).

:func:`lenet` and :func:`train_lenet` take the framework as an argument:
``benchmarks/bn_experiment_torch.py`` runs them with ``m=torch``.

Writes ``init_scales.png`` (one panel per scale), ``lenet.png`` (loss and accuracy per
epoch), ``init_scales.csv`` and ``lenet.csv``.
"""
from __future__ import annotations

import math

import numpy as np

import ember
from ember.experiments import common

__all__ = ["PRESETS", "initial_state", "lenet", "run", "train_lenet"]

PRESETS = {
    "quick": {"scales": 5, "n_train": 1000, "epochs": 10, "lr": 0.01,
              "lenet_dataset": "fashion-mnist-subset", "lenet_train": 1024, "lenet_epochs": 1,
              "seed": 0},
    "default": {"scales": 16, "n_train": 1000, "epochs": 20, "lr": 0.01,
                "lenet_dataset": "fashion-mnist-subset", "lenet_train": None, "lenet_epochs": 10,
                "seed": 0},
    "full": {"scales": 16, "n_train": 1000, "epochs": 20, "lr": 0.01,
             "lenet_dataset": "fashion-mnist", "lenet_train": None, "lenet_epochs": 10, "seed": 0},
}
LENET_LR = {False: 0.9, True: 1.0}  # d2l.ai's: without BN, with BN
LENET_BATCH = 256


def lenet(m, batch_norm):
    """d2l.ai's LeNet for 28x28 inputs (sigmoid, average pooling), with ``BatchNorm2d`` /
    ``BatchNorm1d`` after each convolution and hidden linear layer when ``batch_norm``;
    Xavier-uniform weights (d2l's ``init_weights``), PyTorch's default biases."""
    nn = m.nn

    def bn(kind, n):
        return [getattr(nn, kind)(n)] if batch_norm else []

    layers = [nn.Conv2d(1, 6, 5, padding=2), *bn("BatchNorm2d", 6), nn.Sigmoid(),
              nn.AvgPool2d(2, 2), nn.Conv2d(6, 16, 5), *bn("BatchNorm2d", 16), nn.Sigmoid(),
              nn.AvgPool2d(2, 2), nn.Flatten(), nn.Linear(400, 120), *bn("BatchNorm1d", 120),
              nn.Sigmoid(), nn.Linear(120, 84), *bn("BatchNorm1d", 84), nn.Sigmoid(),
              nn.Linear(84, 10)]
    model = nn.Sequential(*layers)
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
    return model


def initial_state(batch_norm, seed=0):
    """ember's initial :func:`lenet` weights for ``seed`` as NumPy arrays (by state_dict
    key): what the PyTorch twin starts from, so that only the framework differs."""
    ember.manual_seed(seed)
    return {k: v.numpy().copy() for k, v in lenet(ember, batch_norm).state_dict().items()}


def train_lenet(m, batch_norm, data, epochs, seed=0, initial=None):
    """Train :func:`lenet` with d2l.ai's recipe on ``data = (x, y, x_test, y_test)`` (float32
    arrays in [0, 1], images (N, 1, 28, 28)), starting from ``initial`` (a state dict of
    NumPy arrays, e.g. :func:`initial_state`) if given; returns
    ``common.train_classifier``'s history (``train_loss`` / ``running_acc``: d2l's
    per-epoch training figures)."""
    m.manual_seed(seed)
    model = lenet(m, batch_norm)
    if initial is not None:
        model.load_state_dict({k: m.from_numpy(v.copy()) for k, v in initial.items()})
    opt = m.optim.SGD(model.parameters(), lr=LENET_LR[batch_norm])
    x, y, xt, yt = data
    return common.train_classifier(m, model, opt, x, y, epochs, LENET_BATCH, seed=seed,
                                   x_test=xt, y_test=yt, evaluate=False,
                                   on_epoch=lambda e, h: h["test_acc"].append(
                                       common.accuracy(m, model, xt, yt)))


def run(out_dir, scales, n_train, epochs, lr, lenet_dataset, lenet_train, lenet_epochs, seed,
        preset=None):
    """Both parts. Summary: ``final_train_acc`` ({"bn"|"plain": [per scale]}), ``stds``,
    ``bn_wins`` (scales where BN's final training accuracy beats the plain run's), and
    ``lenet`` ({"bn"|"plain": {"train_loss", "train_acc", "test_acc"} after the last
    epoch})."""
    plt = common.pyplot()
    stds = np.logspace(0, -4, scales)
    x, y, _, _ = common.image_arrays(n_train, 0, seed=seed)
    rows, final = [], {"bn": [], "plain": []}
    cols = math.ceil(math.sqrt(scales))
    fig, axes = plt.subplots(math.ceil(scales / cols), cols, figsize=(2.2 * cols, 1.8 * cols),
                             sharex=True, sharey=True, squeeze=False)
    for i, std in enumerate(stds):
        ax = axes.flat[i]
        for key, use_bn, style in (("bn", True, "-"), ("plain", False, "--")):
            ember.manual_seed(seed)
            model = common.mlp(ember, [784] + [100] * 5 + [10], "relu", float(std),
                               batch_norm=use_bn)
            opt = ember.optim.SGD(model.parameters(), lr=lr)
            with np.errstate(over="ignore", invalid="ignore"):  # std 1 without BN blows up
                hist = common.train_classifier(ember, model, opt, x, y, epochs, 100, seed=seed)
            final[key].append(hist["train_acc"][-1])
            rows += [[float(std), key, e + 1, a] for e, a in enumerate(hist["train_acc"])]
            ax.plot(range(1, epochs + 1), hist["train_acc"], style,
                    label="batch norm" if use_bn else "plain")
        ax.set_title(f"std {std:.2g}", fontsize=9)
        ax.set_ylim(0, 1)
    for ax in axes.flat[scales:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.supxlabel("epoch", fontsize=9)
    fig.supylabel("training accuracy", fontsize=9)
    fig.tight_layout()
    figures = [common.save_figure(fig, out_dir, "init_scales.png")]
    csvs = [common.write_csv(out_dir, "init_scales.csv", ["weight_std", "run", "epoch",
                                                         "train_acc"], rows)]
    wins = int(sum(b > p for b, p in zip(final["bn"], final["plain"])))

    n_test = None if lenet_train is None else max(lenet_train // 5, 500)
    data = common.image_arrays(lenet_train, n_test, dataset=lenet_dataset, flat=False,
                               seed=seed)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    lenet_rows, lenet_final = [], {}
    for key, use_bn, style in (("plain", False, "--o"), ("bn", True, "-o")):
        hist = train_lenet(ember, use_bn, data, lenet_epochs, seed)
        ep = range(1, lenet_epochs + 1)
        label = f"BN, lr {LENET_LR[True]}" if use_bn else f"plain, lr {LENET_LR[False]}"
        axes[0].plot(ep, hist["train_loss"], style, label=label)
        axes[1].plot(ep, hist["running_acc"], style, label=f"{label}: train")
        axes[1].plot(ep, hist["test_acc"], style.replace("o", "s"), alpha=0.6,
                     label=f"{label}: test")
        lenet_rows += [[key, e + 1, hist["train_loss"][e], hist["running_acc"][e],
                        hist["test_acc"][e]] for e in range(lenet_epochs)]
        lenet_final[key] = {"train_loss": hist["train_loss"][-1],
                            "train_acc": hist["running_acc"][-1],
                            "test_acc": hist["test_acc"][-1]}
    for ax, what in zip(axes, ("training loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"d2l.ai's sigmoid LeNet on {len(data[0])} {lenet_dataset} images, "
                 f"batch {LENET_BATCH}", fontsize=10)
    fig.tight_layout()
    figures.append(common.save_figure(fig, out_dir, "lenet.png"))
    csvs.append(common.write_csv(out_dir, "lenet.csv", ["run", "epoch", "train_loss",
                                                       "train_acc", "test_acc"], lenet_rows))
    lines = [f"{'weight std':>10} {'BN acc':>7} {'plain acc':>9}"]
    lines += [f"{s:>10.2g} {b:>7.3f} {p:>9.3f}" for s, b, p in
              zip(stds, final["bn"], final["plain"])]
    lines.append(f"BN ahead at {wins} of {scales} scales")
    lines += [f"LeNet {k:<5}: train loss {v['train_loss']:.3f}, train acc "
              f"{v['train_acc']:.3f}, test acc {v['test_acc']:.3f}" for k, v in
              lenet_final.items()]
    summary = {"final_train_acc": final, "stds": stds.tolist(), "bn_wins": wins,
               "lenet": lenet_final}
    return figures, csvs, summary, "\n".join(lines)
