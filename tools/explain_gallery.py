"""The pictures of docs/explain.md from a run of ``ember train`` (LeNet-5 on the embedded
Fashion-MNIST subset): every attribution method on a few misclassified test images, the
first-layer filters, feature maps of one image, and the input that activation maximisation
finds for each class.

    ember train --epochs 2 --name lenet-2ep --out-dir runs
    ember explain runs/lenet-2ep --max-images 6                  # overview_gradcam.png
    python tools/explain_gallery.py runs/lenet-2ep docs/explain  # methods.png, filters.png, ...
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from ember.data import datasets
from ember.explain import maximize_activation, visualize
from ember.explain.command import METHODS, attribution_maps
from ember.train import pipeline


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--images", type=int, default=4, help="misclassified images")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    ember.manual_seed(0)  # smoothgrad's noise
    model, cfg, info = pipeline.load_run(os.path.join(args.run_dir, "last.ckpt"))
    model = model.to(ember.float64)
    mean, std, scale = info["mean"], info["std"], info.get("scale", 255.0)
    names = info["class_names"]
    images, labels = pipeline.limit(*pipeline.images_of(
        datasets.get_dataset(cfg["data"], train=False)), cfg.get("limit", 0) // 5)
    x_all = ember.tensor(pipeline.normalise(images, mean, std, scale), dtype=ember.float64)
    with ember.no_grad():
        pred = model(x_all).argmax(1).numpy()
    wrong = np.nonzero(pred != labels)[0][:args.images]
    x, targets = x_all[wrong.tolist()], pred[wrong].tolist()
    baseline = float(-mean / std)
    plt = _plt()

    methods = [m for m in METHODS if m != "cam"]  # LeNet-5 has no global average pooling
    fig, axes = plt.subplots(len(wrong), len(methods) + 1,
                             figsize=(0.95 * (len(methods) + 1), 1.3 * len(wrong)))
    maps = {m: attribution_maps(model, x, targets, m, baseline=baseline) for m in methods}
    for r, i in enumerate(wrong):
        img = images[i, 0] / scale
        axes[r, 0].imshow(img, cmap="gray")
        axes[r, 0].set_title(f"{names[labels[i]]}\n→ {names[pred[i]]}", fontsize=5)
        for c, m in enumerate(methods, 1):
            axes[r, c].imshow(visualize.overlay(img, maps[m][r], 0.6))
            if r == 0:
                axes[r, c].set_title(m, fontsize=5)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    fig.savefig(os.path.join(args.out_dir, "methods.png"), dpi=100)
    plt.close(fig)

    conv1 = model.get_submodule("features.c1")
    visualize.save_image(visualize.filter_grid(conv1, ncols=6), os.path.join(
        args.out_dir, "filters.png"), scale=12, cmap="gray")

    one = x[:1]
    feats = visualize.feature_maps(model, one, ["features.c1", "features.act3"])
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6), gridspec_kw={"width_ratios": [1, 3, 4]})
    axes[0].imshow(images[wrong[0], 0], cmap="gray")
    axes[0].set_title("input", fontsize=7)
    for ax, (name, fm) in zip(axes[1:], feats.items()):
        ax.imshow(visualize.feature_map_grid(fm, ncols=3 if fm.shape[1] == 6 else 4),
                  cmap="gray")
        ax.set_title(f"{name} ({fm.shape[1]} maps)", fontsize=7)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out_dir, "feature_maps.png"), dpi=90)
    plt.close(fig)

    tiles = []
    for c in range(len(names)):
        r = maximize_activation(model, (1, 28, 28), target=c, steps=150, lr=0.05, l2=1e-3,
                                jitter=1)
        tiles.append(r.input.numpy()[0, 0] * std + mean)  # back to pixel space
        print(f"class {c} {names[c]}: logit {r.activation:.2f}")
    fig, axes = plt.subplots(1, len(names), figsize=(1.0 * len(names), 1.3))
    for ax, t, name in zip(axes, tiles, names):
        ax.imshow(t, cmap="gray")
        ax.set_title(name, fontsize=6)
        ax.axis("off")
    fig.tight_layout(pad=0.2)
    fig.savefig(os.path.join(args.out_dir, "maximized.png"), dpi=100)
    plt.close(fig)
    for name in sorted(os.listdir(args.out_dir)):
        print(f"{name}: {os.path.getsize(os.path.join(args.out_dir, name)) // 1024} KB")


if __name__ == "__main__":
    main()
