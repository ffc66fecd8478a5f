"""The Fashion-MNIST subset shipped inside ember: real data that needs no download.

10,000 training images (1,000 per class) and 2,000 test images (200 per class), drawn without
replacement by ``tools/make_embedded_subset.py`` (seed 0) from the official training and test
sets and kept in their original order. Fashion-MNIST is (c) 2017 Zalando SE, MIT licence: see
``files/FASHION_MNIST_LICENSE.txt``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.datasets._download import DatasetIntegrityError, file_digest
from ember.data.datasets.mnist import FashionMNIST

__all__ = ["FashionMNISTSubset", "SUBSET_PATH", "SUBSET_SHA256"]

SUBSET_PATH = Path(__file__).parent / "files" / "fashion_mnist_subset.npz"
SUBSET_SHA256 = "025242878b08c587d40f68930ad73bb02b3018f52e961ffae525cc82a8db1005"


def load_subset_arrays(names=None, path=SUBSET_PATH, sha256=SUBSET_SHA256) -> dict:
    """The subset's arrays (those in ``names``, else all), after checking the file's
    SHA-256."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} is missing: ember's embedded Fashion-MNIST subset "
                                "was not installed with the package; reinstall ember")
    digest = file_digest(path, "sha256")
    if digest != sha256:
        raise DatasetIntegrityError(f"{path}: SHA-256 {digest} is not the expected {sha256}; "
                                    "the file is corrupt, reinstall ember")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in (f.files if names is None else names)}


class FashionMNISTSubset(ArrayDataset):
    """A stratified 12,000-image subset of Fashion-MNIST shipped with ember (no download).

    Args:
        train: the 10,000 training images (1,000 per class), else the 2,000 test images.
        transform, target_transform: applied to each image / label (or to a batch at once).

    ``.data`` is (N, 28, 28) uint8, ``.targets`` (N,) int64, ``.indices`` the positions of
    the items in the official training / test set.
    """

    classes = FashionMNIST.classes

    def __init__(self, train=True, transform=None, target_transform=None):
        split = "train" if train else "test"
        arrays = load_subset_arrays([f"x_{split}", f"y_{split}", f"{split}_indices"])
        self.train = train
        self.indices = arrays[f"{split}_indices"].astype(np.int64)
        super().__init__(arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int64),
                         transform, target_transform)
