"""Stride-1 convolution on the CPU: one in-place GEMM per kernel offset, no im2col.

The plain route (``nn/functional/conv.py``) copies every receptive field into an im2col
matrix and multiplies once; on two cores that copy costs as much as the product. This
route reads each kernel offset's window of the input in place instead.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ember.kernels import blas
from ember.kernels.frames import place, scratch

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


def _applies(xc, cin, ksize, frame, out):
    """Whether to take the per-offset route: on the CPU with NumPy's BLAS found, and
    (measured) not for narrow inputs, whose im2col matrix is small, nor for frames much
    larger than the output."""
    if ROUTE == "im2col" or not isinstance(xc, np.ndarray) or not blas.available(xc.dtype):
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
    F = scratch(np, "pad", (C, _row_stride(lead + L + tail, xc.itemsize)), xc.dtype)
    F[:, :lead] = 0
    F[:, lead + L:] = 0
    place(xc, F[:, lead:lead + L].reshape(C, N, *slot), written)
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
                    blas.gemm(wk[rows_o, k], F[rows_c, off + a:off + b], full[rows_o, a:b],
                               beta)
                beta = 1.0
        if zeroed and b < L:  # the next chunk reads these rows again
            _restore(rows, r, edge, kept)
    return full.reshape(O, N, *slot)[(slice(None), slice(None)) + tuple(map(slice, out))]


def conv(xc, w, stride, pad, out, dilation, groups):
    """Channel-major convolution (C, N, *S) -> (O, N, *out) by this route, or None where it
    does not apply (strides, GPU arrays, no usable BLAS, narrow inputs, wide frames)."""
    frame = [n + lo + hi for n, (lo, hi) in zip(xc.shape[2:], pad)]
    if any(s != 1 for s in stride) or not _applies(xc, w.shape[1], w.shape[2:], frame, out):
        return None
    return _conv_shifted(xc, w, pad, out, dilation, groups)
