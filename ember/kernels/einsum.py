"""``einsum`` of two operands over shared axes, the fast way on each device."""
from __future__ import annotations

import numpy as np


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
