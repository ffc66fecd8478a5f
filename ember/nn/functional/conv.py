"""Convolutions, 1-D to 3-D, plain and transposed: im2col and one big matrix product.

Forward: every receptive field becomes a column of the im2col matrix (C*K, N*L), and the
output is ``W (O, C*K) @ cols``. Backward of a stride-1 layer: gx is a convolution of gy
with the flipped, transposed kernel, i.e. one im2col matrix G of the padded gy and one
matmul, and the same G gives the weight gradient ``gw = x (C, N*H*W) @ G.T``. Strided (or
wide-kernel, narrow-input) layers use ``gw = gy @ cols(x).T`` and col2im instead: one
matmul, then a loop over kernel offsets adding strided slices.

Layout: inside this file activations are *channel-major*, an (N, C, *S) array handled
through its (C, N, *S) view and results handed back as (N, C, *S) views of (C, N, *S)
memory. Then im2col is one strided copy whose inner runs are image rows, ``W @ cols`` is
already the output's memory, and the next convolution needs no transposing copy.

Speed lives in ``ember.kernels``: the scratch buffers and padded frames, and for stride 1
on the CPU a route without im2col (``kernels.conv_cpu``: one in-place GEMM per kernel
offset), which :func:`_conv` tries first.
"""
from __future__ import annotations

import itertools
import math

from ember.autograd.function import Function
from ember.kernels import conv_cpu
from ember.kernels.frames import pad as _pad
from ember.kernels.frames import scratch as _scratch
from ember.nn.functional.utils import batched, ntuple, same_padding

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]


def _im2col(xpad, ksize, stride, dilation, out, xp, fresh=False):
    """(C, N, *S) -> (C*K, N*L): every receptive field as a column, in one strided copy
    (into the scratch buffer, or a new array when ``fresh``: one kept for backward)."""
    C, N = xpad.shape[:2]
    if all(k == 1 for k in ksize) and all(s == 1 for s in stride) \
            and tuple(xpad.shape[2:]) == tuple(out):
        return xpad.reshape(C, -1)  # a 1x1 convolution reads its input as it is
    st = xpad.strides
    d = len(ksize)
    win = xp.lib.stride_tricks.as_strided(
        xpad, (C, *ksize, N, *out),
        (st[0], *(st[2 + i] * dilation[i] for i in range(d)), st[1],
         *(st[2 + i] * stride[i] for i in range(d))))
    cols = xp.empty(win.shape, xpad.dtype) if fresh else _scratch(xp, "cols", win.shape,
                                                                    xpad.dtype)
    cols[...] = win
    return cols.reshape(C * math.prod(ksize), -1)


def _cols(xc, ksize, stride, pad, dilation, xp, out=None, fresh=False):
    """The im2col matrix (C*K, N*L) of channel-major ``xc`` and the output size ``out``."""
    xpad = _pad(xc, pad, xp)
    if out is None:
        out = _out_size(xc.shape[2:], ksize, stride, pad, dilation)
    return _im2col(xpad, ksize, stride, dilation, tuple(out), xp, fresh), tuple(out)


def _gmm(a, b, groups):
    """``a @ b`` with both split into ``groups`` blocks of rows: (M, K) @ (K, L) per group."""
    if groups == 1:
        return a @ b
    return (a.reshape(groups, a.shape[0] // groups, -1)
            @ b.reshape(groups, b.shape[0] // groups, -1)).reshape(a.shape[0], -1)


def _gmm_t(a, b, groups):
    """``a @ b.T`` group by group (a: (M, L), b: (K, L) in ``groups`` blocks of rows).

    These are the weight gradients, reductions over the long N*L axis. OpenBLAS runs the
    one whose output has few rows badly on 2 threads when another process shares the
    cores (seconds instead of milliseconds, measured), so the operand with more rows goes
    first and the (small) result is transposed back."""
    if groups == 1:
        return a @ b.T if a.shape[0] >= b.shape[0] else (b @ a.T).T
    a3 = a.reshape(groups, a.shape[0] // groups, -1)
    b3 = b.reshape(groups, b.shape[0] // groups, -1)
    if a3.shape[1] >= b3.shape[1]:
        return a3 @ b3.transpose(0, 2, 1)
    return (b3 @ a3.transpose(0, 2, 1)).transpose(0, 2, 1)


def _out_size(in_size, ksize, stride, pad, dilation):
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, d, (lo, hi) in zip(in_size, ksize, stride, dilation, pad))


def _conv(xc, w, stride, pad, dilation, groups, xp, keep_cols=False):
    """Channel-major convolution: (C, N, *S) -> (O, N, *out), and the im2col matrix when
    ``keep_cols`` and this route builds one (else None)."""
    ksize = w.shape[2:]
    out = _out_size(xc.shape[2:], ksize, stride, pad, dilation)
    y = conv_cpu.conv(xc, w, stride, pad, out, dilation, groups)
    if y is not None:
        return y, None
    cols, out = _cols(xc, ksize, stride, pad, dilation, xp, out, fresh=keep_cols)
    y = _gmm(w.reshape(w.shape[0], -1), cols, groups).reshape(w.shape[0], xc.shape[1], *out)
    return y, (cols if keep_cols else None)


def _flip_transpose(w, groups):
    """(O, C/g, *k) -> (C, O/g, *k) reversed in space: the kernel of the adjoint conv."""
    O, Cg, *k = w.shape
    wt = w.reshape(groups, O // groups, Cg, *k).swapaxes(1, 2).reshape(Cg * groups,
                                                                       O // groups, *k)
    return wt[(slice(None), slice(None)) + (slice(None, None, -1),) * len(k)]


def _back_padding(in_size, out, ksize, pad, dilation):
    """The padding of gy that makes the adjoint of a stride-1 convolution a convolution of
    gy with the flipped kernel, or None where it would be negative (padding > d(k-1))."""
    back = []
    for n, o, k, d, (lo, _) in zip(in_size, out, ksize, dilation, pad):
        left = d * (k - 1) - lo
        back.append((left, n - o - left + d * (k - 1)))
    return back if all(lo >= 0 and hi >= 0 for lo, hi in back) else None


def _adjoint_padding(w, in_size, out, stride, pad, dilation, groups):
    """:func:`_back_padding` for the im2col route, or None where col2im moves less memory
    (or strides > 1): the adjoint conv writes and reads an (O*K, N*H*W) matrix, col2im
    writes (C*K, N*L) and adds it back slice by slice, about twice its size again."""
    O, Cg, *ksize = w.shape
    if any(s != 1 for s in stride) or \
            O * math.prod(in_size) > 2 * Cg * groups * math.prod(out):
        return None
    return _back_padding(in_size, out, ksize, pad, dilation)


def _col2im(gyc, w, in_size, stride, pad, dilation, groups, xp):
    """The adjoint of :func:`_conv` by col2im: W.T @ gy, then every column added back to
    its receptive field (a loop over kernel offsets)."""
    O, Cg, *ksize = w.shape
    N, out = gyc.shape[1], gyc.shape[2:]
    C, K, L = Cg * groups, math.prod(ksize), math.prod(out)
    # Short image rows would make each offset's add a loop over tiny runs: then the batch
    # goes innermost, (O, *out, N), for two small transposing copies and long runs.
    inner = out[-1] < 16
    gy = xp.ascontiguousarray(xp.moveaxis(gyc, 1, -1)) if inner else gyc
    gcols = _scratch(xp, "cols", (groups, Cg * K, N * L), gyc.dtype)
    w3 = w.reshape(groups, O // groups, -1)
    xp.matmul(w3.transpose(0, 2, 1), gy.reshape(groups, O // groups, -1), out=gcols)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_size, pad))
    if inner:  # spatial axes 1..d, batch last
        gcols = gcols.reshape(C, *ksize, *out, N)
        gx = xp.zeros((C, *padded, N), gyc.dtype)
        lead = (slice(None),)
    else:
        gcols = gcols.reshape(C, *ksize, N, *out)
        gx = xp.zeros((C, N, *padded), gyc.dtype)
        lead = (slice(None), slice(None))
    for offset in itertools.product(*map(range, ksize)):
        window = tuple(slice(i * dl, i * dl + s * (o - 1) + 1, s)
                       for i, dl, s, o in zip(offset, dilation, stride, out))
        gx[lead + window] += gcols[(slice(None),) + offset]
    gx = gx[lead + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_size, pad))]
    return xp.ascontiguousarray(xp.moveaxis(gx, -1, 1)) if inner else gx


def _conv_backward(xc, gyc, w, in_size, stride, pad, dilation, groups, xp, need_x, need_w,
                   cols=None):
    """(gx, gw) of :func:`_conv`, channel-major, each only when asked for; ``cols`` is the
    forward's im2col matrix where it was kept (see :func:`_keeps_cols`).

    For stride 1, gx is a convolution of gy with the flipped kernel, over G, the im2col
    matrix of the padded gy, and G also gives the weight gradient as x (C, N*H*W) @ G.T:
    gw[o, c, i, j] = sum x[c, n, h, w] gy[o, n, h - i + p, w - j + p], and G's row
    (o, k-1-i, k-1-j) holds exactly those gy values. So backward builds one im2col matrix,
    not two (one of x for gw, one of gy for gx)."""
    O, Cg, *ksize = w.shape
    if not need_w:  # the adjoint alone (conv-transpose forward): a convolution of gy
        back = _back_padding(in_size, gyc.shape[2:], ksize, pad, dilation)
        gx = None if back is None else conv_cpu.conv(gyc, _flip_transpose(w, groups), stride,
                                                     back, in_size, dilation, groups)
        if gx is not None:
            return gx, None
    gx = gw = None
    back = _adjoint_padding(w, in_size, gyc.shape[2:], stride, pad, dilation, groups) \
        if need_x else None
    if back is not None:
        G, _ = _cols(gyc, ksize, stride, back, dilation, xp, out=in_size)
        gx = _gmm(_flip_transpose(w, groups).reshape(Cg * groups, -1), G, groups)
        gx = gx.reshape(Cg * groups, gyc.shape[1], *in_size)
        if need_w:  # (g, C/g, O/g * K) -> (O, C/g, *k), kernel flipped back
            gw = _gmm_t(xc.reshape(Cg * groups, -1), G, groups)
            gw = gw.reshape(groups, Cg, O // groups, *ksize).swapaxes(1, 2)
            gw = gw[(Ellipsis,) + (slice(None, None, -1),) * len(ksize)].reshape(w.shape)
        return gx, gw
    if need_w:
        if cols is None:
            cols, _ = _cols(xc, ksize, stride, pad, dilation, xp, out=gyc.shape[2:])
        gw = _gmm_t(gyc.reshape(O, -1), cols, groups).reshape(w.shape)
    if need_x:
        gx = _col2im(gyc, w, in_size, stride, pad, dilation, groups, xp)
    return gx, gw


KEEP_COLS_BYTES = 32 << 20


def _keeps_cols(x, w, stride, pad, dilation, groups, need_x):
    """Whether the forward should keep its im2col matrix for the weight gradient: where the
    backward would build the same matrix again (no shared adjoint im2col) and it is small
    (LeNet's layers, strided layers: one copy saved per step for a few MiB held)."""
    in_size = x.shape[2:]
    out = _out_size(in_size, w.shape[2:], stride, pad, dilation)
    size = math.prod(w.shape[1:]) * groups * x.shape[0] * math.prod(out) * x.itemsize
    return size <= KEEP_COLS_BYTES and (
        not need_x or _adjoint_padding(w, in_size, out, stride, pad, dilation, groups) is None)


def _adjoint(gyc, w, in_size, stride, pad, dilation, groups, xp):
    """The adjoint of :func:`_conv` (its input gradient): (O, N, *out) -> (C, N, *in)."""
    return _conv_backward(None, gyc, w, in_size, stride, pad, dilation, groups, xp,
                          True, False)[0]


def _add_bias(yc, b):
    if b is not None:
        yc += b.reshape((-1,) + (1,) * (yc.ndim - 1))
    return yc


def _bias_grad(gyc):
    return gyc.reshape(gyc.shape[0], -1).sum(axis=1)


class ConvNd(Function):
    """Cross-correlation of (N, C, *S) with (O, C/groups, *k), any number of spatial dims.
    One Function so that forward and backward share the im2col machinery (speed)."""

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        self.cfg = (stride, padding, dilation, groups)
        self.x_shape = x.shape
        need_x, need_w = self.needs_input_grad[:2]
        if need_x or need_w:
            self.save_for_backward(x if need_w else None, w)
        keep = need_w and _keeps_cols(x, w, *self.cfg, need_x)
        yc, self.cols = _conv(x.swapaxes(0, 1), w, stride, padding, dilation, groups,
                              self.xp, keep_cols=keep)
        return _add_bias(yc, b).swapaxes(0, 1)

    def backward(self, gy):
        x, w = self.saved
        gyc = gy.swapaxes(0, 1)
        need_x, need_w, need_b = self.needs_input_grad
        gx, gw = _conv_backward(None if x is None else x.swapaxes(0, 1), gyc, w,
                                self.x_shape[2:], *self.cfg, self.xp, need_x, need_w,
                                self.cols)
        self.cols = None
        return (None if gx is None else gx.swapaxes(0, 1)), gw, \
            (_bias_grad(gyc) if need_b else None)


class ConvTransposeNd(Function):
    """The adjoint of ConvNd (the gradient of a convolution with respect to its input), with
    weight (C_in, C_out/groups, *k) as in PyTorch."""

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, out_size):
        self.cfg = (stride, padding, dilation, groups)
        self.in_size = x.shape[2:]
        if self.needs_input_grad[0] or self.needs_input_grad[1]:
            self.save_for_backward(x if self.needs_input_grad[1] else None, w)
        yc = _adjoint(x.swapaxes(0, 1), w, out_size, *self.cfg, self.xp)
        return _add_bias(yc, b).swapaxes(0, 1)  # yc is freshly allocated: add in place

    def backward(self, gy):
        # a convolution of gy with w; its im2col matrix also gives the weight gradient
        x, w = self.saved
        stride, padding, dilation, groups = self.cfg
        gyc = gy.swapaxes(0, 1)
        need_x, need_w, need_b = self.needs_input_grad
        cols, _ = _cols(gyc, w.shape[2:], stride, padding, dilation, self.xp, out=self.in_size)
        gx = gw = None
        if need_x:
            gx = _gmm(w.reshape(w.shape[0], -1), cols, groups)
            gx = gx.reshape(w.shape[0], gy.shape[0], *self.in_size).swapaxes(0, 1)
        if need_w:
            xc = x.swapaxes(0, 1)
            gw = _gmm_t(xc.reshape(xc.shape[0], -1), cols, groups).reshape(w.shape)
        return gx, gw, (_bias_grad(gyc) if need_b else None)


# --- the functions users call --------------------------------------------------------------

_DIMS = {1: "L", 2: "H, W", 3: "D, H, W"}


def _check_input(x, channels, d, who):
    """Raise a ValueError naming ``who`` unless ``x`` is (N, channels, *S) or (channels, *S)."""
    shape, dims = tuple(x.shape), _DIMS[d]
    if len(shape) not in (d + 1, d + 2):
        raise ValueError(f"{who}: expected a {d + 2}-D input (N, {channels}, {dims}) or an "
                         f"unbatched {d + 1}-D input ({channels}, {dims}), got shape {shape}")
    if shape[-d - 1] != channels:
        raise ValueError(f"{who}: expected input with {channels} channels "
                         f"(N, {channels}, {dims}), got shape {shape}")


def _check_params(x, weight, bias, d, groups, out_channels, who):
    if weight.ndim != d + 2:
        raise ValueError(f"{who}: expected a {d + 2}-D weight, got shape {tuple(weight.shape)}")
    if groups < 1 or weight.shape[0] % groups or out_channels % groups:
        raise ValueError(f"{who}: groups={groups} must divide the channel counts of weight "
                         f"{tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{who}: expected bias of shape ({out_channels},), got "
                         f"{tuple(bias.shape)}")
    for t, what in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{who}: input ({x.dtype}) and {what} ({t.dtype}) must have the "
                            "same dtype")


def _conv_padding(padding, ksize, stride, dilation, who):
    """Per-dim (lo, hi) padding from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(ksize)
        if padding != "same":
            raise ValueError(f"{who}: padding must be an int, a tuple, 'valid' or 'same', got "
                             f"{padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{who}: padding='same' is not supported for strided convolutions")
        return same_padding(ksize, dilation)
    pad = ntuple(padding, len(ksize), "padding", who)
    if any(p < 0 for p in pad):
        raise ValueError(f"{who}: padding must be non-negative, got {pad}")
    return tuple((p, p) for p in pad)


def _convnd(d, who, input, weight, bias, stride, padding, dilation, groups):
    _check_params(input, weight, bias, d, groups, weight.shape[0], who)
    _check_input(input, weight.shape[1] * groups, d, who)
    ksize = tuple(weight.shape[2:])
    stride = ntuple(stride, d, "stride", who)
    dilation = ntuple(dilation, d, "dilation", who)
    pad = _conv_padding(padding, ksize, stride, dilation, who)
    size = tuple(input.shape[-d:])
    if any(n + lo + hi < dl * (k - 1) + 1
           for n, (lo, hi), dl, k in zip(size, pad, dilation, ksize)):
        raise ValueError(f"{who}: input of spatial size {size} with padding {pad} is smaller "
                         f"than the (dilated) kernel {ksize}")
    return batched(input, d, lambda x: ConvNd.apply(
        x, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups))


def _conv_transposend(d, who, input, weight, bias, stride, padding, output_padding, groups,
                      dilation):
    _check_params(input, weight, bias, d, groups, weight.shape[1] * groups, who)
    _check_input(input, weight.shape[0], d, who)
    ksize = tuple(weight.shape[2:])
    stride = ntuple(stride, d, "stride", who)
    dilation = ntuple(dilation, d, "dilation", who)
    output_padding = ntuple(output_padding, d, "output_padding", who)
    if isinstance(padding, str):
        raise ValueError(f"{who}: padding must be an int or a tuple, got {padding!r}")
    pad = _conv_padding(padding, ksize, stride, dilation, who)
    if any(op >= s and op >= dl for op, s, dl in zip(output_padding, stride, dilation)):
        raise ValueError(f"{who}: output_padding {output_padding} must be smaller than either "
                         f"stride {stride} or dilation {dilation}")
    out_size = tuple((n - 1) * s - lo - hi + dl * (k - 1) + op + 1 for n, s, (lo, hi), dl, k, op
                     in zip(input.shape[-d:], stride, pad, dilation, ksize, output_padding))
    if any(n < 1 for n in out_size):
        raise ValueError(f"{who}: output size {out_size} is too small (input "
                         f"{tuple(input.shape)}, padding {pad})")
    return batched(input, d, lambda x: ConvTransposeNd.apply(
        x, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups,
        out_size=out_size))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of (N, C_in, L) with weight (C_out, C_in/groups, k)."""
    return _convnd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of (N, C_in, H, W) with weight (C_out, C_in/groups, kh, kw).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only), as in PyTorch.
    """
    return _convnd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation of (N, C_in, D, H, W) with weight (C_out, C_in/groups, *k)."""
    return _convnd(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """1-D transposed convolution; weight (C_in, C_out/groups, k)."""
    return _conv_transposend(1, "conv_transpose1d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-D transposed convolution (the gradient of conv2d with respect to its input);
    weight (C_in, C_out/groups, kh, kw). Note PyTorch's order: groups before dilation."""
    return _conv_transposend(2, "conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """3-D transposed convolution; weight (C_in, C_out/groups, kd, kh, kw)."""
    return _conv_transposend(3, "conv_transpose3d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)
