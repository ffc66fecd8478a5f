"""MNIST-1D (Greydanus, "Scaling Down Deep Learning", 2020), generated locally by the
``mnist1d`` package (optional dependency): nothing is downloaded."""
from __future__ import annotations

import functools

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.datasets._optional import require

__all__ = ["MNIST1D"]


@functools.lru_cache(maxsize=4)
def _generate(seed):
    """The data set of the paper's default arguments (seed 42) or another seed; cached
    because generating takes a few seconds."""
    data = require("mnist1d.data", "mnist1d", "ember.data.datasets.MNIST1D")
    args = data.get_dataset_args()
    if seed is not None:
        args.seed = seed
    d = data.make_dataset(args)
    return tuple(np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test"))


class MNIST1D(ArrayDataset):
    """MNIST-1D: 4,000 training and 1,000 test sequences of length 40, 10 classes.

    ``.data`` is (N, 40) float32, ``.targets`` (N,) int64; ``seed`` None gives the data set of
    the paper (the package's default arguments).
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, train=True, transform=None, target_transform=None, seed=None):
        x, y, x_test, y_test = _generate(seed)
        self.train = train
        data, targets = (x, y) if train else (x_test, y_test)
        super().__init__(data.astype(np.float32), targets.astype(np.int64), transform,
                         target_transform)
