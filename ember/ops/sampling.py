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


def _bounds(args, kwargs, name, defaults):
    """PyTorch's ``from``/``to`` arguments (``from`` is a Python keyword: pass it by position
    or as ``**{"from": v}``)."""
    if set(kwargs) - {"from", "to"} or len(args) > 2:
        raise TypeError(f"{name}() takes (from, to), got {len(args)} positional and "
                        f"{sorted(kwargs)}")
    values = dict(zip(("from", "to"), defaults))
    values.update(zip(("from", "to"), args))
    values.update(kwargs)
    return values["from"], values["to"]


def random_(x, *args, **kwargs):
    """Integers uniform on ``[from, to - 1]`` (``random_(to)``, ``random_(from, to)``); without
    ``to``, up to the dtype's largest value, or ``2**mantissa`` (inclusive) for floats."""
    if len(args) == 1 and "to" not in kwargs and "from" not in kwargs:
        args = (0, args[0])
    lo, hi = _bounds(args, kwargs, "random_", (0, None))
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else None
    top = 2 ** (info.nmant + 1) if info else 1 if x.dtype == np.bool_ else np.iinfo(x.dtype).max
    low = 0 if x.dtype == np.bool_ else None if info else np.iinfo(x.dtype).min
    hi = top + 1 if hi is None else hi
    if lo >= hi:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} "
                           f">= to={hi}")
    if not info and not low <= lo <= hi - 1 <= top:
        raise RuntimeError(f"random_: [{lo}, {hi}) is out of bounds for dtype {x.dtype}")
    return fill_(x, randint(lo, hi, tuple(x.shape), device=x.device,
                            dtype=np.uint64 if hi > 2 ** 63 else np.int64).array)


def uniform_(x, *args, **kwargs):
    """Uniform on ``[from, to)`` (defaults 0 and 1), floating-point tensors only."""
    lo, hi = _bounds(args, kwargs, "uniform_", (0.0, 1.0))
    _floating(x, "uniform_")
    if lo > hi:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={lo} > to={hi}")
    return fill_(x, random_uniform(x.shape, lo, hi, x.dtype, x.device))


def normal_(x, mean=0.0, std=1.0):
    """Normal samples of ``mean`` and ``std`` (floating-point tensors only)."""
    _floating(x, "normal_")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
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
