"""Normalisation ops: batch_norm, layer_norm, group_norm, local_response_norm.

Each is one fused Function with a hand-written backward: composing them from mean, var,
sub and div would record a dozen nodes and keep a dozen full-size temporaries alive. The
shared backward is the standard one of ``xhat = (x - mean) * invstd``:

    gx = (g - mean(g) - xhat * mean(g * xhat)) * invstd

where ``g`` is the gradient reaching ``xhat`` and the means run over the normalised axes.
"""
from __future__ import annotations

import math

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.kernels import cuda_norm as _cuda_norm
from ember.kernels.arrays import contract
from ember.ops.inplace import increment_version

__all__ = ["batch_norm", "layer_norm", "group_norm", "local_response_norm", "rms_norm"]


def _fused_grad(g, xc, mean_g, coef, scale):
    """``(g - mean_g - xc * coef) * scale`` with a single full-size temporary."""
    gx = xc * -coef
    gx += g
    gx -= mean_g
    gx *= scale
    return gx


def _batch_forward(x3, weight, bias, running_mean, running_var, momentum, eps, inplace):
    """Training: (y, xc, invstd, scale) for ``x3`` (N, C, M) from the batch statistics,
    the running statistics (if given) updated in place as PyTorch does (the variance with
    Bessel's correction); ``y`` overwrites ``xc`` when ``inplace``."""
    m = x3.shape[0] * x3.shape[2]
    mean = x3.sum(axis=2).sum(axis=0) / m
    xc = x3 - mean[:, None]
    sq_sum = contract("ncm,ncm->c", xc, xc)
    if running_mean is not None:
        running_mean[...] = momentum * mean + (1 - momentum) * running_mean
        running_var[...] = momentum * (sq_sum / (m - 1)) + (1 - momentum) * running_var
    xp = backend.get_array_module(x3)
    invstd = 1 / xp.sqrt(sq_sum / m + eps)
    scale = invstd if weight is None else invstd * weight
    y = xp.multiply(xc, scale[:, None], out=xc if inplace else None)
    if bias is not None:
        y += bias[:, None]
    return y, xc, invstd, scale


def _running_forward(x3, weight, bias, running_mean, running_var, eps):
    """Evaluation: (y, mean, invstd, scale) normalised by the running statistics."""
    xp = backend.get_array_module(x3)
    mean = running_mean.astype(x3.dtype)  # a copy: later updates must not leak in
    invstd = 1 / xp.sqrt(running_var.astype(x3.dtype) + eps)
    scale = invstd if weight is None else invstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y = x3 * scale[:, None]
    y += shift[:, None]
    return y, mean, invstd, scale


def _batch_backward(gy3, xc, invstd, scale):
    """Training backward: (gx, sum of gy, sum of gy * xc) over the batch and spatial axes;
    ``gx = (gy - mean(gy) - xc * invstd**2 * mean(gy * xc)) * scale``."""
    m = xc.shape[0] * xc.shape[2]
    sum_gy = gy3.sum(axis=2).sum(axis=0)
    dot = contract("ncm,ncm->c", gy3, xc)  # = sum(gy * xhat) / invstd
    coef = invstd * invstd * dot / m
    return _fused_grad(gy3, xc, (sum_gy / m)[:, None], coef[:, None], scale[:, None]), \
        sum_gy, dot


class _Plain:
    """The array-op route, for NumPy (and CuPy where the fused kernels do not apply)."""
    batch_forward = staticmethod(_batch_forward)
    running_forward = staticmethod(_running_forward)
    batch_backward = staticmethod(_batch_backward)


class BatchNorm(Function):
    """Per-channel normalisation of ``x`` viewed as (N, C, M), statistics over N and M:
    the batch's in training (updating ``running_mean`` and ``running_var``, raw arrays,
    when given), the running ones in evaluation. On CuPy the same formulas run as a few
    fused kernels (``kernels.cuda_norm``), which share these three functions' signatures.
    """

    def forward(self, x, weight, bias, *, running_mean, running_var, training, momentum,
                eps):
        route = _cuda_norm if _cuda_norm.fits(x, weight, bias) else _Plain
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        record = any(self.needs_input_grad)
        if training:  # backward needs the centred input
            y, saved, invstd, scale = route.batch_forward(
                x3, weight, bias, running_mean, running_var, momentum, eps, inplace=not record)
        else:  # backward needs the input itself (for the weight's gradient)
            y, self.mean, invstd, scale = route.running_forward(
                x3, weight, bias, running_mean, running_var, eps)
            saved = x
        if record:
            self.route, self.training, self.invstd, self.scale = route, training, invstd, scale
            self.save_for_backward(saved)
        return y.reshape(x.shape)

    def backward(self, gy):
        invstd, scale = self.invstd, self.scale
        gy3 = gy.reshape(gy.shape[0], gy.shape[1], -1)
        need_x, need_w, need_b = self.needs_input_grad
        if self.training:
            gx, sum_gy, dot = self.route.batch_backward(gy3, self.saved[0], invstd, scale)
            gw = dot * invstd if need_w else None
        else:  # the statistics are constants: y is affine in x
            sum_gy = gy3.sum(axis=2).sum(axis=0)
            gx = gy3 * scale[:, None] if need_x else None
            xc = self.saved[0].reshape(gy3.shape) - self.mean[:, None] if need_w else None
            gw = contract("ncm,ncm->c", gy3, xc) * invstd if need_w else None
        return (gx.reshape(gy.shape) if need_x else None), gw, sum_gy if need_b else None


class RowNorm(Function):
    """Normalise ``x`` viewed as ``rows`` = (R, K) over its last axis, then apply a
    per-channel affine on the view ``affine_shape`` whose axis 1 is the channel axis.

    LayerNorm is rows (R, D), affine (R, D); GroupNorm is rows (N*G, C/G*S), affine (N, C, S).
    """

    def forward(self, x, weight, bias, *, rows, affine_shape, eps):
        xp = self.xp
        self.x_shape, self.rows, self.affine_shape = x.shape, rows, affine_shape
        x2 = x.reshape(rows)
        xhat = x2 - x2.mean(axis=1, keepdims=True)
        invstd = 1 / xp.sqrt(contract("rk,rk->r", xhat, xhat)[:, None] / rows[1] + eps)
        xhat *= invstd
        xhat = xhat.reshape(affine_shape)
        w, b = self._channel(weight), self._channel(bias)
        record = any(self.needs_input_grad)
        if record:
            self.invstd, self.w = invstd, w
            self.save_for_backward(xhat)
        if w is not None:
            y = xp.multiply(xhat, w, out=None if record else xhat)
        else:
            y = xhat.copy() if record else xhat
        if b is not None:
            y += b
        return y.reshape(x.shape)

    def _channel(self, p):
        """A (C,) parameter shaped to broadcast along axis 1 of ``affine_shape``."""
        if p is None:
            return None
        return p.reshape((-1,) + (1,) * (len(self.affine_shape) - 2))

    def backward(self, gy):
        xhat, = self.saved
        need_x, need_w, need_b = self.needs_input_grad
        gy = gy.reshape(self.affine_shape)
        axes = "abc"[:gy.ndim]  # "b" is the channel axis; weight and bias sum over the rest
        gw = contract(f"{axes},{axes}->b", gy, xhat) if need_w else None
        gb = gy.sum(axis=(0, *range(2, gy.ndim))) if need_b else None
        gx = None
        if need_x:
            g = (gy if self.w is None else gy * self.w).reshape(self.rows)
            xhat = xhat.reshape(self.rows)
            k = self.rows[1]
            dot = contract("rk,rk->r", g, xhat)[:, None] / k
            gx = _fused_grad(g, xhat, g.sum(axis=1, keepdims=True) / k, dot,
                             self.invstd).reshape(self.x_shape)
        return gx, gw, gb


def _channel_window_sum(xp, a, before, after):
    """``out[:, c] = a[:, c - before] + ... + a[:, c + after]`` along axis 1, zeros outside
    (a loop over the few window offsets, vectorised over everything else)."""
    out = xp.zeros_like(a)
    c = a.shape[1]
    for off in range(-before, after + 1):
        lo, hi = max(0, -off), min(c, c - off)
        if lo < hi:
            out[:, lo:hi] += a[:, lo + off:hi + off]
    return out


class LocalResponseNorm(Function):
    """``y = x / (k + alpha / size * sum of x^2 over a window of channels) ** beta``, the
    window running from ``c - size // 2`` to ``c + (size - 1) // 2`` (PyTorch's, AlexNet's)."""

    def forward(self, x, *, size, alpha, beta, k):
        self.size, self.alpha, self.beta = size, alpha, beta
        d = _channel_window_sum(self.xp, x * x, size // 2, (size - 1) // 2)
        d *= alpha / size
        d += k
        p = d ** -beta
        y = x * p
        if self.needs_input_grad[0]:
            self.save_for_backward(x, d, p)
        return y

    def backward(self, gy):
        x, d, p = self.saved
        # y_i depends on x_j for every j in window(i); the transposed window swaps the sides
        t = _channel_window_sum(self.xp, gy * x * p / d, (self.size - 1) // 2, self.size // 2)
        t *= x * (-2 * self.alpha * self.beta / self.size)
        t += gy * p
        return t


# --- functional forms (PyTorch's signatures) -------------------------------------------
def _check_channel_params(name, x, c, **params):
    for pname, p in params.items():
        if p is not None and tuple(p.shape) != (c,):
            raise ValueError(f"{name}: {pname} must have shape ({c},) for input of shape "
                             f"{tuple(x.shape)}, got {tuple(p.shape)}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C, *): per-channel statistics over N and the rest.

    In training the batch statistics normalise ``input`` and ``running_mean`` /
    ``running_var`` (if given) are updated in place; otherwise the running statistics are
    used. ``momentum`` weighs the new batch in the running averages.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if input.array.dtype.kind not in "fc":
        raise NotImplementedError(f"batch_norm: not implemented for input of dtype "
                                  f"{input.dtype} (shape {tuple(input.shape)}); give a "
                                  "floating-point input")
    c = input.shape[1]
    _check_channel_params("batch_norm", input, c, weight=weight, bias=bias,
                          running_mean=running_mean, running_var=running_var)
    if training and math.prod(input.shape) // max(c, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {tuple(input.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when "
                         "training=False (they are the statistics used to normalise)")
    if running_mean is not None and {running_mean.device, running_var.device} != {input.device}:
        raise ValueError(f"batch_norm: expected all tensors on one device, got input on "
                         f"{input.device}, running_mean on {running_mean.device} and "
                         f"running_var on {running_var.device}")
    y = BatchNorm.apply(input, weight, bias,
                        running_mean=None if running_mean is None else running_mean.array,
                        running_var=None if running_var is None else running_var.array,
                        training=training, momentum=momentum, eps=eps)
    if training:
        increment_version(running_mean, running_var)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dimensions, then ``* weight + bias``
    (both of shape ``normalized_shape``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k or k == 0:
        raise ValueError(f"layer_norm: normalized_shape={shape} expects input of shape "
                         f"(*, {', '.join(map(str, shape))}), got shape {tuple(input.shape)}")
    for pname, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm: {pname} must have shape {shape}, got "
                             f"{tuple(p.shape)}")
    d = math.prod(shape)
    rows = (math.prod(input.shape) // d if d else 0, d)
    return RowNorm.apply(input, _flat(weight), _flat(bias), rows=rows, affine_shape=rows,
                         eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``input / sqrt(mean(input**2) + eps) * weight`` over the trailing
    ``normalized_shape`` dimensions (Zhang & Sennrich, 2019); ``eps`` defaults to the
    dtype's machine epsilon, as PyTorch."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"rms_norm: normalized_shape={shape} expects input of shape "
                         f"(*, {', '.join(map(str, shape))}), got shape {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != shape:
        raise ValueError(f"rms_norm: weight must have shape {shape}, got {tuple(weight.shape)}")
    eps = float(np.finfo(input.dtype).eps) if eps is None else eps
    y = input * (input * input).mean(tuple(range(-k, 0)), keepdim=True).add(eps).rsqrt()
    return y if weight is None else y * weight


def _flat(p):
    return None if p is None else p.reshape(-1)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample's channels in ``num_groups`` groups (statistics over the
    group's channels and all positions), then a per-channel ``* weight + bias``."""
    if input.ndim < 2 or input.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input of shape (N, C, *) with C divisible by "
                         f"num_groups={num_groups}, got shape {tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]
    _check_channel_params("group_norm", input, c, weight=weight, bias=bias)
    s = math.prod(input.shape[2:])
    return RowNorm.apply(input, weight, bias, rows=(n * num_groups, c // num_groups * s),
                         affine_shape=(n, c, s), eps=eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Normalise each value by the squares of its neighbours across ``size`` channels:
    ``x / (k + alpha / size * sum(x^2 over the window)) ** beta`` (AlexNet)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3-D or higher input (N, C, *), got "
                         f"shape {tuple(input.shape)}")
    return LocalResponseNorm.apply(input, size=size, alpha=alpha, beta=beta, k=k)
