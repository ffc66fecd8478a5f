"""``init``: how the initial weight scale decides whether activations (and learning) survive.

The lessons' histogram experiment (Deep Learning from Scratch, ch. 6.2): 1,000 standard
normal inputs through 5 layers of 100 units, weights drawn with std 1, std 0.01, "Xavier"
(std sqrt(1/n)) or "He" (std sqrt(2/n)), biases 0, and the histogram of every layer's
activations, for sigmoid, tanh and ReLU. Std 1 with sigmoid saturates (activations pile up
at 0 and 1, where the gradient vanishes); std 0.01 collapses them to one value (0.5 for
sigmoid, 0 for tanh and ReLU: the units are all alike); Xavier keeps sigmoid and tanh
spread, He keeps ReLU's. Then the training curves of an MLP (784-100x4-10) per init and
activation on the Fashion-MNIST subset.

Writes ``histograms_<activation>.png`` (rows: init, columns: layer), ``training.png``,
``activations.csv`` (per activation, init, layer: mean, std, the share of activations
within 0.01 of 0 or of 1, and the histogram's 30 bin counts on [0, 1] or [-1, 1]) and
``training.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common

__all__ = ["INITS", "PRESETS", "activation_statistics", "run"]

INITS = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": "xavier", "He": "he"}
HIST_ACTIVATIONS = ("sigmoid", "tanh", "relu")
# the training runs: (init, activation)
RUNS = [("std=0.01", "sigmoid"), ("Xavier", "sigmoid"), ("std=0.01", "relu"),
        ("Xavier", "relu"), ("He", "relu")]
BINS = 30

PRESETS = {
    "quick": {"n_inputs": 1000, "layers": 5, "units": 100, "n_train": 1000, "epochs": 3,
              "batch_size": 100, "lr": 0.1, "seed": 0},
    "default": {"n_inputs": 1000, "layers": 5, "units": 100, "n_train": 10000, "epochs": 5,
                "batch_size": 100, "lr": 0.1, "seed": 0},
}


def activation_statistics(activation, init, n_inputs=1000, layers=5, units=100, seed=0):
    """The activations (a list of ``layers`` arrays ``(n_inputs, units)``) of the lessons'
    net: standard normal inputs through ``layers`` linear layers (weights by
    ``common.init_weights``, biases 0) each followed by ``activation``."""
    ember.manual_seed(seed)
    x = ember.from_numpy(np.random.default_rng(seed).standard_normal((n_inputs, units)))
    act = getattr(ember.nn, common.ACTIVATIONS[activation])()
    out = []
    with ember.no_grad():
        for _ in range(layers):
            linear = ember.nn.Linear(units, units, dtype=ember.float64)
            common.init_weights(ember, linear, INITS.get(init, init))
            x = act(linear(x))
            out.append(x.numpy())
    return out


def run(out_dir, n_inputs, layers, units, n_train, epochs, batch_size, lr, seed, preset=None):
    """The histograms for every init x activation, then the training runs. Summary:
    ``stats`` ({activation: {init: [per layer {"mean", "std", "near0", "near1"}]}}) and
    ``final_loss`` / ``test_acc`` ({"init+activation": value after the last epoch})."""
    plt = common.pyplot()
    figures, rows, stats = [], [], {}
    for activation in HIST_ACTIVATIONS:
        lo = -1.0 if activation == "tanh" else 0.0
        fig, axes = plt.subplots(len(INITS), layers, figsize=(1.9 * layers, 1.5 * len(INITS)),
                                 sharex=True)
        stats[activation] = {}
        for r, init in enumerate(INITS):
            acts = activation_statistics(activation, init, n_inputs, layers, units, seed)
            stats[activation][init] = []
            for c, a in enumerate(acts):
                counts, _ = np.histogram(a, bins=BINS, range=(lo, 1.0))
                s = {"mean": float(a.mean()), "std": float(a.std()),
                     "near0": float((np.abs(a) < 0.01).mean()),
                     "near1": float((np.abs(a) > 0.99).mean())}
                stats[activation][init].append(s)
                rows.append([activation, init, c + 1, s["mean"], s["std"], s["near0"],
                             s["near1"], *counts.tolist()])
                ax = axes[r, c]
                ax.hist(a.ravel(), bins=BINS, range=(lo, 1.0), color="tab:blue")
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"layer {c + 1}", fontsize=9)
                if c == 0:
                    ax.set_ylabel(init, fontsize=9)
        fig.suptitle(f"{activation}: activations of {layers} layers of {units} units",
                     fontsize=10)
        fig.tight_layout()
        figures.append(common.save_figure(fig, out_dir, f"histograms_{activation}.png"))
    csvs = [common.write_csv(out_dir, "activations.csv",
                             ["activation", "init", "layer", "mean", "std", "near0", "near1"]
                             + [f"bin{i}" for i in range(BINS)], rows)]

    x, y, xt, yt = common.image_arrays(n_train, max(n_train // 5, 200), seed=seed)
    curves, final, test_acc, train_rows = {}, {}, {}, []
    for init, activation in RUNS:
        ember.manual_seed(seed)
        model = common.mlp(ember, [784] + [100] * 4 + [10], activation, INITS[init])
        opt = ember.optim.SGD(model.parameters(), lr=lr)
        hist = common.train_classifier(ember, model, opt, x, y, epochs, batch_size, seed=seed,
                                       x_test=xt, y_test=yt)
        key = f"{init}+{activation}"
        curves[key], final[key], test_acc[key] = (hist["step_loss"], hist["train_loss"][-1],
                                                 hist["test_acc"][-1])
        train_rows += [[key, i, v] for i, v in enumerate(hist["step_loss"])]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = max(1, len(next(iter(curves.values()))) // 20)
    for key, losses in curves.items():
        ax.plot(common.smooth(losses, width), label=f"{key} (test acc {test_acc[key]:.2f})")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (running mean of {width})")
    ax.set_title(f"MLP 784-100x4-10, SGD lr {lr}, {n_train} Fashion-MNIST images", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figures.append(common.save_figure(fig, out_dir, "training.png"))
    csvs.append(common.write_csv(out_dir, "training.csv", ["run", "step", "loss"], train_rows))
    lines = [f"{'activation':<8} {'init':<9} " + " ".join(f"std L{i + 1:<4}" for i in
                                                          range(layers))]
    for activation, per_init in stats.items():
        for init, per_layer in per_init.items():
            lines.append(f"{activation:<8} {init:<9} " + " ".join(f"{s['std']:8.4f}"
                                                             for s in per_layer))
    lines += [f"{k:<18} final loss {final[k]:.4f}, test acc {test_acc[k]:.3f}" for k in final]
    return figures, csvs, {"stats": stats, "final_loss": final, "test_acc": test_acc}, \
        "\n".join(lines)
