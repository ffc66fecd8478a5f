"""Convolutions, 1-D to 3-D, plain and transposed: im2col and one big matrix product, or,
for stride 1 on the CPU, one in-place product per kernel offset (see "stride 1" below).

Layout. Inside this file activations are *channel-major*: an (N, C, *S) array is handled
through its (C, N, *S) view, and results are handed back as (N, C, *S) views of (C, N, *S)
memory. Then the im2col matrix (C*K, N*L) is one strided copy whose inner runs are image
rows, ``W (O, C*K) @ cols (C*K, N*L)`` is already the output's memory, and the next
convolution finds its input channel-major without a transposing copy (NumPy's elementwise
ops, batch norm and pooling keep the memory order of their input). This measured faster
than NCHW im2col with a transposed output and than NHWC.

Backward, stride 1: gx is a convolution of gy with the flipped, transposed kernel, one
im2col matrix G of the padded gy and one matmul, and the same G gives the weight gradient,
``gw = x (C, N*H*W) @ G.T``: one im2col per backward, and nothing kept from the forward but
its input (saving the forward's columns would cost K times the input's memory per layer).
Strided (or wide-kernel, narrow-input) layers use ``gw = gy @ cols(x).T`` and col2im: one
matmul, then a loop over kernel offsets adding strided slices.

Large temporaries (padded inputs, im2col matrices) live in per-thread scratch buffers that
are reused: a fresh 75 MB array costs more in page faults than the copy into it.
"""
from __future__ import annotations

import itertools
import math
import threading

import numpy as np

from ember.autograd.function import Function
from ember.ops import _blas

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]

_tls = threading.local()


def _scratch(xp, name, shape, dtype):
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


def _pad(xc, pad, xp, value=0, name="pad"):
    """(C, N, *S) copied into a (C, N, *(S + lo + hi)) scratch array bordered by ``value``."""
    if not any(lo or hi for lo, hi in pad):
        return xc
    C, N, *S = xc.shape
    out = _scratch(xp, name, (C, N, *(n + lo + hi for n, (lo, hi) in zip(S, pad))), xc.dtype)
    _place(xc, out, pad, value)
    return out


def _place(xc, out, pad, value=0):
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
    frame = [n + lo + hi for n, (lo, hi) in zip(xc.shape[2:], pad)]
    out = _out_size(xc.shape[2:], ksize, stride, pad, dilation)
    if _use_shifted(xp, xc.dtype, w.shape[1], ksize, stride, frame, out):
        return _conv_shifted(xc, w, pad, out, dilation, groups), None
    cols, out = _cols(xc, ksize, stride, pad, dilation, xp, out, fresh=keep_cols)
    y = _gmm(w.reshape(w.shape[0], -1), cols, groups).reshape(w.shape[0], xc.shape[1], *out)
    return y, (cols if keep_cols else None)


# --- stride 1 on the CPU: one GEMM per kernel offset, no im2col ----------------------------
#
# Lay the images out one after another in a flat buffer F (C, lead + N*slot + tail), each in
# a slot of its own rows plus the zero rows that pad it. The output at flat position p needs
# F[:, p + off] for each kernel offset's flat distance ``off``, so the whole output is
# sum_k W[:, :, k] @ F[:, off_k : off_k + L] over every position p < L = N*slot, and the
# rows between images are cropped off. Each window is a view that BLAS reads in place and
# the products accumulate in the output (beta=1): the im2col copy, as costly as the matmul
# itself on two cores, never happens.
#
# Two things keep the padding (copies and wasted columns) small. Neighbouring images share
# their zero rows (a 3x3 "same" layer has one zero row per image, not two). And image rows
# are not padded left and right: a window that runs off the left edge of a row reads the
# end of the row above, so those columns are zeroed while that kernel column's products
# run, and restored after; likewise on the right. Slot and output rows are then as wide as
# the image, each image one contiguous block: the copy in is a block copy, and the output
# is a view of the product that skips the rows between images (no copy out).

ROUTE = "auto"  # or "shifted" / "im2col" wherever possible: tests check both against torch
MIN_CHANNELS = 8  # input channels (per group) below which im2col's small matrix wins


def _use_shifted(xp, dtype, cin, ksize, stride, frame, out):
    """Whether to take the per-offset route: stride 1 on the CPU with NumPy's BLAS found,
    and (measured) not for narrow inputs, whose im2col matrix is small, nor for frames much
    larger than the output."""
    if ROUTE == "im2col" or xp is not np or not _blas.available(dtype) \
            or any(s != 1 for s in stride):
        return False
    return ROUTE == "shifted" or (cin >= MIN_CHANNELS and math.prod(ksize) > 1
                                  and math.prod(frame) <= 2 * math.prod(out))


def _slot_layout(in_size, ksize, pad, dilation):
    """How :func:`_conv_shifted` lays out one image: the padding written around it, the
    slot's shape, each kernel offset's flat distance and its column shift.

    The first and the last spatial axes are padded implicitly wherever the output is no
    larger than the input there: shared zero rows after each image (first axis), column
    zeroing (last axis). Other axes, and those two where the output is larger, get zeros
    written around the image as :func:`_pad` does."""
    d = len(in_size)
    written, implicit = list(pad), [(0, 0)] * d
    for i in {0, d - 1}:
        if sum(pad[i]) <= dilation[i] * (ksize[i] - 1):
            written[i], implicit[i] = (0, 0), pad[i]
    slot = [n + lo + hi for n, (lo, hi) in zip(in_size, written)]
    if d > 1:
        slot[0] += max(implicit[0])  # zero rows after the image, shared with the next
    steps = [math.prod(slot[i + 1:]) for i in range(d)]
    kernel = list(itertools.product(*map(range, ksize)))
    offsets = [sum((j * dl - lo) * s for j, dl, (lo, _), s in zip(idx, dilation, implicit, steps))
               for idx in kernel]
    shifts = [idx[-1] * dilation[-1] - implicit[-1][0] for idx in kernel]
    return written, slot, offsets, shifts


def _group_rows(groups, rows_a, rows_b):
    return [(slice(g * rows_a, (g + 1) * rows_a), slice(g * rows_b, (g + 1) * rows_b))
            for g in range(groups)]


def _row_stride(n, itemsize):
    """A row length >= n whose byte stride is not a multiple of 4 KiB: OpenBLAS runs 2-3x
    slower writing an output whose rows alias in cache (measured with 16 rows of
    2**15 * 33 bytes)."""
    return n + (-n) % 16 + 4160 // itemsize


CHUNK_BYTES = 4 << 20  # output columns per pass where the output outgrows the cache


def _chunk(rows, length, itemsize):
    """Output columns per pass: all at once, unless the output (read and written again by
    every offset's product) exceeds 16 MiB; then 4 MiB at a time, so that it stays in cache
    across the offsets (ResNet's 16@32x32 layers at batch 256: their products 16.0 -> 13.5
    ms, the whole layer 23.3 -> 20.0 ms, measured; no gain at 9 MiB)."""
    if rows * length * itemsize <= 4 * CHUNK_BYTES:
        return max(1, length)
    return max(1024, CHUNK_BYTES // (rows * itemsize))


def _edge_columns(shift, width, out_width):
    """The image columns that windows shifted by ``shift`` columns read from the
    neighbouring row instead of padding, and that must read as zeros for them."""
    return range(max(0, width + shift), width) if shift < 0 else \
        range(0, min(width, out_width + shift - width))


def _restore(rows, r, edge, kept):
    """Put the kept edge columns back into rows ``r``."""
    for col, values in zip(edge, kept):
        rows[:, r, col] = values[:, r]


def _conv_shifted(xc, w, pad, out, dilation, groups):
    """Stride-1 convolution of channel-major (C, N, *S) -> (O, N, *out), a view."""
    C, N, *S = xc.shape
    O, Cg, *ksize = w.shape
    written, slot, offsets, shifts = _slot_layout(S, ksize, pad, dilation)
    lead, tail, L = max(0, -min(offsets)), max(0, max(offsets)), N * math.prod(slot)
    F = _scratch(np, "pad", (C, _row_stride(lead + L + tail, xc.itemsize)), xc.dtype)
    F[:, :lead] = 0
    F[:, lead + L:] = 0
    _place(xc, F[:, lead:lead + L].reshape(C, N, *slot), written)
    full = np.empty((O, _row_stride(L, xc.itemsize)), xc.dtype)[:, :L]
    wk = np.ascontiguousarray(np.moveaxis(w.reshape(O, Cg, -1), 2, 1))  # (O, K, C/g)
    width = slot[-1]
    rows = F[:, lead:lead + L].reshape(C, -1, width)  # every row of every slot
    order = sorted(set(shifts), key=lambda e: (e > 0, abs(e)))  # 0, -1, -2.., 1, 2..
    edges = {e: _edge_columns(e, width, out[-1]) for e in order}
    # the edge columns as they are, to put back before other windows read them
    edge = sorted(set().union(*edges.values()))
    kept = np.stack([rows[..., col] for col in edge]) if edge else None
    step = _chunk(O, L, xc.itemsize)
    for a in range(0, L, step):
        b = min(L, a + step)
        r = slice(max(0, (a + offsets[0]) // width), (b + offsets[-1]) // width + 1)
        zeroed, beta = False, 0.0
        for e in order:
            if zeroed and e > 0:  # the left-hand windows are done: restore their columns
                _restore(rows, r, edge, kept)
                zeroed = False
            for col in edges[e]:  # one column at a time: NumPy's inner loop runs down it
                rows[:, r, col] = 0
                zeroed = True
            for k in (k for k, s in enumerate(shifts) if s == e):
                for rows_o, rows_c in _group_rows(groups, O // groups, Cg):
                    off = lead + offsets[k]
                    _blas.gemm(wk[rows_o, k], F[rows_c, off + a:off + b], full[rows_o, a:b],
                               beta)
                beta = 1.0
        if zeroed and b < L:  # the next chunk reads these rows again
            _restore(rows, r, edge, kept)
    return full.reshape(O, N, *slot)[(slice(None), slice(None)) + tuple(map(slice, out))]


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
        frame = None if back is None else [o + lo + hi for o, (lo, hi) in zip(gyc.shape[2:], back)]
        if back is not None and _use_shifted(xp, gyc.dtype, O // groups, ksize, stride, frame,
                                             in_size):
            return _conv_shifted(gyc, _flip_transpose(w, groups), back, in_size, dilation,
                                 groups), None
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


def _ntuple(value, d, what, who):
    if isinstance(value, (int, np.integer)):
        return (int(value),) * d
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * d
    if len(value) != d:
        raise ValueError(f"{who}: {what} must be an int or a tuple of {d} ints, got {value}")
    return value


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
        # PyTorch puts the odd element of an even total on the right
        return tuple((dl * (k - 1) // 2, dl * (k - 1) - dl * (k - 1) // 2)
                     for k, dl in zip(ksize, dilation))
    pad = _ntuple(padding, len(ksize), "padding", who)
    if any(p < 0 for p in pad):
        raise ValueError(f"{who}: padding must be non-negative, got {pad}")
    return tuple((p, p) for p in pad)


def _batched(x, d, fn):
    """Run ``fn`` on a batched input, adding and removing the batch dim if there is none."""
    if x.ndim == d + 2:
        return fn(x)
    return fn(x.unsqueeze(0)).squeeze(0)


def _convnd(d, who, input, weight, bias, stride, padding, dilation, groups):
    _check_params(input, weight, bias, d, groups, weight.shape[0], who)
    _check_input(input, weight.shape[1] * groups, d, who)
    ksize = tuple(weight.shape[2:])
    stride = _ntuple(stride, d, "stride", who)
    dilation = _ntuple(dilation, d, "dilation", who)
    pad = _conv_padding(padding, ksize, stride, dilation, who)
    size = tuple(input.shape[-d:])
    if any(n + lo + hi < dl * (k - 1) + 1
           for n, (lo, hi), dl, k in zip(size, pad, dilation, ksize)):
        raise ValueError(f"{who}: input of spatial size {size} with padding {pad} is smaller "
                         f"than the (dilated) kernel {ksize}")
    return _batched(input, d, lambda x: ConvNd.apply(
        x, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups))


def _conv_transposend(d, who, input, weight, bias, stride, padding, output_padding, groups,
                      dilation):
    _check_params(input, weight, bias, d, groups, weight.shape[1] * groups, who)
    _check_input(input, weight.shape[0], d, who)
    ksize = tuple(weight.shape[2:])
    stride = _ntuple(stride, d, "stride", who)
    dilation = _ntuple(dilation, d, "dilation", who)
    output_padding = _ntuple(output_padding, d, "output_padding", who)
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
    return _batched(input, d, lambda x: ConvTransposeNd.apply(
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
