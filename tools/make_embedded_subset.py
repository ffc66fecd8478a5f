"""Build ember/data/datasets/files/fashion_mnist_subset.npz from the full Fashion-MNIST.

A stratified subset: for each of the 10 classes, 1,000 training images and 200 test images
drawn without replacement with numpy.random.default_rng(0), kept in their original order.
The .npz is written deterministically (fixed member order and timestamps, deflate level 9), so
the same input gives the same bytes with the same zlib; the script prints its SHA-256, which
``SUBSET_SHA256`` in ember/data/datasets/fashion_subset.py must equal.

    apt-get install dataset-fashion-mnist      # or any folder with the four IDX files
    python tools/make_embedded_subset.py [--root FOLDER]
"""
from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ember.data.datasets._download import file_digest
from ember.data.datasets.fashion_subset import SUBSET_PATH, SUBSET_SHA256
from ember.data.datasets.mnist import FashionMNIST

PER_CLASS = {"train": 1000, "test": 200}
SEED = 0


def stratified_indices(targets, per_class, rng):
    """``per_class`` random positions of every class, sorted."""
    chosen = [rng.choice(np.flatnonzero(targets == c), per_class, replace=False)
              for c in range(10)]
    return np.sort(np.concatenate(chosen))


def write_npz(path, arrays):
    """np.savez_compressed, but byte-for-byte reproducible."""
    with zipfile.ZipFile(path, "w") as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            zf.writestr(info, buffer.getvalue(), compresslevel=9)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=SUBSET_PATH)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    arrays = {}
    for split, per_class in PER_CLASS.items():
        full = FashionMNIST(args.root, train=split == "train", download=False)
        idx = stratified_indices(full.targets, per_class, rng)
        arrays[f"x_{split}"] = full.data[idx]
        arrays[f"y_{split}"] = full.targets[idx].astype(np.uint8)
        arrays[f"{split}_indices"] = idx.astype(np.int32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_npz(args.out, arrays)
    digest = file_digest(args.out, "sha256")
    print(f"{args.out}: {args.out.stat().st_size} bytes, SHA-256 {digest}")
    if digest != SUBSET_SHA256:
        print(f"update SUBSET_SHA256 in ember/data/datasets/fashion_subset.py (now "
              f"{SUBSET_SHA256})")


if __name__ == "__main__":
    main()
