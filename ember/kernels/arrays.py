"""Small array routines with a faster form on one device than the obvious expression."""
from __future__ import annotations

import numpy as np

from ember import backend


def contract(spec, a, b):
    """``einsum(spec, a, b)`` for two operands of the same axes, summed over those that the
    output drops. NumPy's einsum reads both once with no temporary; CuPy's spends ~0.3 ms of
    host time per call parsing and planning (cProfile of a ResNet-20 step on an H100, which
    is host-bound), so there it is a product and a sum."""
    if isinstance(a, np.ndarray):
        return np.einsum(spec, a, b)
    inputs, out = spec.split("->")
    axes = tuple(i for i, axis in enumerate(inputs.split(",")[0]) if axis not in out)
    return (a * b).sum(axis=axes)


def positive_part(x):
    """``maximum(x, 0)``. NumPy's SIMD maximum needs two operands of one shape (against a
    broadcast 0 it runs its scalar loop), so on the CPU a zeroed array is maxed in place:
    the same bits, twice as fast (ReLU at 128x16x32x32: 710 -> 330 us, measured)."""
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        y = np.zeros_like(x)
        return np.maximum(x, y, out=y)
    return backend.get_array_module(x).maximum(x, 0)
