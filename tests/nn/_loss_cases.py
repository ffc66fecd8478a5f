"""Shared by the loss tests (nn/functional/test_loss.py, nn/modules/test_loss.py): the parity
check of a case ``fn(m, *tensors)`` (an ``Op`` row's function: the same code for ember and
torch) on given inputs, inputs and class-index targets."""
import warnings

import numpy as np
from _table import Op

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float64, np.float32]


def parity(case, inputs, dtype, **kwargs):
    """``Op(case).parity`` on ``inputs``: ``case(m, *tensors)`` with m = ember, then torch
    (warnings muted: both frameworks warn alike, e.g. for KLDiv's 'mean')."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Op(case).parity(dtype, inputs=inputs, **kwargs)


def rng(seed=0):
    return np.random.default_rng(seed)


def softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --- class-index targets --------------------------------------------------------------
SHAPES = {"2d": (6, 5), "nd": (2, 4, 3, 2), "batch1": (1, 5), "unbatched": (5,)}


def class_target(shape, ignore, seed=0):
    """Targets for logits of ``shape``, and the ignore_index: 'none' (nothing ignored),
    'default' (some targets -100) or 'class' (ignore_index=2, a real class)."""
    C = shape[1] if len(shape) > 1 else shape[0]
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    t = rng(seed).integers(0, C, tshape).astype(np.int64)
    flat = t.reshape(-1)
    if ignore == "default":
        flat[::3] = -100
        return t, -100
    if ignore == "class":
        flat[::2] = 2
        return t, 2
    return t, -100
