"""Resizing: ``interpolate`` (nearest, nearest-exact, linear, bilinear, trilinear).

Every mode is separable: along each spatial axis, output j reads one or two input positions
(``taps``) with weights computed exactly as PyTorch's kernels compute them (in the input's
dtype; nearest in float32). Forward gathers along one axis at a time; backward is the
adjoint, a sum of each output run back into its source position. Integer nearest
upsampling takes the ``repeat`` / reshape-sum shortcut.
"""
from __future__ import annotations

import math

import numpy as np

from ember.autograd.function import Function

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


def _along(x, m, axis, xp):
    """Multiply ``x`` along ``axis`` by the matrix ``m`` (out, in)."""
    return xp.moveaxis(xp.moveaxis(x, axis, -1) @ m.T, -1, axis)


class AxisMatrices(Function):
    """x multiplied along each trailing axis by a dense (out, in) matrix: separable linear
    maps such as adaptive average pooling with overlapping windows."""

    def forward(self, x, *, mats):
        xp = self.xp
        self.mats = [xp.asarray(m, dtype=x.dtype) for m in mats]
        first = x.ndim - len(mats)
        for a, m in enumerate(self.mats):
            x = _along(x, m, first + a, xp)
        return x

    def backward(self, gy):
        first = gy.ndim - len(self.mats)
        for a, m in enumerate(self.mats):
            gy = _along(gy, m.T, first + a, self.xp)
        return gy


def _repeat_factor(idx, n):
    """r when ``idx`` is [0]*r + [1]*r + ... + [n-1]*r (integer nearest upsampling)."""
    r = len(idx) // n
    if r >= 1 and len(idx) == r * n and (idx == np.arange(len(idx)) // r).all():
        return r
    return 0


def _gather(x, taps, n, axis, xp):
    """Output j along ``axis`` = sum over taps of x[idx[j]] * weight[j]."""
    (idx, w), *rest = taps
    r = _repeat_factor(idx, n) if w is None else 0
    if r:
        return xp.repeat(x, r, axis=axis)
    shape = (-1,) + (1,) * (x.ndim - 1 - axis)
    y = xp.take(x, xp.asarray(idx), axis=axis)
    if w is not None:
        y *= xp.asarray(w).reshape(shape)
    for idx, w in rest:
        y += xp.take(x, xp.asarray(idx), axis=axis) * xp.asarray(w).reshape(shape)
    return y


def _scatter(g, taps, n, axis, xp):
    """The adjoint of :func:`_gather`: every source position sums the run of outputs that
    read it (indices are sorted, so a run is consecutive; the loop is over run length)."""
    out = None
    shape = (-1,) + (1,) * (g.ndim - 1 - axis)
    for idx, w in taps:
        gw = g if w is None else g * xp.asarray(w).reshape(shape)
        r = _repeat_factor(idx, n)
        if r:
            part = gw.reshape(g.shape[:axis] + (n, r) + g.shape[axis + 1:]).sum(axis=axis + 1)
        else:
            # a zero slice at the end stands in for the missing members of shorter runs
            pad = xp.zeros(g.shape[:axis] + (1,) + g.shape[axis + 1:], g.dtype)
            gz = xp.concatenate([gw, pad], axis=axis)
            start = np.searchsorted(idx, np.arange(n), "left")
            count = np.searchsorted(idx, np.arange(n), "right") - start
            part = None
            for t in range(int(count.max())):
                pos = xp.asarray(np.where(t < count, start + t, len(idx)))
                piece = xp.take(gz, pos, axis=axis)
                part = piece if part is None else part + piece
        out = part if out is None else out + part
    return out


class Resample(Function):
    """Separable resampling: gather (and blend) along each spatial axis in turn."""

    def forward(self, x, *, taps):
        self.taps, self.sizes = taps, x.shape[2:]
        for a, axis_taps in enumerate(taps):
            x = _gather(x, axis_taps, x.shape[2 + a], 2 + a, self.xp)
        return x

    def backward(self, gy):
        for a in reversed(range(len(self.taps))):
            gy = _scatter(gy, self.taps[a], self.sizes[a], 2 + a, self.xp)
        return gy


def nearest_taps(n, o, scale=None, exact=False):
    """PyTorch's nearest source index for ``o`` outputs from ``n`` inputs, computed in float32
    as its kernels do (also the resize of ``data.transforms``)."""
    if not exact and o == n:
        return [(np.arange(o), None)]
    if not exact and o == 2 * n:
        return [(np.arange(o) >> 1, None)]
    s = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(o)
    dst = np.arange(o, dtype=np.float32) + (np.float32(0.5) if exact else np.float32(0))
    return [(np.minimum(np.floor(dst * s).astype(np.int64), n - 1), None)]


def _source_index(n, o, scale, align_corners, dtype):
    """PyTorch's source coordinate of each of ``o`` outputs over ``n`` inputs (unclamped)."""
    if align_corners:
        s = dtype.type(n - 1) / dtype.type(o - 1) if o > 1 else dtype.type(0)
        return s * np.arange(o, dtype=dtype)
    s = dtype.type(1.0 / scale) if scale else dtype.type(n) / dtype.type(o)
    return s * (np.arange(o, dtype=dtype) + dtype.type(0.5)) - dtype.type(0.5)


def linear_taps(n, o, scale=None, align_corners=False, dtype=np.dtype(np.float64)):
    """Two taps (source indices, weights) per output with PyTorch's source index and
    clamped lambda (also the resize of ``data.transforms``)."""
    one = dtype.type(1)
    src = _source_index(n, o, scale, align_corners, dtype)
    if not align_corners:
        src = np.maximum(src, 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    lam = np.clip(src - i0, 0, one).astype(dtype)
    i1 = i0 + (i0 < n - 1)
    return [(i0, one - lam), (i1, lam)]


def cubic_weights(t, a=-0.75):
    """Keys' cubic convolution weights of the 4 taps around fraction ``t`` (PyTorch's
    A = -0.75); ``t`` may be a number, an array or a Tensor."""
    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def cubic_taps(n, o, scale=None, align_corners=False, dtype=np.dtype(np.float64)):
    """Four taps per output with PyTorch's bicubic weights and source index (not clamped),
    reading clamped to the border."""
    src = _source_index(n, o, scale, align_corners, dtype)
    i = np.floor(src)
    weights = cubic_weights((src - i).astype(dtype), dtype.type(-0.75))
    i = i.astype(np.int64)
    return [(np.clip(i - 1 + k, 0, n - 1), w) for k, w in enumerate(weights)]


def area_matrix(n, o):
    """(o, n): each output the mean of PyTorch's adaptive window [floor(i*n/o),
    ceil((i+1)*n/o)) of the input (adaptive average pooling, ``mode='area'``)."""
    i = np.arange(o)
    start, end = (i * n) // o, -((-(i + 1) * n) // o)
    inside = (np.arange(n) >= start[:, None]) & (np.arange(n) < end[:, None])
    return inside / (end - start)[:, None]


_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2,
          "bicubic": 2, "trilinear": 3}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, *S) to ``size`` or by ``scale_factor``, as ``torch.nn.functional.
    interpolate``: modes nearest, nearest-exact, area (adaptive average pooling), linear
    (3-D), bilinear and bicubic (4-D), trilinear (5-D); ``align_corners`` for the
    interpolating modes only."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode {mode!r} is not supported; expected one of "
                         f"{list(_MODES)}")
    d = input.ndim - 2
    if d < 1 or (_MODES[mode] is not None and d != _MODES[mode]):
        want = "3-D, 4-D or 5-D" if _MODES[mode] is None else f"{_MODES[mode] + 2}-D"
        raise ValueError(f"interpolate: mode {mode!r} expects a {want} input (N, C, ...), "
                         f"got shape {tuple(input.shape)}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    if align_corners is not None and mode not in _INTERPOLATING:
        raise ValueError("interpolate: align_corners can only be set with the interpolating "
                         "modes linear, bilinear, bicubic and trilinear")
    in_size = tuple(input.shape[2:])
    out, scales = _output_size(in_size, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return AxisMatrices.apply(input, mats=[area_matrix(n, o) for n, o in zip(in_size, out)])
    taps, dtype = [], np.dtype(input.dtype)
    for n, o, sc in zip(in_size, out, scales):
        if mode == "bicubic":
            taps.append(cubic_taps(n, o, sc, bool(align_corners), dtype))
        elif _MODES[mode] is None:
            taps.append(nearest_taps(n, o, sc, mode == "nearest-exact"))
        else:
            taps.append(linear_taps(n, o, sc, bool(align_corners), dtype))
    return Resample.apply(input, taps=taps)


def _output_size(in_size, size, scale_factor, recompute_scale_factor):
    """Output size and the scale each kernel uses (None: in/out), as PyTorch derives them."""
    d = len(in_size)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        out = (int(size),) * d if isinstance(size, (int, np.integer)) else tuple(map(int, size))
        if len(out) != d:
            raise ValueError(f"interpolate: size {tuple(size)} must have {d} entries for a "
                             f"{d + 2}-D input")
        scales = (None,) * d
    else:
        sf = (float(scale_factor),) * d if isinstance(scale_factor, (int, float)) else \
            tuple(map(float, scale_factor))
        if len(sf) != d:
            raise ValueError(f"interpolate: scale_factor {tuple(scale_factor)} must have {d} "
                             f"entries for a {d + 2}-D input")
        out = tuple(math.floor(n * s) for n, s in zip(in_size, sf))
        scales = (None,) * d if recompute_scale_factor else sf
    if min(out) < 1:
        raise ValueError(f"interpolate: output size {out} must be positive")
    return out, scales


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated PyTorch spelling of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Bilinear resize with ``align_corners=True`` (PyTorch's legacy behaviour)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
