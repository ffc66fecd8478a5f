"""Argument helpers shared by the layer families and their layers (PyTorch keeps these in
``torch.nn.modules.utils``): int-or-tuple arguments, 'same' padding, unbatched inputs,
the legacy reduction arguments."""
from __future__ import annotations

import warnings

import numpy as np


def ntuple(value, d, what, who):
    """``value`` as a d-tuple of ints (an int or a 1-tuple is repeated), else a ValueError
    naming ``who`` and the argument ``what``."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * d
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * d
    if len(value) != d:
        raise ValueError(f"{who}: {what} must be an int or a tuple of {d} ints, got {value}")
    return value


def same_padding(ksize, dilation):
    """Per-dim (lo, hi) padding that keeps a stride-1 output as large as its input; PyTorch
    puts the odd element of an even total on the right."""
    return tuple((dl * (k - 1) // 2, dl * (k - 1) - dl * (k - 1) // 2)
                 for k, dl in zip(ksize, dilation))


def batched(x, d, fn):
    """Run ``fn`` on a batched input, adding and removing the batch dim if there is none."""
    if x.ndim == d + 2:
        return fn(x)
    return fn(x.unsqueeze(0)).squeeze(0)


def legacy_reduction(size_average, reduce):
    """PyTorch's deprecated ``size_average``/``reduce`` pair as a ``reduction`` string."""
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='mean'|'sum'|'none' instead.", stacklevel=3)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"
