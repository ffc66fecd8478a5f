"""Affine maps: ``linear`` (x W^T + b) and ``bilinear`` (x1^T A x2 + b)."""
from __future__ import annotations

from ember.autograd.function import Function
from ember.ops.linalg import einsum

__all__ = ["linear", "bilinear"]


class Linear(Function):
    """(c) one GEMM per gradient over the flattened batch: matmul + add would broadcast W
    over the leading dims and sum the per-batch products afterwards."""

    def forward(self, x, weight, bias=None):
        need_x, need_w = self.needs_input_grad[:2]
        self.save_for_backward(x if need_w else None, weight if need_x else None)
        self.x_shape = x.shape
        x2 = x.reshape(-1, x.shape[-1])  # (*, in) -> (N, in)
        y = x2 @ weight.T
        if bias is not None:
            y += bias
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, gy):
        x, weight = self.saved
        gy2 = gy.reshape(-1, gy.shape[-1])  # (*, out) -> (N, out)
        gx = (gy2 @ weight).reshape(self.x_shape) if weight is not None else None
        gw = gy2.T @ x.reshape(-1, x.shape[-1]) if x is not None else None
        if len(self.needs_input_grad) == 2:
            return gx, gw
        return gx, gw, gy2.sum(axis=0) if self.needs_input_grad[2] else None


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` over any leading dims.

    Shape: input ``(*, in)``, weight ``(out, in)``, bias ``(out,)`` -> ``(*, out)``.
    """
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match weight "
                         f"of shape {tuple(weight.shape)}: expected last dimension "
                         f"{weight.shape[-1]}")
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = x1 A[o] x2 + b[o]`` with A = weight.

    Shape: input1 ``(*, in1)``, input2 ``(*, in2)``, weight ``(out, in1, in2)``, bias
    ``(out,)`` -> ``(*, out)``.
    """
    _, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or \
            tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ValueError(f"bilinear: inputs of shapes {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)} do not match weight of shape "
                         f"{tuple(weight.shape)}: expected (*, {in1}) and (*, {in2})")
    y = einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias
