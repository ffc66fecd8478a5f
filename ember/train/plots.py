"""Training plots as PNG files (matplotlib, Agg backend: no screen needed)."""
from __future__ import annotations

import os

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'ember[train]'") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(history, path, metric="accuracy"):
    """Loss and ``metric`` (the logs' ``train_<metric>``, ``val_<metric>``) per epoch, train
    against validation (and test, where an epoch logged it), side by side."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", metric)):
        for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
            values = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], style,
                        label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a run without validation has no val_<metric>
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lr(lrs, path):
    """The learning rate at every optimizer step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(len(lrs)), lrs)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(matrix, path, class_names=None):
    """A confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    plt = _pyplot()
    m = np.asarray(matrix)
    n = m.shape[0]
    names = class_names or [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_attention(weights, inputs, outputs, path):
    """A heat map of attention ``weights`` (len(outputs), len(inputs)): one row per output
    symbol, one column per input symbol."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.3 * len(inputs)), max(3, 0.35 * len(outputs))))
    ax.imshow(weights, cmap="gray", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(len(inputs)), [repr(c)[1:-1] for c in inputs])
    ax.set_yticks(range(len(outputs)), [repr(c)[1:-1] for c in outputs])
    ax.set_xlabel("input")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_misclassified(images, true, pred, path, class_names=None, max_images=25,
                       signals=False):
    """A grid of misclassified examples titled 'true -> predicted'; with ``signals``, each
    example is a (C, L) 1-D signal drawn as C curves."""
    plt = _pyplot()
    images = np.asarray(images)[:max_images]
    k = len(images)
    cols = int(np.ceil(np.sqrt(max(k, 1))))
    rows = int(np.ceil(max(k, 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    names = class_names or None
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t, p in zip(axes.ravel(), images, true, pred):
        if signals:
            ax.plot(np.atleast_2d(img).T, lw=1)
        else:
            _show_image(ax, img)
        label = f"{names[t]}\n-> {names[p]}" if names else f"{t} -> {p}"
        ax.set_title(label, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _show_image(ax, img):
    img = img[0] if img.ndim == 3 and img.shape[0] == 1 else (
        img.transpose(1, 2, 0) if img.ndim == 3 else img)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path
