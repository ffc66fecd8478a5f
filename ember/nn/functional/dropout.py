"""Dropout: zero random elements (or whole channels) while training, scaling the survivors.

Masks come from the device's seeded generator, so ``ember.manual_seed`` repeats them. Each
dropout is ``x * mask`` (plus a constant for alpha dropout) with a constant mask: existing
ops give the right gradient, ``mask`` itself, and no new Function is needed.
"""
from __future__ import annotations

import math
import warnings

from ember.ops.arithmetic import add, mul
from ember.ops.creation import random_uniform
from ember.ops.inplace import inplace as _inplace
from ember.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]

# -SELU_SCALE * SELU_ALPHA: SELU's saturation value, which alpha dropout drops to
_ALPHA = 1.7580993408473766


def _check_p(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _keep(x, shape, p):
    """A 0/1 array of ``shape`` in x's dtype, each entry 1 with probability 1 - p."""
    u = random_uniform(shape, 0, 1, x.dtype, x.device)
    return (u >= p).astype(x.dtype)


def _masked(x, mask, inplace, shift=None):
    """``x * mask (+ shift)``, written into ``x`` when ``inplace``."""
    mask = Tensor._make(mask)
    if shift is None:
        return _inplace(x, mul, mask) if inplace else mul(x, mask)
    shift = Tensor._make(shift)
    if inplace:
        return _inplace(x, lambda t: add(mul(t, mask), shift))
    return add(mul(x, mask), shift)


def _drop(x, shape, p, inplace):
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return _masked(x, _keep(x, shape, p) * scale, inplace)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``;
    the identity when not ``training``."""
    _check_p(p, "dropout")
    if not training or p == 0:
        return input
    return _drop(input, input.shape, p, inplace)


def _feature_dropout(x, p, training, inplace, batched):
    """Dropout of whole channels: one mask entry per (sample, channel), or per channel for
    an unbatched input."""
    if not training or p == 0:
        return x
    lead = 2 if batched else 1
    return _drop(x, tuple(x.shape[:lead]) + (1,) * (x.ndim - lead), p, inplace)


def _channelwise(name, input, p, training, inplace, spatial):
    """Channel dropout of ``(N, C, *spatial)`` or unbatched ``(C, *spatial)`` inputs;
    ``spatial`` names the spatial dims, e.g. "L" or "D, H, W"."""
    _check_p(p, name)
    rank = spatial.count(",") + 2
    if input.ndim not in (rank, rank + 1):
        raise ValueError(f"{name}: expected a {rank}-D (C, {spatial}) or {rank + 1}-D (N, C, "
                         f"{spatial}) input, got shape {tuple(input.shape)}")
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == rank + 1)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` inputs with probability ``p``."""
    return _channelwise("dropout1d", input, p, training, inplace, "L")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, H, W)`` inputs with probability ``p``.

    As in PyTorch, a 3-D input is taken as ``(N, C, L)`` (with a warning), and other ranks
    are accepted with a warning, the first two dims being batch and channel.
    """
    _check_p(p, "dropout2d")
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected a (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 3:
        warnings.warn("dropout2d: received a 3-D input; it is taken as (N, C, L), channel-wise "
                      "1-D dropout, as PyTorch does. Use dropout1d to say so.", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: received a {input.ndim}-D input; dropout2d expects "
                      "(N, C, H, W). Use dropout for element-wise dropout.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, batched=True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs."""
    return _channelwise("dropout3d", input, p, training, inplace, "D, H, W")


def _alpha(x, shape, p, inplace):
    """Alpha dropout with a mask of ``shape`` (broadcast over the rest of ``x``)."""
    if p == 1:
        return _masked(x, x.array * 0, inplace)
    keep = _keep(x, shape, p)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    shift = (keep - 1) * (_ALPHA * a) + _ALPHA * a * p
    return _masked(x, keep * a, inplace, shift)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks (Klambauer et al., 2017): dropped elements take SELU's
    saturation value and an affine map ``a * x + b`` keeps zero mean and unit variance."""
    _check_p(p, "alpha_dropout")
    if not training or p == 0:
        return input
    return _alpha(input, input.shape, p, inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels: one draw per (sample, channel) of (N, C, *)."""
    _check_p(p, "feature_alpha_dropout")
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: expected input (N, C, *) with at least 2 "
                         f"dimensions, got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    return _alpha(input, tuple(input.shape[:2]) + (1,) * (input.ndim - 2), p, inplace)
