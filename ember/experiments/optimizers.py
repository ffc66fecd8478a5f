"""``optimizers``: eight optimizers on ill-conditioned 2-D bowls, and on a real data set.

The lessons' picture (Deep Learning from Scratch, ch. 6): f(x, y) = x²/20 + y² from
(-7, 2), where plain SGD zig-zags across the steep y direction while creeping along x, and
Momentum, AdaGrad and Adam do not; and d2l.ai's optimisation chapter, f = 0.1 x1² + 2 x2²
from (-5, -2) (momentum, AdaGrad, RMSProp, AdaDelta). Every trajectory is
:func:`trajectory`, written with the framework as an argument, so the tests run PyTorch's
optimizers on the very same code and compare the end points.

Writes ``trajectories_<function>.png`` (contours and the paths of the first ``steps``),
``training.png`` (the training loss of an MLP on Fashion-MNIST per optimizer),
``trajectories.csv`` (every point), ``steps_to_reach.csv`` and ``training.csv``.
"""
from __future__ import annotations

import numpy as np

import ember
from ember.experiments import common

__all__ = ["FUNCTIONS", "OPTIMIZERS", "PRESETS", "run", "steps_to_reach", "trajectory"]


def _lessons(m, p):
    return p[0] ** 2 / 20 + p[1] ** 2


def _d2l(m, p):
    return 0.1 * p[0] ** 2 + 2 * p[1] ** 2


# name -> (f(m, p), start, steps drawn, {optimizer label: (class, keyword arguments)}).
# The lessons' learning rates (DLfS ch. 6: SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3);
# d2l.ai's (GD 0.4, momentum 0.6 with beta 0.5, AdaGrad 0.4, RMSProp 0.4 with gamma 0.9,
# AdaDelta rho 0.9). Neither lesson runs Nesterov, RMSProp (the lessons'), AdaDelta (the
# lessons') or Adam / Nadam (d2l's) on its function: those rates are ours, chosen to show
# each method's character (AdaDelta's first steps are about lr * sqrt(eps), so it creeps).
FUNCTIONS = {
    "lessons": (_lessons, (-7.0, 2.0), 30, {
        "SGD": ("SGD", {"lr": 0.95}),
        "Momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
        "Nesterov": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        "AdaGrad": ("Adagrad", {"lr": 1.5}),
        "RMSProp": ("RMSprop", {"lr": 0.1, "alpha": 0.9}),
        "AdaDelta": ("Adadelta", {"lr": 10.0, "rho": 0.9}),
        "Adam": ("Adam", {"lr": 0.3}),
        "Nadam": ("NAdam", {"lr": 0.3}),
    }),
    "d2l": (_d2l, (-5.0, -2.0), 20, {
        "SGD": ("SGD", {"lr": 0.4}),
        "Momentum": ("SGD", {"lr": 0.6, "momentum": 0.5, "dampening": 0.5}),
        "Nesterov": ("SGD", {"lr": 0.3, "momentum": 0.5, "nesterov": True}),
        "AdaGrad": ("Adagrad", {"lr": 0.4}),
        "RMSProp": ("RMSprop", {"lr": 0.4, "alpha": 0.9}),
        "AdaDelta": ("Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-5}),
        "Adam": ("Adam", {"lr": 0.2}),
        "Nadam": ("NAdam", {"lr": 0.4}),
    }),
}
OPTIMIZERS = list(FUNCTIONS["lessons"][3])

# the training curves: an MLP 784-100x4-10 (ReLU, He init) on the Fashion-MNIST subset,
# the lessons' learning rates (SGD, Momentum, AdaGrad 0.01; Adam 0.001) and PyTorch's defaults
TRAINING = {
    "SGD": ("SGD", {"lr": 0.01}),
    "Momentum": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "Nesterov": ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "AdaGrad": ("Adagrad", {"lr": 0.01}),
    "RMSProp": ("RMSprop", {"lr": 0.001}),
    "AdaDelta": ("Adadelta", {"lr": 1.0}),
    "Adam": ("Adam", {"lr": 0.001}),
    "Nadam": ("NAdam", {"lr": 0.001}),
}

PRESETS = {
    "quick": {"reach_steps": 200, "radius": 0.1, "n_train": 1000, "epochs": 2, "batch_size": 100,
              "seed": 0},
    "default": {"reach_steps": 300, "radius": 0.1, "n_train": 10000, "epochs": 5, "batch_size": 128,
                "seed": 0},
}


def trajectory(m, f, start, optimizer, steps, **kwargs):
    """The points ``(steps + 1, 2)`` that ``m.optim.<optimizer>(**kwargs)`` visits
    minimising ``f(m, p)`` from ``start`` (float64; ``m`` is ember or torch)."""
    p = m.tensor(start, dtype=m.float64, requires_grad=True)
    opt = getattr(m.optim, optimizer)([p], **kwargs)
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        f(m, p).backward()
        opt.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


def zigzag(points):
    """``(sign changes of y, path length)`` along ``points``: how often the path crosses
    the valley floor, and how far it travels."""
    flips = int((np.sign(points[1:, 1]) != np.sign(points[:-1, 1])).sum())
    return flips, float(np.hypot(*np.diff(points, axis=0).T).sum())


def steps_to_reach(points, radius):
    """The first step at which ``|(x, y)| < radius`` (None if never)."""
    inside = np.nonzero(np.hypot(points[:, 0], points[:, 1]) < radius)[0]
    return int(inside[0]) if inside.size else None


def _draw_trajectories(plt, out_dir, fname, f, paths):
    fig, axes = plt.subplots(2, 4, figsize=(12, 5.6), sharex=True, sharey=True)
    xs = np.linspace(-10, 10, 200)
    ys = np.linspace(-5, 5, 100)
    gx, gy = np.meshgrid(xs, ys)
    z = f(np, (gx, gy))
    for ax, (label, pts) in zip(axes.flat, paths.items()):
        ax.contour(gx, gy, z, levels=np.geomspace(z[z > 0].min() * 50, z.max(), 10),
                   colors="0.75", linewidths=0.6)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color="tab:red", ms=2.5, lw=1)
        ax.plot(0, 0, "+", color="k")
        ax.set_title(label, fontsize=10)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
    fig.suptitle(f"{fname}: {len(pts) - 1} steps from ({pts[0][0]:g}, {pts[0][1]:g})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def run(out_dir, reach_steps, radius, n_train, epochs, batch_size, seed, preset=None):
    """Draw the trajectories on both functions, count the steps each optimizer needs to get
    within ``radius`` of the minimum (in ``reach_steps`` at most), and train the MLP with
    each optimizer for ``epochs`` on ``n_train`` images. Summary: ``steps_to_reach``
    ({function: {optimizer: steps or None}}), ``end_points`` ({function: {optimizer:
    (x, y)}} after the drawn steps), ``zigzag`` ({function: {optimizer: (sign changes of
    y, path length)}} over the drawn steps) and ``final_loss`` ({optimizer: mean training
    loss of the last epoch})."""
    plt = common.pyplot()
    figures, traj_rows, reach_rows = [], [], []
    reach, ends, zigzags = {}, {}, {}
    for fname, (f, start, steps, opts) in FUNCTIONS.items():
        paths, reach[fname], ends[fname], zigzags[fname] = {}, {}, {}, {}
        for label, (cls, kw) in opts.items():
            pts = trajectory(ember, f, start, cls, max(steps, reach_steps), **kw)
            paths[label] = pts[:steps + 1]
            ends[fname][label] = tuple(float(v) for v in pts[steps])
            reach[fname][label] = steps_to_reach(pts, radius)
            zigzags[fname][label] = zigzag(pts[:steps + 1])
            reach_rows.append([fname, label, reach[fname][label], *zigzags[fname][label]])
            traj_rows += [[fname, label, i, float(x), float(y), float(f(np, (x, y)))]
                          for i, (x, y) in enumerate(pts[:steps + 1])]
        fig = _draw_trajectories(plt, out_dir, fname, f, paths)
        figures.append(common.save_figure(fig, out_dir, f"trajectories_{fname}.png"))
    csvs = [common.write_csv(out_dir, "trajectories.csv",
                             ["function", "optimizer", "step", "x", "y", "f"], traj_rows),
            common.write_csv(out_dir, "steps_to_reach.csv",
                             ["function", "optimizer", f"steps_to_radius_{radius}",
                              "y_sign_changes", "path_length"],
                             reach_rows)]

    x, y, _, _ = common.image_arrays(n_train, 0, seed=seed)
    curves, final = {}, {}
    for label, (cls, kw) in TRAINING.items():
        ember.manual_seed(seed)
        model = common.mlp(ember, [784, 100, 100, 100, 100, 10], "relu", "he")
        opt = getattr(ember.optim, cls)(model.parameters(), **kw)
        hist = common.train_classifier(ember, model, opt, x, y, epochs, batch_size, seed=seed,
                                       evaluate=False)
        curves[label] = hist["step_loss"]
        final[label] = hist["train_loss"][-1]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = max(1, len(next(iter(curves.values()))) // 20)
    for label, losses in curves.items():
        ax.plot(common.smooth(losses, width), label=label, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (running mean of {width})")
    ax.set_title(f"MLP 784-100x4-10 on {n_train} Fashion-MNIST images, batch {batch_size}",
                 fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figures.append(common.save_figure(fig, out_dir, "training.png"))
    csvs.append(common.write_csv(out_dir, "training.csv", ["optimizer", "step", "loss"],
                                 [[k, i, v] for k, vs in curves.items()
                                  for i, v in enumerate(vs)]))
    summary = {"steps_to_reach": reach, "end_points": ends, "zigzag": zigzags,
               "final_loss": final}
    lines = [(f"steps to |(x, y)| < {radius}, y sign changes and path length in the drawn "
             f"steps, final training loss"), f"{'optimizer':<10} " + " ".join(
                 f"{fn:>22}" for fn in FUNCTIONS) + f" {'final loss':>11}"]
    for label in OPTIMIZERS:
        cells = [f"{reach[fn][label]!s:>5} {zigzags[fn][label][0]:>5} "
                 f"{zigzags[fn][label][1]:>10.2f}" for fn in FUNCTIONS]
        lines.append(f"{label:<10} " + " ".join(cells) + f" {final[label]:>11.4f}")
    return figures, csvs, summary, "\n".join(lines)
