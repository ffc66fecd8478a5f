"""Data sets: MNIST, Fashion-MNIST (and the subset shipped with ember; FashionScenes: its items
on a larger canvas, for detection and segmentation), CIFAR-10/100,
scikit-learn's digits, MNIST-1D; the sequence sets Addition and Dates (seq2seq, "Deep Learning
from Scratch 2") and Shakespeare (characters; a 32 KB excerpt ships with ember); and a registry
to get one by name.

    >>> train = get_dataset("fashion-mnist-subset", train=True)   # no download needed
"""
from __future__ import annotations

import difflib
import functools
import re

from ember.data.datasets._download import DatasetIntegrityError, DatasetNotFoundError
from ember.data.datasets.cifar import CIFAR10, CIFAR100, UnsafePickleError
from ember.data.datasets.digits import Digits
from ember.data.datasets.fashion_subset import FashionMNISTSubset
from ember.data.datasets.mnist import MNIST, FashionMNIST
from ember.data.datasets.mnist1d import MNIST1D
from ember.data.datasets.scenes import FashionScenes
from ember.data.datasets.shakespeare import Shakespeare
from ember.data.datasets.text_pairs import Addition, Dates

__all__ = ["MNIST", "FashionMNIST", "FashionMNISTSubset", "FashionScenes", "CIFAR10", "CIFAR100", "Digits",
           "MNIST1D", "Addition", "Dates", "Shakespeare", "DatasetNotFoundError",
           "DatasetIntegrityError", "UnsafePickleError",
           "get_dataset", "list_datasets", "register_dataset"]

DEFAULT_DATASET = "fashion-mnist-subset"

_REGISTRY = {}


def _key(name):
    """Names compare without case or separators: 'Fashion_MNIST' is 'fashion-mnist'."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def register_dataset(name, cls, takes_root=True):
    """Make ``get_dataset(name)`` build ``cls(root=..., train=..., **kwargs)``."""
    _REGISTRY[_key(name)] = (name, cls, takes_root)


def list_datasets():
    """The registered data set names."""
    return sorted(name for name, _, _ in _REGISTRY.values())


def get_dataset(name, train=True, root=None, **kwargs):
    """A data set by name, e.g. ``get_dataset("fashion-mnist", train=False)``; ``root`` and
    ``kwargs`` (transform=, download=, ...) go to its class."""
    entry = _REGISTRY.get(_key(name))
    if entry is None:
        close = difflib.get_close_matches(str(name).lower(), list_datasets(), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown data set {name!r}.{hint} Available: "
                         f"{', '.join(list_datasets())}")
    _, cls, takes_root = entry
    if root is not None and not takes_root:
        raise ValueError(f"data set {name!r} is built in or generated: it takes no root")
    return cls(root=root, train=train, **kwargs) if takes_root else cls(train=train, **kwargs)


register_dataset("fashion-mnist-subset", FashionMNISTSubset, takes_root=False)
register_dataset("fashion-mnist", FashionMNIST)
register_dataset("mnist", MNIST)
register_dataset("fashion-scenes", FashionScenes)
register_dataset("cifar10", CIFAR10)
register_dataset("cifar100", CIFAR100)
register_dataset("digits", Digits, takes_root=False)
register_dataset("mnist1d", MNIST1D, takes_root=False)
register_dataset("addition", Addition)
register_dataset("dates", Dates)
register_dataset("shakespeare", Shakespeare)
register_dataset("shakespeare-excerpt", functools.partial(Shakespeare, excerpt=True),
                 takes_root=False)
