"""Pictures of the scene tasks (``ember.train.scenes``): a scene with its predictions drawn
(boxes with label and score, instance masks, the semantic map, the caption or the labels
found), one per ``ember predict`` image and a grid of test scenes for each run, beside the
training curves."""
from __future__ import annotations

import numpy as np

from ember.data.datasets.scenes import SCENE_CLASSES
from ember.train import plots

# one colour per label (0, the background, is never drawn)
PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                    [245, 130, 48], [145, 30, 180], [70, 240, 240], [240, 50, 230],
                    [210, 245, 60], [250, 190, 190]], dtype=np.float64) / 255


def _overlay(image, labels, alpha=0.45):
    """The gray ``image`` (H, W) in [0, 1] as RGB, tinted by the label map (H, W) where > 0."""
    rgb = np.repeat(image[..., None], 3, axis=-1)
    tint = PALETTE[labels % len(PALETTE)]
    inside = (labels > 0)[..., None]
    return np.clip(np.where(inside, (1 - alpha) * rgb + alpha * tint, rgb), 0.0, 1.0)


def draw(ax, image, task, pred, class_names=SCENE_CLASSES, title=""):
    """Draw ``image`` (H, W) in [0, 1] with ``pred`` (one dict of ``scenes.predict``) on
    the matplotlib axes ``ax``."""
    labels = np.zeros(image.shape, dtype=np.int64)
    if "semantic" in pred:
        labels = np.asarray(pred["semantic"], dtype=np.int64)
    elif "masks" in pred:
        for mask, label in zip(pred["masks"][::-1], pred["labels"][::-1]):  # best on top
            labels[np.asarray(mask, bool)] = int(label)
    ax.imshow(_overlay(image, labels), interpolation="nearest")
    ax.axis("off")
    if "semantic" in pred:  # a colour per class: say which
        _legend(ax, np.unique(labels[labels > 0]), class_names)
    if task == "captioning":
        title = "\n".join(filter(None, [title, pred["caption"] or "(empty caption)"]))
    elif task == "multilabel":
        found = ", ".join(f"{class_names[int(k)]} {s:.2f}"
                          for k, s in zip(pred["labels"], pred["scores"]))
        title = "\n".join(filter(None, [title, found or "(nothing)"]))
    for i, box in enumerate(pred.get("boxes", [])[:20] if "semantic" not in pred else []):
        x1, y1, x2, y2 = (float(v) for v in box)
        colour = PALETTE[int(pred["labels"][i]) % len(PALETTE)]
        ax.add_patch(_rectangle(ax, (x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, colour))
        ax.text(x1 - 0.5, y1 - 1, f"{class_names[int(pred['labels'][i])]} "
                f"{float(pred['scores'][i]):.2f}", color="white", fontsize=6,
                bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "linewidth": 0})
    if title:
        ax.set_title(title, fontsize=7)


def _legend(ax, classes, class_names):
    from matplotlib.patches import Patch
    if len(classes):
        ax.legend(handles=[Patch(color=PALETTE[c % len(PALETTE)], label=class_names[c])
                           for c in classes], loc="lower left", fontsize=6, framealpha=0.7)


def _rectangle(ax, xy, w, h, colour):
    from matplotlib.patches import Rectangle
    return Rectangle(xy, w, h, fill=False, edgecolor=colour, linewidth=1.2)


def draw_file(image, task, pred, path, class_names=SCENE_CLASSES):
    """One image with its predictions, written to ``path`` (PNG)."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(4, 4.3))
    draw(ax, image, task, pred, class_names)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_grid(images, task, preds, path, truths=(), class_names=SCENE_CLASSES):
    """A grid of scenes with their predictions (titled with the true caption or labels)."""
    plt = plots._pyplot()
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, pred, truth in zip(axes.ravel(), images, preds,
                                      list(truths) or [""] * len(images)):
        draw(ax, image, task, pred, class_names, title=truth)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
