"""Fashion-MNIST scenes: items pasted onto a larger canvas, with boxes, labels, a semantic mask,
instance masks and a caption per image, for localisation, detection, semantic and instance
segmentation, multi-label classification and captioning.

The recipe (the defaults reproduce the reference of issue 21 bit for bit), per image, with one
``numpy.random.default_rng(seed)`` stream for the whole split:

1. ``k = rng.integers(lo, hi + 1)`` items (``num_objects=(1, 3)``; 1-object mode draws none);
2. for each item: ``i = rng.integers(0, N)`` (an item of the source split), then its top-left
   corner ``(row, col) = rng.integers(0, size - 28 + 1, 2)``, re-drawn (at most ``max_tries``
   = 20 times) while its *overlap* is ``>= max_overlap`` (0.25). The overlap of an item is the
   fraction of its 28x28 square covered by the union of the squares of the items placed before
   it in the image (0 for the first); after 20 re-draws the last position stays;
3. the item (uint8 / 255) is pasted where it is ``> threshold`` (0.05), later items on top;
4. semantic label = class + 1 on the pasted pixels, 0 elsewhere; an instance is the visible
   part of an item, dropped if under ``min_area`` (20) pixels; its box is the tight box of that
   mask in torchvision's convention: ``(x1, y1, x2, y2)`` with ``x2 = last column + 1``,
   ``y2 = last row + 1`` (pixel edges, so ``(x2 - x1) * (y2 - y1)`` is the box's pixel area).

Labels are ``class + 1`` (1..10; 0 is the background, as in torchvision's detection models and
in the semantic mask); ``classes[label]`` names them. The train split draws train items only,
the test split test items only.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from ember.data.dataset import Dataset

__all__ = ["SCENE_CLASSES", "FashionScenes", "caption_for", "scene_overlap"]

SCENE_CLASSES = ("background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                 "Shirt", "Sneaker", "Bag", "Ankle boot")
# the words captions use, by label
CAPTION_WORDS = (None, "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                 "sneaker", "bag", "ankle boot")
ITEM = 28


def scene_overlap(square, earlier):
    """The fraction of ``square`` (top, left) 's 28x28 area covered by the union of the 28x28
    squares at ``earlier`` (a list of (top, left)): 0.0 when ``earlier`` is empty."""
    if not earlier:
        return 0.0
    top, left = int(square[0]), int(square[1])
    cover = np.zeros((ITEM, ITEM), dtype=bool)
    for t, l in earlier:
        r0, r1 = max(t - top, 0), min(t + ITEM - top, ITEM)
        c0, c1 = max(l - left, 0), min(l + ITEM - left, ITEM)
        if r0 < r1 and c0 < c1:
            cover[r0:r1, c0:c1] = True
    return float(cover.mean())


def _article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def caption_for(boxes, labels):
    """The caption of a scene: its objects from left to right (by box centre), each joined to
    the next by "left of" (when the horizontal distance of their centres is at least the
    vertical one), else "above" / "below": ``"a sneaker left of a bag"``; "" for no object."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) == 0:
        return ""
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    order = np.lexsort((cy, cx))
    words = [_article(CAPTION_WORDS[int(labels[order[0]])])]
    for a, b in itertools.pairwise(order):
        dx, dy = cx[b] - cx[a], cy[b] - cy[a]
        rel = "left of" if abs(dx) >= abs(dy) else ("above" if dy > 0 else "below")
        words.append(f"{rel} {_article(CAPTION_WORDS[int(labels[b])])}")
    return " ".join(words)


def _source_arrays(source, train, root, download):
    """(images uint8 (N, 28, 28), classes int64 (N,)) of the source split."""
    if isinstance(source, str):
        from ember.data.datasets.fashion_subset import FashionMNISTSubset
        from ember.data.datasets.mnist import FashionMNIST
        if source == "fashion-mnist":
            ds = FashionMNIST(root=root, train=train, download=download)
        elif source == "fashion-mnist-subset":
            ds = FashionMNISTSubset(train=train)
        else:
            raise ValueError(f"FashionScenes: unknown source {source!r}; expected "
                             "'fashion-mnist', 'fashion-mnist-subset' or (images, labels)")
        return np.asarray(ds.data), np.asarray(ds.targets, dtype=np.int64)
    if hasattr(source, "data") and hasattr(source, "targets"):
        source = (source.data, source.targets)
    images, labels = (np.asarray(a) for a in source)
    if images.ndim != 3 or images.shape[1:] != (ITEM, ITEM) or len(labels) != len(images):
        raise ValueError(f"FashionScenes: source images must be (N, 28, 28) with N labels, got "
                         f"images {images.shape} and labels {labels.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"FashionScenes: source images must be uint8, got {images.dtype}")
    return images, labels.astype(np.int64)


class FashionScenes(Dataset):
    """Scenes of Fashion-MNIST items on a ``size`` x ``size`` canvas (module docstring: the
    recipe).

    Args:
        root, download: where the full Fashion-MNIST is (``FashionMNIST``'s arguments).
        train: the train split (train items; default seed 0, 10,000 scenes), else the test
            split (test items; default seed 1, 1,000 scenes).
        num_images, seed: how many scenes and the seed (None: the split's default).
        size: the canvas side (64; at least 28).
        num_objects: ``(lo, hi)``, the count is uniform on lo..hi (default (1, 3)).
        max_overlap, max_tries: re-draw a position while its overlap is >= max_overlap, at
            most max_tries times (1.0 places freely).
        threshold: paste pixels where the item (in [0, 1]) is above it.
        min_area: drop instances whose visible part has fewer pixels.
        single: 1-object mode for classification + localisation (no count is drawn).
        source: "fashion-mnist" (the full set), "fashion-mnist-subset" (the embedded one), a
            data set with ``.data`` / ``.targets`` or an ``(images, labels)`` pair.
        transform: applied to the image Tensor.

    Items are ``(image, target)``: image a float32 Tensor (1, size, size) in [0, 1]; target a
    dict with ``boxes`` float32 (n, 4) x1y1x2y2, ``labels`` int64 (n,) (class + 1), ``masks``
    uint8 (n, size, size), ``semantic`` int64 (size, size), ``image_id`` and ``caption``.
    ``.images`` (M, size, size) uint8 and ``.semantic`` / ``.owner`` hold all scenes.
    """

    classes = SCENE_CLASSES

    def __init__(self, root=None, train=True, num_images=None, seed=None, size=64,
                 num_objects=(1, 3), max_overlap=0.25, max_tries=20, threshold=0.05,
                 min_area=20, single=False, source="fashion-mnist", transform=None,
                 download=False):
        lo, hi = (1, 1) if single else tuple(int(v) for v in num_objects)
        if size < ITEM:
            raise ValueError(f"FashionScenes: size must be at least {ITEM}, got {size}")
        if not 1 <= lo <= hi <= 127:
            raise ValueError(f"FashionScenes: num_objects must be (lo, hi) with 1 <= lo <= hi "
                             f"<= 127, got {num_objects}")
        if max_tries < 0 or not 0 <= threshold < 1 or min_area < 1:
            raise ValueError(f"FashionScenes: max_tries >= 0, 0 <= threshold < 1 and "
                             f"min_area >= 1 expected, got {max_tries}, {threshold}, {min_area}")
        self.train, self.size, self.single, self.transform = train, int(size), single, transform
        self.num_images = int(num_images if num_images is not None else
                              (10_000 if train else 1_000))
        self.seed = int(seed if seed is not None else (0 if train else 1))
        items, classes = _source_arrays(source, train, root, download)
        self._generate(items, classes, lo, hi, float(max_overlap), int(max_tries),
                       float(threshold), int(min_area))

    def _generate(self, items, classes, lo, hi, max_overlap, max_tries, threshold, min_area):
        rng, n, s = np.random.default_rng(self.seed), len(items), self.size
        self.images = np.zeros((self.num_images, s, s), dtype=np.uint8)
        self.owner = np.full((self.num_images, s, s), -1, dtype=np.int8)  # which item is on top
        self.semantic = np.zeros((self.num_images, s, s), dtype=np.uint8)
        self.item_indices, self.boxes, self.labels = [], [], []
        for m in range(self.num_images):
            k = 1 if self.single else int(rng.integers(lo, hi + 1))
            placed, picks = [], []
            for j in range(k):
                i = int(rng.integers(0, n))
                pos = rng.integers(0, s - ITEM + 1, 2)
                tries = 0
                while tries < max_tries and scene_overlap(pos, placed) >= max_overlap:
                    pos = rng.integers(0, s - ITEM + 1, 2)
                    tries += 1
                top, left = int(pos[0]), int(pos[1])
                placed.append((top, left))
                picks.append(i)
                item = items[i]
                paste = item.astype(np.float32) / 255 > threshold
                window = (slice(top, top + ITEM), slice(left, left + ITEM))
                self.images[m][window][paste] = item[paste]
                self.owner[m][window][paste] = j
                self.semantic[m][window][paste] = classes[i] + 1
            boxes, labels, keep = [], [], []
            for j, i in enumerate(picks):
                rows, cols = np.nonzero(self.owner[m] == j)
                if len(rows) < min_area:
                    continue
                boxes.append((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
                labels.append(classes[i] + 1)
                keep.append(j)
            self.item_indices.append(np.array([picks[j] for j in keep], dtype=np.int64))
            self.boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
            self.labels.append(np.array(labels, dtype=np.int64))
            # owner numbers the kept instances 0..n-1; dropped ones become -1 (background
            # in ``owner``, still their class in ``semantic``)
            remap = np.full(k + 1, -1, dtype=np.int8)
            remap[keep] = np.arange(len(keep))
            self.owner[m] = remap[self.owner[m]]

    def __len__(self):
        return self.num_images

    def masks(self, index):
        """The instance masks of scene ``index``: uint8 (n, size, size)."""
        n = len(self.labels[index])
        return (self.owner[index][None] == np.arange(n)[:, None, None]).astype(np.uint8)

    def caption(self, index):
        """The caption of scene ``index`` (:func:`caption_for`)."""
        return caption_for(self.boxes[index], self.labels[index])

    def __getitem__(self, index):
        from ember.ops.creation import tensor
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"FashionScenes: index {index} out of range for {len(self)} "
                             "scenes")
        index %= len(self)
        image = tensor(self.images[index][None].astype(np.float32) / 255)
        if self.transform is not None:
            image = self.transform(image)
        target = {"boxes": tensor(self.boxes[index]), "labels": tensor(self.labels[index]),
                  "masks": tensor(self.masks(index)),
                  "semantic": tensor(self.semantic[index].astype(np.int64)),
                  "image_id": index, "caption": self.caption(index)}
        return image, target

    def segmentation_batch(self, indices):
        """Images (B, 1, size, size) float32 and semantic masks (B, size, size) int64 as
        Tensors: the batch for semantic segmentation. (Not named ``get_batch``: a DataLoader
        batches the items, ``(image, target dict)``, with a ``collate_fn`` as for torchvision
        detection data.)"""
        from ember.ops.creation import tensor
        idx = np.asarray(indices, dtype=np.int64)
        images = tensor(self.images[idx][:, None].astype(np.float32) / 255)
        if self.transform is not None:
            images = self.transform(images)
        return images, tensor(self.semantic[idx].astype(np.int64))

    def to_coco(self, path=None):
        """The scenes' annotations as COCO-format JSON (written to ``path`` when given; the
        dict is returned): images, categories 1..10 (``classes``), and per instance its
        ``bbox`` [x, y, w, h], ``area`` (mask pixels), ``iscrowd`` 0 and ``segmentation``
        as uncompressed RLE (column-major counts, as pycocotools reads them)."""
        images, annotations = [], []
        for m in range(len(self)):
            images.append({"id": m, "width": self.size, "height": self.size,
                           "file_name": f"{m:06d}.png", "caption": self.caption(m)})
            for mask, box, label in zip(self.masks(m), self.boxes[m], self.labels[m]):
                x1, y1, x2, y2 = (float(v) for v in box)
                annotations.append({"id": len(annotations) + 1, "image_id": m,
                                    "category_id": int(label),
                                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                                    "area": float(mask.sum()), "iscrowd": 0,
                                    "segmentation": mask_to_rle(mask)})
        coco = {"images": images, "annotations": annotations,
                "categories": [{"id": c, "name": name}
                               for c, name in enumerate(SCENE_CLASSES) if c > 0]}
        if path is not None:
            Path(path).write_text(json.dumps(coco))
        return coco

    def __repr__(self):
        split = "train" if self.train else "test"
        return (f"FashionScenes(split={split}, num_images={len(self)}, size={self.size}, "
                f"seed={self.seed}{', single=True' if self.single else ''})")


def mask_to_rle(mask):
    """A binary (h, w) mask as COCO's uncompressed RLE: ``{"counts": [...], "size": [h, w]}``,
    run lengths over the column-major pixels, starting with a run of zeros."""
    flat = np.asarray(mask, dtype=bool).reshape(-1, order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"counts": counts, "size": list(np.asarray(mask).shape)}
