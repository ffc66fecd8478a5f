"""Searching and counting, outside autograd (integer or count results): unique, nonzero,
bucketize, searchsorted, histc, bincount, and multinomial sampling."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.ops.creation import random_uniform
from ember.tensor import Tensor


def _arr(x):
    return x.array if isinstance(x, Tensor) else x


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (or slices along ``dim``), sorted; optionally the index of each
    input element in them (``inverse``, shaped as the input) and their counts."""
    xp, a = backend.get_array_module(input.array), input.array
    axis = None if dim is None else dim % max(a.ndim, 1)
    values, inverse, counts = xp.unique(a, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(a.shape if axis is None else -1).astype(np.int64)
    out = (Tensor._make(values),) + ((Tensor._make(inverse),) if return_inverse else ()) + (
        (Tensor._make(counts.astype(np.int64)),) if return_counts else ())
    return out[0] if len(out) == 1 else out


def nonzero(input, *, as_tuple=False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or one 1-D tensor
    per dim with ``as_tuple=True``."""
    xp, a = backend.get_array_module(input.array), input.array
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64)) for i in xp.nonzero(a.reshape(-1)
                                                                        if a.ndim == 0 else a))
    return Tensor._make(xp.argwhere(a).astype(np.int64))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Where each of ``input`` would go in ``sorted_sequence`` (its last dim) to keep it
    sorted: the first such place, or the last with ``right=True`` / ``side="right"``."""
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"searchsorted: side can only be 'left' or 'right', got {side!r}")
    if side is not None and right and side == "left":
        raise RuntimeError("searchsorted: side and right can't be set to opposites, got side "
                           "of left while right was True")
    side = side or ("right" if right else "left")
    seq, xp = sorted_sequence.array, backend.get_array_module(sorted_sequence.array)
    values = xp.asarray(_arr(input))
    if sorter is not None:
        seq = xp.take_along_axis(seq, _arr(sorter), axis=-1)
    if seq.ndim > 1 and seq.shape[:-1] != values.shape[:-1]:
        raise RuntimeError(f"searchsorted: boundaries tensor should be 1 dimension or the "
                           f"first N-1 dimensions of boundaries tensor and input value tensor "
                           f"must match, got {tuple(seq.shape)} and {tuple(values.shape)}")
    if seq.ndim <= 1:
        out = xp.searchsorted(seq, values, side=side)
    else:
        rows, vals = seq.reshape(-1, seq.shape[-1]), values.reshape(len(seq.reshape(
            -1, seq.shape[-1])), -1)
        out = xp.stack([xp.searchsorted(r, v, side=side) for r, v in zip(rows, vals)])
        out = out.reshape(values.shape)
    return Tensor._make(xp.asarray(out).astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element: ``i`` with ``boundaries[i-1] < x <= boundaries[i]`` (or
    ``boundaries[i-1] <= x < boundaries[i]`` with ``right=True``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):
    """A histogram of ``bins`` equal bins over [min, max] (the data's range if both are 0);
    elements outside are ignored, ``max`` falls in the last bin."""
    xp, a = backend.get_array_module(input.array), input.array.reshape(-1)
    if a.dtype.kind != "f":
        raise RuntimeError(f"histc: not implemented for dtype {a.dtype}; use a float tensor")
    if bins <= 0 or min > max:
        raise RuntimeError(f"histc: bins must be > 0 and max >= min, got bins={bins}, "
                           f"min={min}, max={max}")
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    a = a[(a >= lo) & (a <= hi)]
    idx = xp.minimum(((a - lo) * bins / (hi - lo)).astype(np.int64), bins - 1)
    return Tensor._make(xp.bincount(idx, minlength=bins).astype(input.array.dtype))


def bincount(input, weights=None, minlength=0):
    """How often each value 0..max(input) occurs in a 1-D non-negative integer tensor (the
    sum of ``weights`` there, if given); at least ``minlength`` bins."""
    xp, a = backend.get_array_module(input.array), input.array
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and a.min() < 0):
        raise RuntimeError(f"bincount: input must be a 1-D tensor of non-negative integers, "
                           f"got shape {tuple(a.shape)} and dtype {a.dtype}")
    if weights is None:
        return Tensor._make(xp.bincount(a, minlength=minlength).astype(np.int64))
    w = weights.array
    dtype = w.dtype if w.dtype.kind == "f" else np.float64
    return Tensor._make(xp.bincount(a, weights=w, minlength=minlength).astype(dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` category indices per row of non-negative weights ``input`` (1-D or
    2-D), drawn from ember's seeded generator; without replacement each index at most once
    (the exponential-keys method: the k smallest of E_i / w_i). ``generator`` must be None:
    ember has no Generator objects (seed with ``ember.manual_seed``)."""
    if generator is not None:
        raise TypeError("multinomial: ember has no Generator objects, so generator= must be "
                        "None; seed ember's generator with ember.manual_seed(seed)")
    p = input.array
    if p.ndim not in (1, 2) or p.dtype.kind != "f":
        raise RuntimeError(f"multinomial: prob_dist must be a 1 or 2 dim float tensor, got "
                           f"shape {tuple(p.shape)} and dtype {p.dtype}")
    xp, rows = backend.get_array_module(p), p.reshape(-1, p.shape[-1]).astype(np.float64)
    n = rows.shape[1]
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample n_sample ({num_samples}) > "
                           f"prob_dist.size(-1) ({n}) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample {num_samples} <= 0 samples")
    if not bool(xp.isfinite(rows).all()) or bool((rows < 0).any()):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    if bool((rows.sum(1) <= 0).any()):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    if replacement:
        cdf = xp.cumsum(rows, axis=1)
        cdf /= cdf[:, -1:]
        u = random_uniform((len(rows), num_samples), 0, 1, np.float64, input.device)
        out = (cdf[:, None, :] <= u[:, :, None]).sum(-1)
    else:
        u = random_uniform(rows.shape, 0, 1, np.float64, input.device)
        with np.errstate(divide="ignore"):
            keys = -xp.log1p(-u) / rows  # exponential over weight; zero weight: inf (last)
        out = xp.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    return Tensor._make(xp.minimum(out, n - 1).astype(np.int64).reshape(
        p.shape[:-1] + (num_samples,)))
