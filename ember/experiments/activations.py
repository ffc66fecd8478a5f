"""``activations``: how the gradient's size changes through depth, per activation.

A deep MLP (``depth`` hidden layers of ``units`` units) at initialisation, one batch of
Fashion-MNIST images, cross-entropy, one backward pass: the mean absolute gradient of each
layer's weights, from the first layer to the last. Sigmoid's derivative is at most 1/4, so
the gradient shrinks by roughly that factor per layer going back (vanishing gradients),
even with the init made for it (Glorot normal, std sqrt(2 / (fan_in + fan_out))); tanh
(same init) shrinks much less; ReLU, ELU, Leaky ReLU (He init, std sqrt(2 / fan_in)) and
Maxout (``nn.Maxout`` with 2 pieces per unit; std sqrt(1 / fan_in), the init that keeps its
variance: the larger of two zero-mean Gaussians has the same mean square as either) keep it
of one order.

Writes ``gradients.png`` (log scale, per layer) and ``gradients.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common

__all__ = ["ACTIVATIONS", "PRESETS", "layer_gradients", "run"]

# activation -> the init it is used with
ACTIVATIONS = {"sigmoid": "glorot", "tanh": "glorot", "relu": "he", "elu": "he",
               "leaky_relu": "he", "maxout": "xavier"}

PRESETS = {
    "quick": {"depth": 10, "units": 100, "batch_size": 200, "seed": 0},
    "default": {"depth": 20, "units": 100, "batch_size": 500, "seed": 0},
}


def layer_gradients(activation, depth, units, x, y, seed=0, init=None):
    """Mean |dL/dW| of each weight layer (first to last, ``depth + 1`` values) of an MLP
    with ``depth`` hidden layers of ``activation`` at initialisation (float64), for the
    cross-entropy on ``(x, y)``."""
    ember.manual_seed(seed)
    model = common.mlp(ember, [x.shape[1]] + [units] * depth + [10], activation,
                       init or ACTIVATIONS[activation], dtype=ember.float64)
    loss = ember.nn.functional.cross_entropy(model(ember.from_numpy(x.astype(np.float64))),
                                             ember.from_numpy(y))
    loss.backward()
    return [float(p.grad.abs().mean()) for name, p in model.named_parameters()
            if name.endswith("weight")]


def run(out_dir, depth, units, batch_size, seed, preset=None):
    """Summary: ``grads`` ({activation: [mean |dL/dW| per layer]}) and ``ratio``
    ({activation: first layer's / last hidden layer's})."""
    plt = common.pyplot()
    x, y, _, _ = common.image_arrays(batch_size, 0, seed=seed)
    grads, rows = {}, []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for activation, init in ACTIVATIONS.items():
        g = layer_gradients(activation, depth, units, x, y, seed)
        grads[activation] = g
        rows += [[activation, i + 1, v] for i, v in enumerate(g)]
        ax.semilogy(range(1, len(g) + 1), g, "o-", ms=3,
                    label=f"{activation} ({init} init)")
    ax.set_xlabel("weight layer (1 = nearest the input)")
    ax.set_ylabel("mean |dL/dW|")
    ax.set_title(f"MLP with {depth} hidden layers of {units} units at initialisation, "
                 f"one batch of {batch_size}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figures = [common.save_figure(fig, out_dir, "gradients.png")]
    csvs = [common.write_csv(out_dir, "gradients.csv", ["activation", "layer",
                                                       "mean_abs_grad"], rows)]
    ratio = {a: g[0] / g[-2] for a, g in grads.items()}
    table = "\n".join([f"{'activation':<11} {'layer 1':>10} {'last hidden':>12} {'ratio':>10}"]
                      + [f"{a:<11} {g[0]:>10.3e} {g[-2]:>12.3e} {ratio[a]:>10.3e}"
                         for a, g in grads.items()])
    return figures, csvs, {"grads": grads, "ratio": ratio}, table
