"""Negative log-likelihood losses of distributions under PyTorch's names and arguments:
Poisson, Gaussian (heteroscedastic or homoscedastic variance) and CTC.

Poisson and Gaussian are composed from differentiable ops; the Gaussian variance is
clamped at ``eps`` without a gradient through the clamp (PyTorch clamps a clone in place
under ``no_grad``), a one-line Function. CTC is one Function: the alpha recursion in log
space, vectorised over the batch and the extended label sequence with a loop over time
only, and PyTorch's gradient formula from the beta recursion.
"""
from __future__ import annotations

import math

import numpy as np

from ember.autograd.function import Function
from ember.nn.functional.loss import _broadcast_pair, _reduce, _reduction, _same_device, _shape
from ember.ops.elementwise import where

__all__ = ["gaussian_nll_loss", "poisson_nll_loss"]


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: ``exp(x) - t x`` for log-rate input (``log_input``),
    else ``x - t log(x + eps)``; ``full`` adds the Stirling term ``t log t - t +
    0.5 log(2 pi t)`` where ``t > 1``."""
    name = "poisson_nll_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _same_device(name, "target", target, input)
    _broadcast_pair(name, input, target, warn=False)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target.array
        with np.errstate(divide="ignore", invalid="ignore"):  # masked where t <= 1
            stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + where(t <= 1, 0.0, stirling)
    return _reduce(loss, reduction)


class _ClampNoGrad(Function):
    """Values clamped at ``min``, gradient passed through unchanged: PyTorch's
    ``var = var.clone(); with no_grad(): var.clamp_(min=eps)``."""

    def forward(self, x, *, min):
        return self.xp.maximum(x, min)

    def backward(self, gy):
        return gy


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log-likelihood ``0.5 (log(var) + (input - target)**2 / var)`` (plus
    ``0.5 log(2 pi)`` with ``full``). ``var`` has the input's shape, or one dim fewer (one
    variance per sample), or a single mismatched dim of size 1, or is a float; it is clamped
    at ``eps`` for stability, without a gradient through the clamp."""
    name = "gaussian_nll_loss"  # for error messages
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{name}: var has negative entry/entries, got {var}")
        var = input.detach() * 0 + float(var)
    else:
        _same_device(name, "var", var, input)
        if (var.array < 0).any():
            raise ValueError(f"{name}: var has negative entry/entries")
    vs, xs = _shape(var), _shape(input)
    if vs != xs:
        if xs[:-1] == vs:  # one variance per sample: broadcast over the last dim
            var = var.unsqueeze(-1)
        elif not (len(xs) == len(vs) and sum(v for x, v in zip(xs, vs) if x != v) == 1):
            raise ValueError(f"{name}: var is of incorrect size: var {vs} for input {xs} "
                             f"(expected {xs}, {xs[:-1]}, or {xs} with one dim of size 1)")
    reduction = _reduction(name, reduction)
    _same_device(name, "target", target, input)
    var = _ClampNoGrad.apply(var, min=eps)
    d = input - target
    loss = 0.5 * (var.log() + d * d / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
