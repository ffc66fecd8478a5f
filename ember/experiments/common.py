"""What the experiments share: the result record, CSV and figure files, the data, small nets
and one plain training loop.

The loop and the builders take the framework as an argument (``m = ember`` or ``m =
torch``), as ``ember.train.charlm.fit`` does, so a PyTorch twin runs the same code.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
from pathlib import Path

import numpy as np

__all__ = [
    "ExperimentResult",
    "accuracy",
    "image_arrays",
    "init_weights",
    "mlp",
    "pyplot",
    "save_figure",
    "settings_for",
    "train_classifier",
    "write_csv",
]


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment wrote and measured.

    ``name``: the experiment; ``out_dir``: its folder; ``figures`` and ``csvs``: the files
    written; ``summary``: the headline numbers (what the tests assert and the command
    prints); ``settings``: the settings it ran with; ``table``: text to print (or None).
    """
    name: str
    out_dir: str
    figures: list
    csvs: list
    summary: dict
    settings: dict
    table: str | None = None


def settings_for(name, presets, quick, overrides):
    """The preset (``quick`` or ``default``; ``overrides`` may name ``preset="full"``)
    updated by ``overrides``; unknown keys are an error naming the known ones."""
    overrides = dict(overrides)
    preset = overrides.pop("preset", "quick" if quick else "default")
    if preset not in presets:
        raise ValueError(f"experiment {name!r}: no preset {preset!r} (has "
                         f"{', '.join(sorted(presets))})")
    settings = dict(presets[preset])
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ValueError(f"experiment {name!r}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(settings))}")
    settings.update(overrides)
    settings["preset"] = preset
    return settings


def pyplot():
    """matplotlib's pyplot on the Agg backend (no screen needed)."""
    try:
        import matplotlib
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("the experiments draw with matplotlib: pip install 'ember[train]'") \
            from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, out_dir, name, dpi=72):
    """Save ``fig`` as ``out_dir/name`` and close it; returns the path. The PNG is written
    with a 256-colour palette (a third of the size of full colour, no visible change)."""
    path = os.path.join(out_dir, name)
    fig.canvas.draw()
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        fig.savefig(path, dpi=dpi)
    else:
        buf = io.BytesIO()
        fig.savefig(buf, dpi=dpi, format="png")
        buf.seek(0)
        with Image.open(buf) as im:
            im.convert("RGB").quantize(256).save(path, optimize=True)
    pyplot().close(fig)
    return path


def write_csv(out_dir, name, header, rows):
    """Write ``rows`` (sequences, in ``header``'s order) as ``out_dir/name``; floats with 10
    significant digits. Returns the path."""
    path = os.path.join(out_dir, name)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([f"{v:.10g}" if isinstance(v, (float, np.floating)) else v for v in row])
    return path


def prepare(out_dir):
    """Create ``out_dir`` (and parents); returns it as a string."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return str(out_dir)


def image_arrays(n_train, n_test, dataset="fashion-mnist-subset", flat=True, seed=0):
    """``(x_train, y_train, x_test, y_test)`` as float32 NumPy arrays scaled to [0, 1]
    (labels int64): ``n_train`` / ``n_test`` images drawn without replacement by a seeded
    generator (None: all), flattened to 784 values (``flat``) or shaped (N, 1, 28, 28)."""
    from ember.data.datasets import get_dataset
    rng = np.random.default_rng(seed)
    out = []
    for train, n in ((True, n_train), (False, n_test)):
        if n == 0:
            out += [np.zeros((0, 784) if flat else (0, 1, 28, 28), np.float32),
                    np.zeros(0, np.int64)]
            continue
        ds = get_dataset(dataset, train=train)
        data, targets = np.asarray(ds.data), np.asarray(ds.targets)
        if n is not None and n < len(data):
            idx = np.sort(rng.choice(len(data), n, replace=False))
            data, targets = data[idx], targets[idx]
        x = data.astype(np.float32) / 255.0
        out += [x.reshape(len(x), -1) if flat else x.reshape(len(x), 1, *x.shape[1:]),
                targets.astype(np.int64)]
    return tuple(out)


ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "elu": "ELU",
               "leaky_relu": "LeakyReLU"}


def init_weights(m, linear, init):
    """Draw ``linear``'s weight as the lessons do (bias 0): ``init`` is a standard deviation
    (a number), ``"xavier"`` (std sqrt(1 / fan_in), the lessons' Xavier), ``"he"`` (std
    sqrt(2 / fan_in)), ``"glorot"`` (``nn.init.xavier_normal_``) or ``"default"`` (leave
    PyTorch's init alone)."""
    if init == "default":
        return
    fan_in = linear.weight.shape[1]
    if init == "xavier":
        std = np.sqrt(1.0 / fan_in)
    elif init == "he":
        std = np.sqrt(2.0 / fan_in)
    elif init == "glorot":
        std = np.sqrt(2.0 / (fan_in + linear.weight.shape[0]))
    else:
        std = float(init)
    with m.no_grad():
        linear.weight.normal_(0.0, std)
        if linear.bias is not None:
            linear.bias.zero_()


def mlp(m, sizes, activation="relu", init="he", batch_norm=False, dropout=0.0, dtype=None):
    """``Linear`` layers of ``sizes`` (``[784, 100, 100, 10]``) with ``activation`` (a name
    of :data:`ACTIVATIONS`, or ``"maxout"``: ``nn.Maxout(n, n, 2)`` replaces linear + act),
    optional ``BatchNorm1d`` after each hidden linear layer and ``Dropout(dropout)`` after
    each hidden activation; weights drawn by :func:`init_weights`."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        if activation == "maxout" and not last:
            layer = m.nn.Maxout(n_in, n_out, 2, dtype=dtype)
            layers.append(layer)
        else:
            layer = m.nn.Linear(n_in, n_out, dtype=dtype)
            layers.append(layer)
        init_weights(m, layer, init)
        if last:
            break
        if batch_norm:
            layers.append(m.nn.BatchNorm1d(n_out, dtype=dtype))
        if activation != "maxout":
            layers.append(getattr(m.nn, ACTIVATIONS[activation])())
        if dropout:
            layers.append(m.nn.Dropout(dropout))
    return m.nn.Sequential(*layers)


def accuracy(m, model, x, y, batch_size=1000):
    """Top-1 accuracy of ``model`` (in eval mode, restored after) on NumPy arrays."""
    was = model.training
    model.eval()
    correct = 0
    with m.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(m.from_numpy(x[i:i + batch_size]))
            correct += int((out.argmax(1).numpy() == y[i:i + batch_size]).sum())
    model.train(was)
    return correct / max(len(x), 1)


def mean_loss(m, model, x, y, batch_size=1000):
    """Mean cross-entropy of ``model`` (eval mode, restored after) on NumPy arrays."""
    was = model.training
    model.eval()
    total = 0.0
    with m.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(m.from_numpy(x[i:i + batch_size]))
            total += float(m.nn.functional.cross_entropy(
                out, m.from_numpy(y[i:i + batch_size]), reduction="sum"))
    model.train(was)
    return total / max(len(x), 1)


def train_classifier(m, model, optimizer, x, y, epochs, batch_size, seed=0, scheduler=None,
                     x_test=None, y_test=None, evaluate=True, on_epoch=None):
    """Minibatch training with cross-entropy, the loop of the lessons.

    Each epoch shuffles with ``np.random.default_rng(seed + epoch)`` and takes every batch
    (the last one may be smaller). ``scheduler`` steps once per epoch. Returns a dict of
    lists: ``step_loss`` (every step), and per epoch ``train_loss`` and ``running_acc``
    (over its steps, weighted by batch size, in training mode: what d2l.ai reports),
    ``lr``, and with ``evaluate`` ``train_acc`` / ``test_acc`` (after the epoch, in eval
    mode). ``on_epoch(epoch, history)`` is called after each epoch.
    """
    hist = {"step_loss": [], "train_loss": [], "running_acc": [], "lr": [], "train_acc": [],
            "test_acc": []}
    model.train()
    for epoch in range(epochs):
        order = np.random.default_rng(seed + epoch).permutation(len(x))
        losses, total, correct = [], 0.0, 0
        hist["lr"].append(optimizer.param_groups[0]["lr"])
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            out = model(m.from_numpy(x[idx]))
            loss = m.nn.functional.cross_entropy(out, m.from_numpy(y[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            total += losses[-1] * len(idx)
            correct += int((out.detach().argmax(1).numpy() == y[idx]).sum())
        hist["step_loss"] += losses
        hist["train_loss"].append(total / len(x))
        hist["running_acc"].append(correct / len(x))
        if scheduler is not None:
            scheduler.step()
        if evaluate:
            hist["train_acc"].append(accuracy(m, model, x, y))
            if x_test is not None:
                hist["test_acc"].append(accuracy(m, model, x_test, y_test))
        if on_epoch is not None:
            on_epoch(epoch, hist)
    return hist


def smooth(values, width):
    """A running mean over ``width`` values (the first ones over what there is)."""
    v = np.asarray(values, dtype=np.float64)
    c = np.cumsum(np.insert(v, 0, 0.0))
    lo = np.maximum(np.arange(1, len(v) + 1) - width, 0)
    return (c[1:] - c[lo]) / (np.arange(1, len(v) + 1) - lo)
