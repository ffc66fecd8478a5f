"""Sliding blocks: ``unfold`` copies every (kh, kw) block of an image into a column (im2col),
``fold`` adds columns back into an image (col2im, overlaps summed). Each is the other's
adjoint, so each one's backward is the other's forward.

Shapes: ``unfold`` (N, C, H, W) -> (N, C*kh*kw, L); ``fold`` (N, C*kh*kw, L) -> (N, C, H, W);
L is the number of block positions, ``prod((size + 2p - d(k-1) - 1) // s + 1)``.
"""
from __future__ import annotations

import itertools
import math

from ember.autograd.function import Function
from ember.nn.functional.utils import ntuple

__all__ = ["fold", "unfold"]


def _blocks(size, kernel, dilation, padding, stride):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


def _im2col(xp, x, kernel, dilation, padding, stride):
    """(N, C, H, W) -> (N, C*kh*kw, L), one strided copy of the padded image."""
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = _blocks(x.shape[2:], kernel, dilation, padding, stride)
    n, c, st = x.shape[0], x.shape[1], xpad.strides
    win = xp.lib.stride_tricks.as_strided(
        xpad, (n, c, *kernel, oh, ow), (st[0], st[1], st[2] * dh, st[3] * dw,
                                        st[2] * sh, st[3] * sw))
    return xp.ascontiguousarray(win).reshape(n, c * math.prod(kernel), oh * ow)


def _col2im(xp, cols, size, kernel, dilation, padding, stride):
    """(N, C*kh*kw, L) -> (N, C, H, W): each column added back to its block."""
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    oh, ow = _blocks(size, kernel, dilation, padding, stride)
    n = cols.shape[0]
    c = cols.shape[1] // math.prod(kernel)
    g = cols.reshape(n, c, *kernel, oh, ow)
    out = xp.zeros((n, c, size[0] + 2 * ph, size[1] + 2 * pw), cols.dtype)
    for i, j in itertools.product(range(kernel[0]), range(kernel[1])):  # loop over offsets
        out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
            j * dw:j * dw + sw * (ow - 1) + 1:sw] += g[:, :, i, j]
    return out[:, :, ph:ph + size[0], pw:pw + size[1]]


class Unfold(Function):
    def forward(self, x, *, kernel, dilation, padding, stride):
        self.cfg, self.size = (kernel, dilation, padding, stride), x.shape[2:]
        return _im2col(self.xp, x, *self.cfg)

    def backward(self, g):
        return _col2im(self.xp, g, self.size, *self.cfg)


class Fold(Function):
    def forward(self, cols, *, size, kernel, dilation, padding, stride):
        self.cfg = (kernel, dilation, padding, stride)
        return _col2im(self.xp, cols, size, *self.cfg)

    def backward(self, g):
        return _im2col(self.xp, g, *self.cfg)


def _args(kernel_size, dilation, padding, stride, who):
    return tuple(ntuple(v, 2, what, who) for v, what in (
        (kernel_size, "kernel_size"), (dilation, "dilation"), (padding, "padding"),
        (stride, "stride")))


def _unbatched(input, ndim, fn):
    return fn(input) if input.ndim == ndim + 1 else fn(input.unsqueeze(0)).squeeze(0)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Every (kh, kw) block of (N, C, H, W) (or unbatched (C, H, W)) as a column:
    (N, C*kh*kw, L), PyTorch's ``F.unfold`` (im2col)."""
    kernel, dilation, padding, stride = _args(kernel_size, dilation, padding, stride, "unfold")
    if input.ndim not in (3, 4):
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W) or a 3-D unbatched input "
                         f"(C, H, W), got shape {tuple(input.shape)}")
    if any(n < 1 for n in _blocks(input.shape[-2:], kernel, dilation, padding, stride)):
        raise ValueError(f"unfold: input of spatial size {tuple(input.shape[-2:])} with "
                         f"padding {padding} is smaller than the (dilated) kernel {kernel}")
    return _unbatched(input, 3, lambda x: Unfold.apply(
        x, kernel=kernel, dilation=dilation, padding=padding, stride=stride))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns (N, C*kh*kw, L) (or unbatched (C*kh*kw, L)) added back into an image
    (N, C, *output_size), overlaps summed: PyTorch's ``F.fold`` (col2im)."""
    size = ntuple(output_size, 2, "output_size", "fold")
    kernel, dilation, padding, stride = _args(kernel_size, dilation, padding, stride, "fold")
    k, blocks = math.prod(kernel), _blocks(size, kernel, dilation, padding, stride)
    if input.ndim not in (2, 3) or input.shape[-2] % k or input.shape[-1] != math.prod(blocks):
        raise ValueError(f"fold: expected input (N, C*{k}, {math.prod(blocks)}) for "
                         f"output_size={size}, kernel_size={kernel}, dilation={dilation}, "
                         f"padding={padding}, stride={stride} ({blocks[0]}x{blocks[1]} "
                         f"blocks), got shape {tuple(input.shape)}")
    return _unbatched(input, 2, lambda x: Fold.apply(
        x, size=size, kernel=kernel, dilation=dilation, padding=padding, stride=stride))
