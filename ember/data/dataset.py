"""Map-style data sets: Dataset, TensorDataset, Subset, ConcatDataset and random_split.

A data set that holds whole arrays may define ``get_batch(indices)``: it returns the batch for
an int64 index array, gathered with one fancy index instead of one ``__getitem__`` per item,
as raw arrays in the structure ``default_collate`` would build (a tuple of arrays for
``(x, y)`` samples), or ``NotImplemented`` when it cannot (then the loader falls back to
``__getitem__``). :class:`~ember.data.DataLoader` uses it whenever ``collate_fn`` is None.
"""
from __future__ import annotations

import bisect
import itertools
import math

import numpy as np

from ember import backend
from ember.data._rng import current_generator
from ember.tensor import Tensor

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """Base class of map-style data sets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _raw(x):
    return x.array if isinstance(x, Tensor) else x


class TensorDataset(Dataset):
    """Samples are ``(tensors[0][i], tensors[1][i], ...)``; tensors (or arrays) share dim 0.

    Items come back as Tensors (detached: a data set holds data, not graph nodes).
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = [_raw(t) if hasattr(t, "shape") else np.asarray(t) for t in tensors]
        sizes = [a.shape[0] if a.ndim else None for a in arrays]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(f"TensorDataset: all tensors must have the same size in dim 0, "
                             f"got shapes {shapes}")
        self._arrays = tuple(arrays)
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor._make(a)
                             for t, a in zip(tensors, arrays))

    def __len__(self):
        return self._arrays[0].shape[0]

    def __getitem__(self, index):
        return tuple(Tensor._make(a[index]) for a in self._arrays)

    def get_batch(self, indices):
        if backend.get_array_module(*self._arrays) is not np:
            indices = backend.to_device(indices, backend.device_of(self._arrays[0]))
        return tuple(a[indices] for a in self._arrays)


class ArrayDataset(Dataset):
    """Items ``(transform(data[i]), target_transform(int(targets[i])))`` of whole arrays.

    The base of the image data sets (``.data`` uint8 images, ``.targets`` int64, like
    torchvision). A batch is one fancy index of each array, with the transform applied to the
    batch at once when it can be (``transform.batchable``, e.g. ember's transforms).
    """

    classes: list = []

    def __init__(self, data, targets, transform=None, target_transform=None):
        if len(data) != len(targets):
            raise ValueError(f"{type(self).__name__}: {len(data)} items but {len(targets)} "
                             f"targets")
        self.data = data
        self.targets = targets
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        x, y = self.data[index], int(self.targets[index])
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def get_batch(self, indices):
        if self.target_transform is not None or not (
                self.transform is None or getattr(self.transform, "batchable", False)):
            return NotImplemented
        x = self.data[indices]
        return (x if self.transform is None else self.transform.apply_batch(x),
                self.targets[indices])

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __repr__(self):
        return (f"{type(self).__name__}({len(self)} items, data {tuple(self.data.shape)} "
                f"{self.data.dtype}, transform={self.transform!r})")


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def get_batch(self, indices):
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is None:
            return NotImplemented
        return get_batch(np.asarray(self.indices, dtype=np.int64)[indices])


class ConcatDataset(Dataset):
    """The items of several data sets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one data set")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} out of range for a data set of {len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]

    def get_batch(self, indices):
        """Gather each part's items with its own ``get_batch``, then restore the order."""
        which = np.searchsorted(self.cumulative_sizes, indices, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        order = np.argsort(which, kind="stable")
        parts = []
        for d in np.unique(which):
            get_batch = getattr(self.datasets[d], "get_batch", None)
            part = NotImplemented if get_batch is None else get_batch(
                indices[order][which[order] == d] - starts[d])
            if part is NotImplemented:
                return NotImplemented
            parts.append(part)
        inverse = np.argsort(order, kind="stable")
        return _concat_parts(parts, inverse)


def _concat_parts(parts, inverse):
    """Concatenate same-structured batches along dim 0, then reorder by ``inverse``."""
    first = parts[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_concat_parts([p[i] for p in parts], inverse)
                           for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _concat_parts([p[k] for p in parts], inverse) for k in first}
    if isinstance(first, Tensor):
        return Tensor._make(_concat_parts([p.array for p in parts], inverse))
    xp = backend.get_array_module(first)
    return xp.concatenate(parts)[xp.asarray(inverse)]


def make_generator(generator):
    """Check a ``generator`` argument: None, a ``numpy.random.Generator``, or an int seed
    (made into a Generator once, so that its stream advances from epoch to epoch)."""
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(generator).__name__}")


def _as_generator(generator):
    """The generator to draw from now: the given one, else the current data generator."""
    return current_generator() if generator is None else generator


def _split_lengths(lengths, n):
    """Turn fractions summing to 1 into counts (remainders go round-robin, as PyTorch)."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    return [int(length) for length in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths (or fractions
    summing to 1); ``generator`` (a numpy Generator or int seed) fixes the split."""
    lengths = _split_lengths(list(lengths), len(dataset))
    if any(length < 0 for length in lengths) or sum(lengths) != len(dataset):
        raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to the "
                         f"data set's length {len(dataset)} (or be fractions summing to 1)")
    perm = _as_generator(make_generator(generator)).permutation(len(dataset))
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, perm[a:b].tolist()) for a, b in itertools.pairwise(bounds)]
