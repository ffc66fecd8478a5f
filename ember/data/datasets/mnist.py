"""MNIST and Fashion-MNIST from their official IDX files (gzipped or not).

Every file is checked twice: its IDX header must match its size, and the MD5 of its
(decompressed) content must be the official one, so a gzip repacked by a distribution (Debian's
``dataset-fashion-mnist``) is accepted and a truncated or altered file is not. Downloads are
also checked against the official MD5 of the ``.gz`` files (as torchvision lists them).
"""
from __future__ import annotations

import numpy as np

from ember.data.dataset import ArrayDataset
from ember.data.datasets._download import (
    DatasetIntegrityError,
    download_url,
    file_digest,
    locate,
    read_maybe_gzip,
)

__all__ = ["MNIST", "FashionMNIST", "read_idx", "parse_idx"]

# IDX type codes (http://yann.lecun.com/exdb/mnist/): data are big-endian.
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name="<bytes>") -> np.ndarray:
    """An IDX file's bytes -> array, checking the magic number and that the sizes add up."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetIntegrityError(f"{name}: not an IDX file (bad magic number "
                                    f"{data[:4].hex()}); delete it and get it again")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetIntegrityError(f"{name}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetIntegrityError(f"{name}: {len(data)} bytes but its header {shape} says "
                                    f"{expected}; the file is truncated or corrupt, delete it "
                                    f"and get it again")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path, md5=None) -> np.ndarray:
    """Read an IDX file (gzipped or not); with ``md5``, check the decompressed content."""
    data = read_maybe_gzip(path)
    if md5 is not None and file_digest(None, "md5", data) != md5:
        raise DatasetIntegrityError(
            f"{path}: MD5 of the content is {file_digest(None, 'md5', data)}, not the official "
            f"{md5}; the file is corrupt or not the official release, delete it and get it "
            f"again")
    return parse_idx(data, str(path))


class MNIST(ArrayDataset):
    """The MNIST digits: 60,000 training and 10,000 test images, 28x28 uint8, 10 classes.

    Args:
        root: folder with the IDX files (``root``, ``root/MNIST`` or ``root/MNIST/raw``); None
            looks in ``$EMBER_DATA``, ``~/.cache/ember`` and system folders.
        train: the training set (else the test set).
        transform, target_transform: applied to each image / label (or to a batch at once).
        download: fetch the files from the official mirrors when not found.

    ``.data`` is (N, 28, 28) uint8, ``.targets`` (N,) int64; items are ``(image, label)``.
    """

    folder = "MNIST"
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    # (file, MD5 of the official .gz, MD5 of its decompressed content)
    resources = [
        ("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "6bbc9ace898e44ae57da46a324031adb"),
        ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
         "a25bea736e30d166cdddb491f175f624"),
        ("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
         "2646ac647ad5339dbf082846283269ea"),
        ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
         "27ae3e4e09519cfbb04c329615203637"),
    ]
    system_dirs: tuple = ()
    install_hint = ("Download the four IDX files from https://ossci-datasets.s3.amazonaws.com/"
                    "mnist/ when a network is available.\n")
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=True):
        self.root, self.train = root, train
        prefix = "train" if train else "t10k"
        wanted = [r for r in self.resources if r[0].startswith(prefix)]
        paths = locate(type(self).__name__, self.folder, [r[0] for r in wanted], root,
                       download, self._fetch, self.system_dirs, self.install_hint)
        images, labels = (read_idx(p, r[2]) for p, r in zip(paths, wanted))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetIntegrityError(f"{paths[0]} and {paths[1]}: images {images.shape} and "
                                        f"labels {labels.shape} do not match")
        super().__init__(images, labels.astype(np.int64), transform, target_transform)

    def _fetch(self, target):
        for name, gz_md5, _ in self.resources:
            download_url([m + name + ".gz" for m in self.mirrors],
                         target / self.folder / f"{name}.gz", gz_md5)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 60,000 + 10,000 28x28 uint8 clothing images, 10 classes.

    Same arguments and attributes as :class:`MNIST`. On Debian/Ubuntu,
    ``apt-get install dataset-fashion-mnist`` provides the files, found automatically.
    """

    folder = "FashionMNIST"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
         "9018921c3c673c538a1fc5bad174d6f9"),
        ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
         "8181f5470baa50b63fa0f6fddb340f0a"),
        ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
         "15d484375f8d13e6eb1aabb0c3f46965"),
    ]
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    install_hint = ("Install it with: sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), "
                    "or download the four IDX files from https://github.com/zalandoresearch/"
                    "fashion-mnist when a network is available.\n")
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
