"""scikit-learn's 8x8 handwritten digits (optional dependency: scikit-learn)."""
from __future__ import annotations

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.datasets._optional import require

__all__ = ["Digits"]

TEST_SIZE = 360  # about 20% of the 1,797 images


class Digits(ArrayDataset):
    """The UCI optical digits as bundled by scikit-learn: 1,797 images, 8x8, 10 classes.

    There is no official split: the test set is a fixed random choice of 360 images
    (``numpy.random.default_rng(0)``), the training set the other 1,437, both in the
    original order. The 0..16 grey levels are scaled to 0..255 (``.data`` is (N, 8, 8)
    uint8, exact: every level maps to a distinct byte) so that ``ToTensor`` gives [0, 1].
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, train=True, transform=None, target_transform=None):
        datasets = require("sklearn.datasets", "scikit-learn", "ember.data.datasets.Digits")
        digits = datasets.load_digits()
        test = np.zeros(len(digits.target), dtype=bool)
        test[np.random.default_rng(0).permutation(len(test))[:TEST_SIZE]] = True
        keep = ~test if train else test
        images = np.rint(digits.images[keep] * (255 / 16)).astype(np.uint8)
        self.train = train
        super().__init__(images, digits.target[keep].astype(np.int64), transform,
                         target_transform)
