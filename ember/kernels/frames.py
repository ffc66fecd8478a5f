"""Padded frames and scratch buffers: the temporaries of convolution and pooling.

A fresh 75 MB array costs more in page faults than the copy into it, so on the CPU the
large temporaries (padded inputs, im2col matrices, pooling windows) live in per-thread
buffers that are reused. On the GPU CuPy's memory pool already recycles device memory, and
a padded frame is filled in one launch (host time per launch is what bounds a GPU step).
"""
from __future__ import annotations

import math
import threading

import numpy as np

_tls = threading.local()


def scratch(xp, name, shape, dtype):
    """A reusable array for temporaries that never leave this module (NumPy only: CuPy's
    memory pool already recycles device memory)."""
    if xp is not np:
        return xp.empty(shape, dtype)
    n = math.prod(shape)
    bufs = _tls.__dict__.setdefault("bufs", {})
    buf = bufs.get((name, dtype))
    if buf is None or buf.size < n:
        buf = bufs[(name, dtype)] = np.empty(n, dtype)
    return buf[:n].reshape(shape)


def pad(xc, pad, xp, value=0, name="pad"):
    """(C, N, *S) copied into a (C, N, *(S + lo + hi)) scratch array bordered by ``value``."""
    if not any(lo or hi for lo, hi in pad):
        return xc
    C, N, *S = xc.shape
    out = scratch(xp, name, (C, N, *(n + lo + hi for n, (lo, hi) in zip(S, pad))), xc.dtype)
    place(xc, out, pad, value)
    return out


def place(xc, out, pad, value=0):
    """Copy (C, N, *S) into ``out`` (C, N, *frame) at offset ``lo`` on each spatial axis,
    fill the rest of the frame (the border slabs only) with ``value``; the copy's view.
    On the GPU the whole frame is filled instead: one launch, where each slab would be one
    with ~20 us of host time, and host time is what bounds a GPU step."""
    if not isinstance(out, np.ndarray):
        out.fill(value)
    else:
        _fill_border(out, pad, xc.shape[2:], value)
    inside = out[(slice(None), slice(None),
                  *(slice(lo, lo + n) for n, (lo, _) in zip(xc.shape[2:], pad)))]
    inside[...] = xc
    return inside


def _fill_border(out, pad, size, value):
    """Fill ``out``'s frame outside the (C, N, *size) block at offset ``lo`` per axis."""
    for i, (lo, n) in enumerate(zip((lo for lo, _ in pad), size)):
        lead = (slice(None),) * (2 + i)
        if lo:
            out[lead + (slice(0, lo),)] = value
        if lo + n < out.shape[2 + i]:
            out[lead + (slice(lo + n, None),)] = value
