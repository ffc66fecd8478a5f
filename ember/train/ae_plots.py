"""The autoencoder pictures of a run folder (matplotlib, Agg): reconstructions next to inputs,
the 2-D code space of the test set by class (the code itself when it is 2-D, else its first
two principal components, by ``numpy.linalg.eigh`` of the covariance), a grid decoded from a
regular lattice of that plane, interpolations between test images, samples from the prior
(VAEs), denoising before / after, the curves; and the anomalies figure of ``ember
anomalies``."""
from __future__ import annotations

import os

import numpy as np

import ember
from ember import backend
from ember.train.plots import _pyplot, plot_lr

PICTURES = ("curves.png", "lr.png", "reconstructions.png", "codes.png", "lattice.png",
            "interpolation.png", "samples.png", "denoising.png")


def tile(images, ncol):
    """(N, C, H, W) images in [0, 1] -> one (rows*H + gaps, ncol*W + gaps) or RGB array,
    row-major, 1-pixel white gaps."""
    images = np.asarray(images, dtype=np.float32)
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    grid = np.ones((nrow * (h + 1) - 1, ncol * (w + 1) - 1, c), np.float32)
    for k in range(n):
        r, q = divmod(k, ncol)
        grid[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = \
            images[k].transpose(1, 2, 0)
    return grid[..., 0] if c == 1 else np.clip(grid, 0, 1)


def _show(ax, images, ncol, title=None):
    ax.imshow(tile(images, ncol), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _save(fig, path, plt):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_rows(rows, titles, path, suptitle=None):
    """Rows of images, one titled panel per row (inputs / reconstructions, ...)."""
    plt = _pyplot()
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(max(6, n * 0.55), 1.05 * len(rows) + 0.4))
    for ax, row, title in zip(np.atleast_1d(axes), rows, titles):
        _show(ax, row, n, title)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _save(fig, path, plt)


def pca_2d(codes):
    """(projections (N, 2), mean (d,), components (2, d), explained variance ratio (2,))
    of codes (N, d) by the eigenvectors of their covariance (``numpy.linalg``)."""
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    mean = codes.mean(0)
    centred = codes - mean
    if len(codes) < codes.shape[1]:  # fewer codes than dimensions: the thin SVD is cheaper
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        values, vectors = s ** 2 / max(len(codes) - 1, 1), vt.T
    else:
        values, vectors = np.linalg.eigh(centred.T @ centred / max(len(codes) - 1, 1))
    top = np.argsort(values)[::-1][:2]
    comps = vectors[:, top].T.copy()
    comps *= np.where(comps.sum(1, keepdims=True) < 0, -1.0, 1.0)  # a fixed sign
    ratio = values[top] / max(values.sum(), 1e-300)
    return centred @ comps.T, mean, comps, ratio


def plot_codes(points, labels, names, path, title):
    """The 2-D code space: one colour per class, with a legend of the class names."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for k in range(len(names)):
        sel = labels == k
        ax.scatter(points[sel, 0], points[sel, 1], s=3, alpha=0.6, color=cmap(k % cmap.N),
                   label=names[k], rasterized=True)
    ax.legend(markerscale=4, fontsize=8, loc="best", framealpha=0.8)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path, plt)


def plot_grid(images, ncol, path, title):
    plt = _pyplot()
    nrow = -(-len(images) // ncol)
    fig, ax = plt.subplots(figsize=(min(10, 0.6 * ncol + 1), min(10, 0.6 * nrow + 0.8)))
    _show(ax, images, ncol, title)
    return _save(fig, path, plt)


def plot_ae_curves(history, path):
    """The loss per epoch (train, validation) and, beside it, the validation MSE per pixel
    or, for VAEs, the ELBO's reconstruction and KL terms."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))

    def line(ax, key, label, style):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, [np.nan if v is None else v for v in values], style, label=label)

    line(axes[0], "train_loss", "train", "-o")
    line(axes[0], "val_loss", "val", "-s")
    axes[0].set_ylabel("loss")
    if any("train_kl" in h for h in history):
        for key, style in (("train_recon", "-o"), ("val_recon", "-s"), ("train_kl", "--o"),
                           ("val_kl", "--s")):
            line(axes[1], key, key.replace("_", " "), style)
        axes[1].set_ylabel("nats per image")
    else:
        line(axes[1], "val_mse", "val MSE", "-s")
        line(axes[1], "val_input_mse", "noisy input MSE", ":")
        axes[1].set_ylabel("MSE per pixel")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return _save(fig, path, plt)


def plot_anomalies(images, names, scores, path):
    """The most anomalous test images, each titled with its class and score."""
    plt = _pyplot()
    n = len(images)
    ncol = min(n, 8)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.4 * ncol, 1.9 * nrow), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(tile(images[k:k + 1], 1), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{names[k]}\n{scores[k]:.4f}", fontsize=7)
    fig.suptitle("highest reconstruction error (MSE per pixel)", fontsize=9)
    return _save(fig, path, plt)


# --- the pictures of a run -----------------------------------------------------------------

def _np(t):
    return backend.to_numpy(t.array)


def _encode(model, x, y, conditional):
    code = model.encode(x, y) if conditional else model.encode(x)
    return code[0] if isinstance(code, tuple) else code  # a VAE's mean


def _decode(model, z, y, conditional):
    return model.decode(z, y) if conditional else model.decode(z)


def write_pictures(model, trainer, data, run_dir, n_show=12):
    """Write the run's pictures (see :data:`PICTURES`); returns the file names written."""
    from ember import models
    plot_ae_curves(trainer.history, os.path.join(run_dir, "curves.png"))
    plot_lr(trainer.lrs, os.path.join(run_dir, "lr.png"))
    device = trainer.device
    conditional = isinstance(model, models.ConditionalVAE)
    x_in, clean, labels = data.test_input, data.test_clean, data.test_labels
    names = data.class_names or [str(i) for i in range(int(labels.max()) + 1)]

    def t(a):
        return ember.tensor(np.ascontiguousarray(a)).to(device)

    model.eval()
    written = ["curves.png", "lr.png"]
    with ember.no_grad():
        show = slice(0, min(n_show, len(x_in)))
        y_show = t(labels[show]) if conditional else None
        recon = _np(_decode(model, _encode(model, t(x_in[show]), y_show, conditional), y_show,
                            conditional))
        plot_rows([x_in[show], recon], ["test inputs", "reconstructions"],
                  os.path.join(run_dir, "reconstructions.png"))
        written.append("reconstructions.png")
        if getattr(model, "noise", 0):
            plot_rows([clean[show], x_in[show], recon],
                      ["clean", f"noisy input (std {model.noise})", "denoised"],
                      os.path.join(run_dir, "denoising.png"))
            written.append("denoising.png")
        codes = np.concatenate([
            _np(_encode(model, t(x_in[i:i + 256]), t(labels[i:i + 256]) if conditional
                        else None, conditional)).reshape(len(x_in[i:i + 256]), -1)
            for i in range(0, len(x_in), 256)])
        if codes.shape[1] == 2:
            points, mean, comps = codes, np.zeros(2), np.eye(2)
            title = f"{model.task} codes of the {len(codes)} test images"
        else:
            points, mean, comps, ratio = pca_2d(codes)
            title = (f"first two principal components of the {codes.shape[1]}-d codes "
                     f"({100 * ratio.sum():.0f}% of the variance), {len(codes)} test images")
        plot_codes(points, labels, names, os.path.join(run_dir, "codes.png"), title)
        written.append("codes.png")
        code_shape = tuple(model.code_shape)
        if not conditional:  # a lattice over the plane, 1st to 99th percentile
            lo, hi = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
            k = 15
            u, v = np.linspace(lo[0], hi[0], k), np.linspace(hi[1], lo[1], k)
            plane = np.array([[a, b] for b in v for a in u])
            z = (mean + plane @ comps).astype(np.float32).reshape(-1, *code_shape)
            grid = _np(model.decode(t(z)))
            plot_grid(grid, k, os.path.join(run_dir, "lattice.png"),
                      "decoded from a regular lattice of the code plane")
            written.append("lattice.png")
        pairs = _pairs(labels, 4)
        steps = np.linspace(0, 1, 10, dtype=np.float32)[:, None]
        rows = []
        for a, b in pairs:
            za, zb = (codes[i].astype(np.float32) for i in (a, b))
            z = ((1 - steps) * za + steps * zb).reshape(-1, *code_shape)
            y = t(np.full(len(z), labels[a])) if conditional else None
            rows.append(_np(_decode(model, t(z), y, conditional)))
        plot_grid(np.concatenate(rows), 10, os.path.join(run_dir, "interpolation.png"),
                  "interpolation in code space between test images (left to right)")
        written.append("interpolation.png")
        if model.task == "vae":
            if conditional:
                y = np.repeat(np.arange(model.num_classes), 8)
                samples, ncol = _np(model.sample(len(y), t(y))), 8
            else:
                samples, ncol = _np(model.sample(64)), 8
            plot_grid(samples, ncol, os.path.join(run_dir, "samples.png"),
                      "samples from the prior N(0, I)" + (" (a row per class)" if conditional
                                                          else ""))
            written.append("samples.png")
    return written


def _pairs(labels, n):
    """``n`` (i, j) index pairs of test images of different classes (the first of class
    k and the first of class k + 5, or simply the next class)."""
    first = {}
    for i, lab in enumerate(labels):
        first.setdefault(int(lab), i)
    classes = sorted(first)
    if len(classes) < 2:
        return [(0, min(1, len(labels) - 1))]
    half = max(1, len(classes) // 2)
    return [(first[classes[k % len(classes)]], first[classes[(k + half) % len(classes)]])
            for k in range(min(n, len(classes)))]
