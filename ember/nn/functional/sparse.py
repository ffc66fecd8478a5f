"""Embedding lookup: rows of a weight matrix picked by integer indices, one by one or
reduced per bag (``embedding_bag``); and one-hot encoding."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.ops.inplace import increment_version
from ember.ops.shape import cat
from ember.tensor import Tensor

__all__ = ["embedding", "embedding_bag", "one_hot"]


class Embedding(Function):
    """(a) primitive: a row gather whose backward scatter-adds rows, skipping padding_idx."""

    def forward(self, weight, *, indices, padding_idx, scale_grad_by_freq):
        self.indices, self.weight_shape = indices, weight.shape
        self.padding_idx, self.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return self.xp.take(weight, indices, axis=0)

    def backward(self, gy):
        xp = self.xp
        idx = self.indices.reshape(-1)
        g = gy.reshape(idx.size, -1)  # (*, D) -> (N, D)
        if self.scale_grad_by_freq:
            counts = xp.bincount(idx, minlength=self.weight_shape[0])
            g = g / counts[idx][:, None].astype(g.dtype)
        gw = xp.zeros(self.weight_shape, gy.dtype)
        backend.index_add(gw, idx, g)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw


def _renorm_rows(weight, idx, max_norm, norm_type):
    """Scale, in place and outside the graph, the rows of ``weight`` listed in ``idx`` whose
    ``norm_type``-norm exceeds ``max_norm`` down to ``max_norm`` (PyTorch's 1e-7 included)."""
    xp = backend.get_array_module(weight.array)
    rows = xp.unique(idx.reshape(-1))
    w = weight.array[rows]
    norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    weight.array[rows] = w * scale[:, None]
    increment_version(weight)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` at the integer indices ``input``.

    ``padding_idx`` gets no gradient; ``max_norm`` renormalises the looked-up rows of
    ``weight`` in place first; ``scale_grad_by_freq`` divides each row's gradient by how
    often its index occurs in the batch.

    Shape: input ``(*)`` integers, weight ``(V, D)`` -> ``(*, D)``.
    """
    if not isinstance(input, Tensor) or input.dtype.kind not in "iu":
        what = input.dtype if isinstance(input, Tensor) else type(input).__name__
        raise TypeError(f"embedding: expected an integer index tensor, got {what}")
    idx, num = input.array, weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for a weight with "
                         f"{num} rows (valid: 0 to {num - 1})")
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported; "
                         "use sparse=False")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += num
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, indices=idx, padding_idx=padding_idx,
                           scale_grad_by_freq=scale_grad_by_freq)


def _bags(input, offsets, include_last_offset):
    """Flat indices and each one's bag number, and the number of bags, from a 2-D input
    (fixed-size bags) or a 1-D input with the bags' start offsets."""
    xp = backend.get_array_module(input.array)
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None for a 2-D input (each row "
                             "is one bag)")
        b, n = input.shape
        return input.reshape(-1), xp.repeat(xp.arange(b), n), b
    if input.ndim != 1 or offsets is None or offsets.ndim != 1:
        raise ValueError(f"embedding_bag: expected a 2-D input (B, N), or a 1-D input with "
                         f"1-D offsets, got input {tuple(input.shape)} and offsets "
                         f"{None if offsets is None else tuple(offsets.shape)}")
    starts = offsets.array[:-1] if include_last_offset else offsets.array
    if starts.size and (int(starts[0]) != 0 or (xp.diff(starts) < 0).any()
                        or int(starts[-1]) > input.shape[0]):
        raise ValueError(f"embedding_bag: offsets must start at 0 and not decrease up to "
                         f"the input's length {input.shape[0]}, got {starts.tolist()}")
    bag = xp.searchsorted(starts, xp.arange(input.shape[0]), side="right") - 1
    return input, bag, int(starts.size)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    """Sum, mean or max of the embedding rows in each bag, without the (*, D) intermediate
    of ``embedding`` the user would reduce: (B, D). Bags are the rows of a 2-D ``input``,
    or runs of a 1-D ``input`` starting at ``offsets``; ``padding_idx`` entries are left out
    of their bag; an empty bag gives zeros. ``per_sample_weights`` scale rows ('sum' only).
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError("embedding_bag: per_sample_weights are only supported for "
                         f"mode='sum', got mode={mode!r}")
    flat, bag, n_bags = _bags(input, offsets, include_last_offset)
    keep = None
    if padding_idx is not None:
        padding_idx = padding_idx + weight.shape[0] if padding_idx < 0 else padding_idx
        keep = flat.array != padding_idx
        flat, bag = flat[Tensor._make(keep)], bag[keep]
    rows = embedding(flat, weight, None, max_norm, norm_type, scale_grad_by_freq, sparse)
    if per_sample_weights is not None:
        w = per_sample_weights.reshape(-1)
        rows = rows * (w if keep is None else w[Tensor._make(keep)]).unsqueeze(1)
    xp = backend.get_array_module(weight.array)
    if mode == "max":
        return _bag_max(rows, bag, n_bags, xp)
    index = Tensor._make(xp.broadcast_to(bag[:, None], rows.shape).copy())
    zeros = Tensor._make(xp.zeros((n_bags, weight.shape[1]), weight.dtype))
    total = zeros.scatter_add(0, index, rows)
    if mode == "sum":
        return total
    counts = xp.bincount(bag, minlength=n_bags).astype(weight.dtype)
    return total / Tensor._make(xp.maximum(counts, 1)[:, None])


def _bag_max(rows, bag, n_bags, xp):
    """Per-bag elementwise max, through a (B, longest bag, D) stack padded with -inf (the
    gradient goes to each maximum, as ``max``'s); an empty bag gives zeros."""
    counts = xp.bincount(bag, minlength=n_bags)
    longest = int(counts.max()) if counts.size else 0
    position = xp.arange(bag.size) - xp.concatenate([xp.zeros(1, bag.dtype),
                                                     xp.cumsum(counts)[:-1]])[bag]
    slots = xp.full((n_bags, max(longest, 1)), rows.shape[0])  # -> the -inf row
    slots[bag, position] = xp.arange(bag.size)
    floor = Tensor._make(xp.full((1, rows.shape[1]), -xp.inf, rows.dtype))
    values = cat([rows, floor])[Tensor._make(slots)].max(1).values
    return values.masked_fill(Tensor._make((counts == 0)[:, None]), 0.0)


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape ``(*, num_classes)`` with a 1 at each index of the int64
    ``tensor`` (shape ``(*)``) and 0 elsewhere; ``num_classes=-1`` takes the largest index
    plus one. Not differentiable (an integer output)."""
    if not isinstance(tensor, Tensor) or tensor.dtype != np.int64:
        what = tensor.dtype if isinstance(tensor, Tensor) else type(tensor).__name__
        raise TypeError(f"one_hot: expected an index tensor of dtype int64, got {what}")
    idx = tensor.array
    xp = backend.get_array_module(idx)
    if num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 (inferred) or non-negative, got "
                         f"{num_classes}")
    if idx.size and int(idx.min()) < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if num_classes == -1:
        if not idx.size:
            raise ValueError("one_hot: can not infer the number of classes from an empty "
                             "tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    elif idx.size and int(idx.max()) >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes="
                         f"{num_classes}, got {int(idx.max())}")
    return Tensor._make((idx[..., None] == xp.arange(num_classes)).astype(np.int64))
