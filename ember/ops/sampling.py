"""In-place random fills (``x.random_()``, ``x.bernoulli_(p)``, ``x.exponential_()``, ...),
drawn from the device's seeded generator (``ember.manual_seed``) and written through
``ops.inplace.fill_``: versions are bumped, and a leaf requiring grad is refused outside
``no_grad`` as for every in-place write."""
from __future__ import annotations

import numpy as np

from ember.ops.creation import randint, random_normal, random_uniform
from ember.ops.inplace import fill_
from ember.tensor import Tensor


def _floating(x, name):
    if x.dtype.kind != "f":
        raise RuntimeError(f"{name}: a continuous distribution needs a floating-point tensor, "
                           f"got dtype {x.dtype}")


def random_(x, *bounds, to=None):
    """Integers uniform on ``[from, to - 1]``: ``random_(to)``, ``random_(from, to)`` (``from``
    is a Python keyword: pass it by position), or without ``to`` up to the dtype's largest
    value (``2**mantissa`` inclusive for floats, PyTorch's rule)."""
    if len(bounds) == 1 and to is None:
        bounds = (0, bounds[0])
    lo, hi = (*bounds, to)[:2] if bounds else (0, to)
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else None
    top = 2 ** (info.nmant + 1) if info else 1 if x.dtype == np.bool_ else np.iinfo(x.dtype).max
    low = 0 if x.dtype == np.bool_ else None if info else np.iinfo(x.dtype).min
    hi = top + 1 if hi is None else hi
    if lo >= hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} "
                           f">= to={hi}")
    if not info and not low <= lo <= hi - 1 <= top:
        raise RuntimeError(f"random_: [{lo}, {hi}) is out of bounds for dtype {x.dtype}")
    return fill_(x, randint(lo, hi, tuple(x.shape), device=x.device).array)


def uniform_(x, from_=0.0, to=1.0):
    """Uniform on ``[from, to)`` (defaults 0 and 1), floating-point tensors only; PyTorch's
    first argument is ``from``, a Python keyword: pass it by position."""
    _floating(x, "uniform_")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={from_} > to={to}")
    return fill_(x, random_uniform(x.shape, from_, to, x.dtype, x.device))


def normal_(x, mean=0.0, std=1.0):
    """Normal samples of ``mean`` and ``std`` (floating-point tensors only)."""
    _floating(x, "normal_")
    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    return fill_(x, random_normal(x.shape, mean, std, x.dtype, x.device))


def bernoulli_(x, p=0.5):
    """1 with probability ``p`` (a number or a tensor broadcast to ``x``), else 0, in
    ``x``'s dtype (floats, integers and bool alike)."""
    pa = p.array if isinstance(p, Tensor) else p
    if not np.all((0 <= pa) & (pa <= 1)):
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return fill_(x, random_uniform(x.shape, 0, 1, np.float64, x.device) < pa)


def exponential_(x, lambd=1.0):
    """Exponential samples of rate ``lambd`` (mean ``1 / lambd``), by inversion."""
    _floating(x, "exponential_")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    u = random_uniform(x.shape, 0, 1, np.float64, x.device)
    return fill_(x, (-np.log1p(-u) / lambd).astype(x.dtype))
