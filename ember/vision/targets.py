"""The checks of detection targets (torchvision's detection interface): the detection models
call ``check_targets(images, targets)`` in training mode; every error names the image index
and the field."""
from __future__ import annotations

import numpy as np

from ember.backend import to_numpy
from ember.tensor import Tensor

__all__ = ["check_targets"]


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else type(x).__name__


def check_targets(images, targets, require_masks=False, num_classes=None, who="targets"):
    """Check ``targets`` (one dict per image) against ``images`` (a list of (C, H, W) Tensors
    or one (N, C, H, W) Tensor).

    Each target needs ``boxes`` (n, 4) float, x1y1x2y2 with x1 < x2 and y1 < y2, and ``labels``
    (n,) integers (in [0, num_classes) when given); ``masks``, required when
    ``require_masks``, must be (n, H, W) with the image's H and W. Raises ValueError /
    TypeError naming ``targets[i]`` and the field.
    """
    if isinstance(images, Tensor):
        sizes = [tuple(images.shape[-2:])] * (images.shape[0] if images.dim() == 4 else 1)
    else:
        sizes = [tuple(im.shape[-2:]) for im in images]
    if not isinstance(targets, (list, tuple)):
        raise TypeError(f"{who}: expected a list of dicts (one per image), got "
                        f"{type(targets).__name__}")
    if len(targets) != len(sizes):
        raise ValueError(f"{who}: {len(targets)} targets for {len(sizes)} images")
    for i, (t, (h, w)) in enumerate(zip(targets, sizes)):
        where = f"{who}[{i}]"
        if not isinstance(t, dict):
            raise TypeError(f"{where}: expected a dict with 'boxes' and 'labels', got "
                            f"{type(t).__name__}")
        for field in ("boxes", "labels") + (("masks",) if require_masks else ()):
            if field not in t:
                raise ValueError(f"{where}: missing field {field!r} (image {i})")
            if not isinstance(t[field], Tensor):
                raise TypeError(f"{where}['{field}']: expected a Tensor, got "
                                f"{type(t[field]).__name__}")
        boxes = t["boxes"]
        if boxes.dim() != 2 or boxes.shape[1] != 4 or boxes.dtype.kind != "f":
            raise ValueError(f"{where}['boxes']: expected a float Tensor of shape (n, 4), got "
                             f"{boxes.dtype} {_shape(boxes)}")
        b = to_numpy(boxes.detach().array)
        bad = np.flatnonzero(~((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])))
        if len(bad):
            j = int(bad[0])
            raise ValueError(f"{where}['boxes']: box {j} {b[j].tolist()} has x2 <= x1 or "
                             f"y2 <= y1 (image {i}); boxes are (x1, y1, x2, y2) with positive "
                             "width and height")
        labels = t["labels"]
        if labels.dim() != 1 or labels.shape[0] != boxes.shape[0] or labels.dtype.kind not in "iu":
            raise ValueError(f"{where}['labels']: expected an integer Tensor of shape "
                             f"({boxes.shape[0]},) (one per box), got {labels.dtype} "
                             f"{_shape(labels)}")
        if num_classes is not None and labels.shape[0]:
            lab = to_numpy(labels.array)
            if lab.min() < 0 or lab.max() >= num_classes:
                raise ValueError(f"{where}['labels']: labels must be in [0, {num_classes}), "
                                 f"got {int(lab.min())}..{int(lab.max())}")
        if "masks" in t:
            masks = t["masks"]
            want = (boxes.shape[0], h, w)
            if tuple(masks.shape) != want:
                raise ValueError(f"{where}['masks']: expected shape {want} (one mask per box, "
                                 f"the image's size), got {_shape(masks)}")
