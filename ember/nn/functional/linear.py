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


def _check_last_dim(who, name, x, weight, axis=-1):
    if x.ndim == 0 or x.shape[-1] != weight.shape[axis]:
        raise ValueError(f"{who}: expected {name} with last dimension {weight.shape[axis]}, got "
                         f"shape {tuple(x.shape)} (weight of shape {tuple(weight.shape)})")


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` over any leading dims.

    Shape: input ``(*, in)``, weight ``(out, in)``, bias ``(out,)`` -> ``(*, out)``.
    """
    _check_last_dim("linear", "input", input, weight)
    if input.dtype != weight.dtype and input.array.dtype.kind not in "fc":
        raise RuntimeError(f"linear: input ({input.dtype}) and weight ({weight.dtype}) must "
                           "have the same dtype")
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = x1 A[o] x2 + b[o]`` with A = weight.

    Shape: input1 ``(*, in1)``, input2 ``(*, in2)``, weight ``(out, in1, in2)``, bias
    ``(out,)`` -> ``(*, out)``.
    """
    _check_last_dim("bilinear", "input1", input1, weight, axis=1)
    _check_last_dim("bilinear", "input2", input2, weight, axis=2)
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ValueError(f"bilinear: input1 and input2 need the same leading dimensions, got "
                         f"shapes {tuple(input1.shape)} and {tuple(input2.shape)}")
    y = einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias
