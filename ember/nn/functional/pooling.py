"""Pooling, 1-D to 3-D: max (with indices), min, average, adaptive, global, max-unpooling.

Each pooling is one Function with its own backward (speed and memory: max pooling saves
only each output's argmax offset in its window, an int8). Forward copies every window into
a contiguous (K, N, C, *out) stack with one strided copy, then reduces over K offset by
offset: both are several times faster in NumPy than reducing strided slices or the window
axes of a reshaped view. Backward loops over the K kernel offsets, writing strided slices
of the input gradient. Inputs in channel-major memory (convolution outputs, see conv.py)
are processed and returned in that layout.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.backend import index_add
from ember.kernels.frames import pad as _pad
from ember.kernels.frames import scratch as _scratch
from ember.nn.functional.upsampling import AxisMatrices, area_matrix
from ember.nn.functional.utils import batched, ntuple
from ember.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "min_pool2d", "avg_pool1d",
           "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "adaptive_max_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "fractional_max_pool2d", "fractional_max_pool3d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices"]

_SHAPES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _window(offset, dilation, stride, out):
    """The strided slice of every window's element number ``offset`` (spatial dims)."""
    return (Ellipsis,) + tuple(slice(i * d, i * d + s * (o - 1) + 1, s)
                               for i, d, s, o in zip(offset, dilation, stride, out))


def _channel_major(x):
    """True when (N, C, *S) ``x`` lies in (C, N, *S) memory, as convolution outputs do."""
    return x.ndim > 2 and not x.flags.c_contiguous and x.swapaxes(0, 1).flags.c_contiguous


def _windows(x, kernel, stride, pads, dilation, out, value, xp):
    """Every window of ``x`` as a contiguous stack (K, A, B, *out), where (A, B) is (N, C)
    or, for a channel-major ``x``, (C, N): one strided copy, after which each reduction
    step reads contiguous memory (strided slices or a reduction over the window axes of a
    reshaped view are several times slower in NumPy)."""
    cm = _channel_major(x)
    a = _pad(x.swapaxes(0, 1) if cm else x, pads, xp, value, name="pool_pad")
    st, d = a.strides, len(kernel)
    win = xp.lib.stride_tricks.as_strided(
        a, (*kernel, *a.shape[:2], *out),
        (*(st[2 + i] * dilation[i] for i in range(d)), st[0], st[1],
         *(st[2 + i] * stride[i] for i in range(d))))
    cols = _scratch(xp, "pool", win.shape, x.dtype)
    cols[...] = win
    return cols.reshape((math.prod(kernel),) + cols.shape[d:]), cm


def _padded_zeros(shape, pads, kernel, stride, dilation, out, xp, dtype):
    """The (A, B, *padded) gradient buffer; uninitialised when the windows tile it."""
    padded = tuple(shape[:2]) + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads))
    tiles = all(d == 1 and k == s and o * s == n for k, s, d, o, n in
                zip(kernel, stride, dilation, out, padded[2:]))
    return (xp.empty if tiles else xp.zeros)(padded, dtype)


def _crop(gxpad, pads, size):
    return gxpad[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(size, pads))]


def _disjoint(kernel, stride, dilation):
    return all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def _to_nc(a, cm):
    """(A, B, ...) arrays back to (N, C, ...) views."""
    return a.swapaxes(0, 1) if cm else a


def _swap_nc(shape, cm):
    return (shape[1], shape[0]) + tuple(shape[2:]) if cm else tuple(shape)


class MaxPoolNd(Function):
    """Max over each window; backward routes each gradient to the window's first maximum
    (PyTorch's tie rule), whose offset in the window is all that is saved."""

    def forward(self, x, *, kernel, stride, pads, dilation, out, return_indices):
        xp = self.xp
        self.geometry = (kernel, stride, pads, dilation, out, x.shape)
        cols, self.cm = _windows(x, kernel, stride, pads, dilation, out, -np.inf, xp)
        if not (self.needs_input_grad[0] or return_indices):
            return _to_nc(cols.max(axis=0), self.cm)
        y = cols[0].copy()
        idx = xp.zeros(y.shape, np.int8 if cols.shape[0] < 128 else np.int32)
        better, step = xp.empty(y.shape, bool), xp.empty_like(idx)
        for k in range(1, cols.shape[0]):
            # idx = the last k that beat the running max = the first maximum's offset
            xp.greater(cols[k], y, out=better)
            xp.multiply(better, k, out=step)
            xp.maximum(idx, step, out=idx)
            xp.maximum(y, cols[k], out=y)  # (a NaN propagates, as in PyTorch)
        self.idx = idx
        y = _to_nc(y, self.cm)
        if return_indices:
            flat = _flat_indices(idx, kernel, stride, pads, dilation, x.shape[2:], xp)
            return y, _to_nc(flat, self.cm)
        return y

    def backward(self, gy, *_):
        xp = self.xp
        kernel, stride, pads, dilation, out, x_shape = self.geometry
        gx = _padded_zeros(_swap_nc(x_shape, self.cm), pads, kernel, stride, dilation, out, xp,
                           gy.dtype)
        g = xp.ascontiguousarray(_to_nc(gy, self.cm))  # the layout of idx: aligned loops
        disjoint = _disjoint(kernel, stride, dilation)
        for k, offset in enumerate(itertools.product(*map(range, kernel))):
            window = _window(offset, dilation, stride, out)
            if disjoint:  # (an inf or NaN gradient also reaches the window's other cells)
                xp.multiply(g, self.idx == k, out=gx[window])
            else:
                gx[window] += g * (self.idx == k)
        return _to_nc(_crop(gx, pads, x_shape[2:]), self.cm)


def _flat_indices(idx, kernel, stride, pads, dilation, size, xp):
    """Window offsets -> PyTorch's indices: flat positions in each (unpadded) input plane."""
    flat = 0
    d = len(kernel)
    for a in range(d):
        along = xp.arange(idx.shape[2 + a]).reshape((-1,) + (1,) * (d - 1 - a))
        offset = (idx // math.prod(kernel[a + 1:])) % kernel[a]
        pos = along * stride[a] - pads[a][0] + offset.astype(np.int64) * dilation[a]
        flat = flat + pos * math.prod(size[a + 1:])
    return flat.astype(np.int64)


class AvgPoolNd(Function):
    """Mean over each window (the divisor per output follows PyTorch's padding rules)."""

    def forward(self, x, *, kernel, stride, pads, out, divisor):
        xp = self.xp
        self.geometry = (kernel, stride, pads, out, x.shape)
        self.divisor = divisor if np.isscalar(divisor) else xp.asarray(divisor, x.dtype)
        cols, self.cm = _windows(x, kernel, stride, pads, (1,) * len(kernel), out, 0, xp)
        y = cols.sum(axis=0)  # adds offset after offset: PyTorch's summation order
        y /= self.divisor
        return _to_nc(y, self.cm)

    def backward(self, gy):
        xp = self.xp
        kernel, stride, pads, out, x_shape = self.geometry
        ones = (1,) * len(kernel)
        gx = _padded_zeros(_swap_nc(x_shape, self.cm), pads, kernel, stride, ones, out, xp,
                           gy.dtype)
        g = _to_nc(gy, self.cm) / self.divisor
        disjoint = _disjoint(kernel, stride, ones)
        for offset in itertools.product(*map(range, kernel)):
            window = _window(offset, ones, stride, out)
            if disjoint:
                gx[window] = g
            else:
                gx[window] += g
        return _to_nc(_crop(gx, pads, x_shape[2:]), self.cm)


class MaxUnpoolNd(Function):
    """Scatter each value to its recorded flat index in a zero (N, C, *size) output."""

    def forward(self, x, indices, *, size):
        xp = self.xp
        N, C = x.shape[:2]
        self.rows = xp.arange(N * C)[:, None]
        self.cols = indices.reshape(N * C, -1)
        y = xp.zeros((N * C, math.prod(size)), x.dtype)
        y[self.rows, self.cols] = x.reshape(N * C, -1)
        self.x_shape = x.shape
        return y.reshape((N, C) + tuple(size))

    def backward(self, gy):
        g = gy.reshape(self.rows.shape[0], -1)[self.rows, self.cols]
        return g.reshape(self.x_shape), None


# --- geometry and checks ---------------------------------------------------------------

def _check_rank(x, d, who):
    if x.ndim not in (d + 1, d + 2):
        raise ValueError(f"{who}: expected a {d + 2}-D input (N, C, {_SHAPES[d]}) or an "
                         f"unbatched {d + 1}-D input (C, {_SHAPES[d]}), got shape "
                         f"{tuple(x.shape)}")


def _geometry(x, d, kernel_size, stride, padding, dilation, ceil_mode, who, max_pad):
    """Kernel, stride, dilation, output size and per-dim (lo, hi) padding, as PyTorch."""
    _check_rank(x, d, who)
    kernel = ntuple(kernel_size, d, "kernel_size", who)
    stride = kernel if stride is None or stride == () or stride == [] else \
        ntuple(stride, d, "stride", who)
    padding = ntuple(padding, d, "padding", who)
    dilation = ntuple(dilation, d, "dilation", who)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{who}: kernel_size {kernel}, stride {stride} and dilation "
                         f"{dilation} must be positive and padding {padding} non-negative")
    size = tuple(x.shape[-d:])
    out, pads = [], []
    for n, k, s, p, dl in zip(size, kernel, stride, padding, dilation):
        if p > max_pad(k, dl):
            raise ValueError(f"{who}: padding {padding} should be at most half of the "
                             f"kernel size {kernel}")
        span = n + 2 * p - dl * (k - 1) - 1
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1  # the last window must start inside the input or the left padding
        if o < 1:
            raise ValueError(f"{who}: input of spatial size {size} is too small for kernel "
                             f"{kernel} with padding {padding} and dilation {dilation}")
        out.append(o)
        pads.append((p, max(0, (o - 1) * s + dl * (k - 1) + 1 - n - p)))
    return kernel, stride, tuple(pads), dilation, tuple(out)


def _max_pool(d, who, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    kernel, stride, pads, dilation, out = _geometry(
        x, d, kernel_size, stride, padding, dilation, ceil_mode, who,
        lambda k, dl: (dl * (k - 1) + 1) // 2)
    return batched(x, d, lambda x: MaxPoolNd.apply(
        x, kernel=kernel, stride=stride, pads=pads, dilation=dilation, out=out,
        return_indices=return_indices))


def _avg_pool(d, who, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    kernel, stride, pads, _, out = _geometry(x, d, kernel_size, stride, padding, 1,
                                             ceil_mode, who, lambda k, dl: k // 2)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{who}: divisor_override must be non-zero")
    divisor = _avg_divisor(x.shape[-d:], kernel, stride, pads, out, count_include_pad,
                           divisor_override)
    return batched(x, d, lambda x: AvgPoolNd.apply(x, kernel=kernel, stride=stride,
                                                    pads=pads, out=out, divisor=divisor))


def _avg_divisor(size, kernel, stride, pads, out, count_include_pad, divisor_override):
    """Per-output divisors: windows count the padding (or not) but never the overhang
    that ceil_mode adds past it. A Python number when they are all equal."""
    if divisor_override:
        return float(divisor_override)
    div = np.ones((), np.int64)
    for n, k, s, (lo, _), o in zip(size, kernel, stride, pads, out):
        start = np.arange(o) * s - lo
        end = np.minimum(start + k, n + lo)
        length = end - start if count_include_pad else \
            np.minimum(end, n) - np.maximum(start, 0)
        div = np.multiply.outer(div, length)
    return float(div.flat[0]) if (div == div.flat[0]).all() else div


def _adaptive_windows(n, o):
    """PyTorch's adaptive windows: [floor(i*n/o), ceil((i+1)*n/o)) for i < o."""
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)


def _adaptive_sizes(x, d, output_size, who):
    _check_rank(x, d, who)
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * d
    output_size = tuple(output_size)
    if len(output_size) != d:
        raise ValueError(f"{who}: output_size must be an int or a tuple of {d}, got "
                         f"{output_size}")
    size = tuple(x.shape[-d:])
    out = tuple(n if o is None else int(o) for n, o in zip(size, output_size))
    if min(out) < 1 or min(size) < 1:
        raise ValueError(f"{who}: output_size {out} and input size {size} must be positive")
    return size, out


def _adaptive_avg_pool(d, who, x, output_size):
    size, out = _adaptive_sizes(x, d, output_size, who)
    if all(o == 1 for o in out):  # global average pooling
        return x.mean(dim=tuple(range(-d, 0)), keepdim=True)
    if all(n % o == 0 for n, o in zip(size, out)):
        kernel = tuple(n // o for n, o in zip(size, out))
        return _avg_pool(d, who, x, kernel, kernel, 0, False, True, None)
    # overlapping windows: average along each axis in turn
    return AxisMatrices.apply(x, mats=[area_matrix(n, o) for n, o in zip(size, out)])


def _adaptive_max_pool(d, who, x, output_size, return_indices):
    size, out = _adaptive_sizes(x, d, output_size, who)
    if all(n % o == 0 for n, o in zip(size, out)):
        kernel = tuple(n // o for n, o in zip(size, out))
        return _max_pool(d, who, x, kernel, kernel, 0, 1, False, return_indices)
    return batched(x, d, lambda x: AdaptiveMaxPoolNd.apply(
        x, out=out, return_indices=return_indices))


class AdaptiveMaxPoolNd(Function):
    """Max over PyTorch's adaptive windows (variable sizes, possibly overlapping): gather
    each window padded to the longest by repeating its last element, then reduce."""

    def forward(self, x, *, out, return_indices):
        xp = self.xp
        d, size = len(out), x.shape[2:]
        index = []
        for a, (n, o) in enumerate(zip(size, out)):
            start, end = _adaptive_windows(n, o)
            pos = np.minimum(start[:, None] + np.arange((end - start).max()), end[:, None] - 1)
            shape = [1] * (2 * d)
            shape[2 * a:2 * a + 2] = pos.shape
            index.append(pos.reshape(shape))
        flat = sum(p * math.prod(size[a + 1:]) for a, p in enumerate(index))  # (o1,k1,o2,..)
        order = tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2))
        flat = xp.asarray(flat.transpose(order).reshape(out + (-1,)))  # (*out, K)
        xf = x.reshape(x.shape[:2] + (-1,))
        windows = xf[..., flat]  # (N, C, *out, K)
        arg = windows.argmax(axis=-1)[..., None]
        y = xp.take_along_axis(windows, arg, axis=-1)[..., 0]
        self.flat_idx = xp.take_along_axis(xp.broadcast_to(flat, windows.shape), arg,
                                           axis=-1)[..., 0]
        self.x_shape = x.shape
        return (y, self.flat_idx.astype(np.int64)) if return_indices else y

    def backward(self, gy, *_):
        N, C = self.x_shape[:2]
        gx = self.xp.zeros((N * C, math.prod(self.x_shape[2:])), gy.dtype)
        rows = self.xp.arange(N * C)[:, None]
        index_add(gx, (rows, self.flat_idx.reshape(N * C, -1)), gy.reshape(N * C, -1))
        return gx.reshape(self.x_shape)


def _max_unpool(d, who, x, indices, kernel_size, stride, padding, output_size):
    _check_rank(x, d, who)
    kernel = ntuple(kernel_size, d, "kernel_size", who)
    stride = kernel if stride is None else ntuple(stride, d, "stride", who)
    padding = ntuple(padding, d, "padding", who)
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{who}: indices of shape {tuple(indices.shape)} must match the "
                         f"input's shape {tuple(x.shape)}")
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in
                    zip(x.shape[-d:], stride, padding, kernel))
    size = default if output_size is None else tuple(output_size)[-d:]
    if len(size) != d or any(abs(a - b) >= s for a, b, s in zip(size, default, stride)):
        raise ValueError(f"{who}: output_size {tuple(output_size)} must be within a stride "
                         f"{stride} of the default size {default}")
    if indices.numel() and not 0 <= int(indices.min()) <= int(indices.max()) < math.prod(size):
        bad = int(indices.max()) if int(indices.min()) >= 0 else int(indices.min())
        raise ValueError(f"{who}: index {bad} is out of range for an output of spatial size "
                         f"{size}")
    if x.ndim == d + 2:
        return MaxUnpoolNd.apply(x, indices, size=size)
    return MaxUnpoolNd.apply(x.unsqueeze(0), indices.unsqueeze(0), size=size).squeeze(0)


# --- the functions users call ------------------------------------------------------------

def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, L); ``return_indices`` adds flat argmax indices."""
    return _max_pool(1, "max_pool1d", input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, H, W); ``stride`` defaults to ``kernel_size``;
    ``return_indices`` also returns argmax positions (flat in each H*W plane)."""
    return _max_pool(2, "max_pool2d", input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over sliding windows of (N, C, D, H, W)."""
    return _max_pool(3, "max_pool3d", input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def min_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Min over sliding windows (not in PyTorch): ``-max_pool2d(-input)``, same arguments."""
    out = max_pool2d(-input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)
    return (-out[0], out[1]) if return_indices else -out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over sliding windows of (N, C, L)."""
    return _avg_pool(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over sliding windows of (N, C, H, W); padded zeros count in the divisor unless
    ``count_include_pad=False``; ``divisor_override`` replaces the divisor."""
    return _avg_pool(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over sliding windows of (N, C, D, H, W)."""
    return _avg_pool(3, "avg_pool3d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def adaptive_avg_pool1d(input, output_size):
    """Average to a fixed length with PyTorch's adaptive windows."""
    return _adaptive_avg_pool(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input, output_size):
    """Average to a fixed (H, W) (an int, a pair, ``None`` keeps that size); ``1`` is
    global average pooling."""
    return _adaptive_avg_pool(2, "adaptive_avg_pool2d", input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool(3, "adaptive_avg_pool3d", input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool(1, "adaptive_max_pool1d", input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max to a fixed (H, W) with PyTorch's adaptive windows."""
    return _adaptive_max_pool(2, "adaptive_max_pool2d", input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool(3, "adaptive_max_pool3d", input, output_size, return_indices)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(1, "max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d: values go back to their ``indices``, zeros elsewhere."""
    return _max_unpool(2, "max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(3, "max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size)


def _with_indices(pool):
    """PyTorch's ``<pool>_with_indices``: the pooling with ``return_indices=True``."""
    def with_indices(input, *args, **kwargs):
        kwargs.pop("return_indices", None)
        return pool(input, *args, return_indices=True, **kwargs)
    with_indices.__name__ = f"{pool.__name__}_with_indices"
    with_indices.__doc__ = f"``{pool.__name__}(..., return_indices=True)``: (values, indices)."
    return with_indices


max_pool1d_with_indices = _with_indices(max_pool1d)
max_pool2d_with_indices = _with_indices(max_pool2d)
max_pool3d_with_indices = _with_indices(max_pool3d)
adaptive_max_pool1d_with_indices = _with_indices(adaptive_max_pool1d)
adaptive_max_pool2d_with_indices = _with_indices(adaptive_max_pool2d)
adaptive_max_pool3d_with_indices = _with_indices(adaptive_max_pool3d)


def _lp_pool(d, avg_pool, input, norm_type, kernel_size, stride, ceil_mode):
    """PyTorch's formula: ``(sum over the window of x**p) ** (1/p)``, as the window mean
    times the window size; ``sign(s) * relu(|s|)`` keeps PyTorch's gradient at 0."""
    kernel = ntuple(kernel_size, d, "kernel_size", f"lp_pool{d}d")
    out = avg_pool(input.pow(norm_type), kernel, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(math.prod(kernel)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (N, C, L): ``(sum x**p) ** (1/p)`` per window."""
    return _lp_pool(1, avg_pool1d, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (N, C, H, W): ``(sum x**p) ** (1/p)`` per window (p = 1 is
    sum pooling, p -> inf tends to max pooling)."""
    return _lp_pool(2, avg_pool2d, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (N, C, D, H, W)."""
    return _lp_pool(3, avg_pool3d, input, norm_type, kernel_size, stride, ceil_mode)


def _intervals(xp, sample, n, out, k):
    """PyTorch's pseudo-random window starts (Graham, 2014) for ``out`` windows of ``k``
    over ``n``: ``sample`` (any shape, in [0, 1)) -> starts of shape (*sample.shape, out)."""
    alpha = (n - k) / (out - 1) if out > 1 else 0.0
    u, i = sample[..., None], xp.arange(out - 1, dtype=sample.dtype)
    starts = ((i + u) * alpha).astype(xp.int64) - (u * alpha).astype(xp.int64)
    last = xp.full(sample.shape + (1,), n - k, xp.int64)
    return xp.concatenate([starts, last], axis=-1)


def _fractional_max_pool(d, input, kernel_size, output_size, output_ratio, return_indices,
                         samples):
    who = f"fractional_max_pool{d}d"
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{who}: expected a {d + 2}-D input (N, C, {_SHAPES[d]}) or an "
                         f"unbatched {d + 1}-D input, got shape {tuple(input.shape)}")
    if input.ndim == d + 1:
        out = _fractional_max_pool(d, input.unsqueeze(0), kernel_size, output_size,
                                   output_ratio, return_indices, samples)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    kernel = ntuple(kernel_size, d, "kernel_size", who)
    size = tuple(input.shape[2:])
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{who}: give output_size or output_ratio")
        ratio = (output_ratio,) * d if isinstance(output_ratio, (int, float)) else \
            tuple(output_ratio)
        output_size = tuple(int(n * r) for n, r in zip(size, ratio))
    out = ntuple(output_size, d, "output_size", who)
    if any(o + k - 1 > n for o, k, n in zip(out, kernel, size)):
        raise ValueError(f"{who}: output_size {out} with kernel_size {kernel} needs an input "
                         f"of at least {tuple(o + k - 1 for o, k in zip(out, kernel))}, got "
                         f"{size}")
    xp = backend.get_array_module(input.array)
    n, c = input.shape[:2]
    if samples is None:
        samples = backend.generator(input.device).random((n, c, d)).astype(input.dtype)
    else:
        samples = samples.array if isinstance(samples, Tensor) else xp.asarray(samples)
    # PyTorch's order of the samples: width first (2-D), time, height, width (3-D)
    order = (1, 0) if d == 2 else (0, 1, 2)
    index = []
    for axis in range(d):
        starts = _intervals(xp, samples[..., order[axis]], size[axis], out[axis],
                            kernel[axis])  # (N, C, out)
        idx = starts[..., None] + xp.arange(kernel[axis])  # (N, C, out, k)
        shape = [n, c] + [1] * d + [1] * d
        shape[2 + axis], shape[2 + d + axis] = out[axis], kernel[axis]
        index.append(idx.reshape(shape))
    batch = (xp.arange(n).reshape((n,) + (1,) * (2 * d + 1)),
             xp.arange(c).reshape((1, c) + (1,) * (2 * d)))
    key = tuple(Tensor._make(a) for a in (*batch, *index))
    windows = input[key].reshape(n, c, *out, -1)  # (N, C, *out, prod(kernel))
    values, arg = windows.max(-1)
    if not return_indices:
        return values
    flat = index[0]
    for axis in range(1, d):
        flat = flat * size[axis] + index[axis]
    flat = xp.broadcast_to(flat, (n, c, *out, *kernel)).reshape(n, c, *out, -1)
    picked = xp.take_along_axis(flat, arg.array[..., None], -1)[..., 0]
    return values, Tensor._make(picked)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Max over pseudo-random overlapping (kh, kw) windows placed to give ``output_size``
    (or ``input size * output_ratio``); ``_random_samples`` (N, C, 2) in [0, 1) fix the
    placement (drawn from ember's generator when None), as PyTorch."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """3-D fractional max pooling; ``_random_samples`` (N, C, 3)."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


fractional_max_pool2d_with_indices = _with_indices(fractional_max_pool2d)
fractional_max_pool3d_with_indices = _with_indices(fractional_max_pool3d)
