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

from ember import backend
from ember.autograd.function import Function
from ember.nn.functional.loss import _broadcast_pair, _reduce, _reduction, _same_device, _shape
from ember.ops.elementwise import where
from ember.tensor import Tensor

__all__ = ["ctc_loss", "gaussian_nll_loss", "poisson_nll_loss"]


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


# --- CTC ------------------------------------------------------------------------------
def _logaddexp3(xp, a, b, c):
    """``log(exp(a) + exp(b) + exp(c))`` elementwise, -inf where all three are."""
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(xp.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return m + xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m))


def _shift(xp, a, k):
    """``a`` moved ``k`` places right along the last axis, -inf coming in."""
    out = xp.full_like(a, -xp.inf)
    out[..., k:] = a[..., :a.shape[-1] - k]
    return out


class CtcLoss(Function):
    """Per-sample CTC negative log-likelihood from log-probabilities (T, N, C).

    The alpha (forward) and beta (backward) variables live in log space over the extended
    label sequence l' (blank, l1, blank, l2, ..., blank) of length 2S+1, vectorised over the
    batch and l' with a loop over time only. The gradient is PyTorch's: ``exp(lp) -
    exp(log sum_{s: l'_s = c} alpha beta + nll - lp)`` at ``t < input_length`` (it assumes
    log-softmax normalised input, whose backward cancels the ``exp(lp)`` term), zero after.
    """

    def forward(self, lp, *, ext, target_lengths, input_lengths, blank, zero_infinity):
        xp = self.xp
        T, N, _ = lp.shape
        S2 = ext.shape[1]  # 2 * max target length + 1
        s = xp.arange(S2)
        lpe = xp.take_along_axis(lp, xp.broadcast_to(ext[None], (T, N, S2)), axis=2)
        valid = s[None, :] < (2 * target_lengths + 1)[:, None]  # (N, S2)
        prev2 = xp.concatenate([xp.full((N, 2), blank), ext[:, :-2]], axis=1)
        skip = (ext != blank) & (ext != prev2) & (s[None, :] >= 2)
        alpha = xp.full((T, N, S2), -xp.inf, lp.dtype)
        alpha[0, :, :2] = lpe[0, :, :2]
        alpha[0] = xp.where(valid, alpha[0], -xp.inf)
        for t in range(1, T):
            a = alpha[t - 1]
            a2 = xp.where(skip, _shift(xp, a, 2), -xp.inf)
            alpha[t] = xp.where(valid, lpe[t] + _logaddexp3(xp, a, _shift(xp, a, 1), a2),
                                -xp.inf)
        n, last = xp.arange(N), xp.maximum(input_lengths - 1, 0)
        end = alpha[last, n]  # (N, S2) at each sample's last frame
        L2 = 2 * target_lengths
        e1 = end[n, L2]
        e2 = xp.where(target_lengths > 0, end[n, xp.maximum(L2 - 1, 0)], -xp.inf)
        with np.errstate(divide="ignore"):
            ll = xp.logaddexp(e1, e2)
        # no frames: the empty target has probability 1, any other 0
        ll = xp.where(input_lengths > 0, ll, xp.where(target_lengths == 0, 0.0, -xp.inf))
        nll = (-ll).astype(lp.dtype)
        self.inf = xp.isinf(nll) if zero_infinity else xp.zeros(N, bool)
        self.shape = (T, N, S2)
        self.save_for_backward(lp, lpe, alpha, nll)
        self.ext, self.skip, self.valid = ext, skip, valid
        self.input_lengths, self.target_lengths = input_lengths, target_lengths
        return xp.where(self.inf, 0.0, nll).astype(lp.dtype)

    def backward(self, gy):
        xp, (lp, lpe, alpha, nll) = self.xp, self.saved
        T, N, S2 = self.shape
        ext, skip, valid = self.ext, self.skip, self.valid
        il, L2 = self.input_lengths, 2 * self.target_lengths
        s = xp.arange(S2)[None, :]
        init = valid & ((s == L2[:, None]) | ((s == L2[:, None] - 1) & (L2[:, None] > 0)))
        skip_next = xp.concatenate([skip[:, 2:], xp.zeros((N, 2), bool)], axis=1)
        beta = xp.full((T, N, S2), -xp.inf, lp.dtype)
        nxt = beta[0]
        for t in range(T - 1, -1, -1):
            up = xp.full_like(nxt, -xp.inf)
            up[:, :-1] = nxt[:, 1:]
            up2 = xp.full_like(nxt, -xp.inf)
            up2[:, :-2] = nxt[:, 2:]
            rec = lpe[t] + _logaddexp3(xp, nxt, up, xp.where(skip_next, up2, -xp.inf))
            here = (t == il - 1)[:, None]
            b = xp.where(here, xp.where(init, lpe[t], -xp.inf),
                         xp.where((t < il - 1)[:, None] & valid, rec, -xp.inf))
            beta[t] = nxt = b
        ab = alpha + beta  # (T, N, S2)
        m = ab.max(axis=2, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        onehot = (ext[:, :, None] == xp.arange(lp.shape[2])).astype(lp.dtype)  # (N, S2, C)
        sums = xp.einsum("tns,nsc->tnc", xp.exp(ab - m), onehot)
        with np.errstate(divide="ignore", invalid="ignore"):
            lcab = xp.log(sums) + m
            g = xp.exp(lp) - xp.exp(lcab + nll[None, :, None] - lp)
        live = (xp.arange(T)[:, None] < il[None, :]) & ~self.inf[None, :]  # (T, N)
        return xp.where(live[:, :, None], g * gy[None, :, None], 0)


def _lengths(name, what, v, N, xp):
    a = backend.to_numpy(v.array) if isinstance(v, Tensor) else np.asarray(v)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name}: {what} must be integers, got dtype {a.dtype}")
    a = xp.asarray(a).reshape(-1).astype(np.int64)
    if a.shape[0] != N:
        raise ValueError(f"{name}: {what} must be of size batch_size ({N}), got "
                         f"{tuple(np.shape(v))}")
    return a


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist Temporal Classification loss of log-probabilities ``log_probs`` (T, N, C)
    (or unbatched (T, C)) against ``targets``, padded (N, S) or concatenated 1-D of
    ``sum(target_lengths)``; ``input_lengths``/``target_lengths`` are (N,) tensors or
    tuples. 'mean' divides each loss by its target length, then averages over the batch;
    ``zero_infinity`` zeroes infinite losses (impossible alignments) and their gradients."""
    name = "ctc_loss"  # for error messages
    reduction = _reduction(name, reduction)
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"{name}: expected log_probs (T, N, C) or (T, C), got "
                         f"{_shape(log_probs)}")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"{name}: blank must be in label range [0, {C}), got {blank}")
    _same_device(name, "targets", targets, log_probs)
    xp = backend.get_array_module(lp.array)
    il = _lengths(name, "input_lengths", input_lengths, N, xp)
    tl = _lengths(name, "target_lengths", target_lengths, N, xp)
    if (il > T).any() or (il < 0).any():
        raise ValueError(f"{name}: input_lengths must be in [0, T={T}], got "
                         f"{il.tolist()} for log_probs {_shape(log_probs)}")
    if (tl < 0).any():
        raise ValueError(f"{name}: target_lengths must be non-negative, got {tl.tolist()}")
    t = targets.array.astype(np.int64)
    S = int(tl.max()) if N else 0
    if t.ndim == 2:
        if t.shape[0] != N or t.shape[1] < S:
            raise ValueError(f"{name}: padded targets must be (N={N}, S >= {S}) for the "
                             f"longest target length, got {_shape(targets)}")
        padded = t[:, :S]
    elif t.ndim == 1:
        if t.shape[0] != int(tl.sum()):
            raise ValueError(f"{name}: concatenated targets must have sum(target_lengths) = "
                             f"{int(tl.sum())} elements, got {_shape(targets)}")
        starts = xp.concatenate([xp.zeros(1, np.int64), xp.cumsum(tl)[:-1]])
        idx = xp.minimum(starts[:, None] + xp.arange(S)[None, :], max(t.shape[0] - 1, 0))
        padded = t[idx] if t.shape[0] else xp.zeros((N, S), np.int64)
    else:
        raise ValueError(f"{name}: targets must be (N, S) padded or 1-D concatenated, got "
                         f"{_shape(targets)}")
    used = xp.arange(S)[None, :] < tl[:, None]
    padded = xp.where(used, padded, blank)
    bad = used & ((padded < 0) | (padded >= C) | (padded == blank))
    if bad.any():
        raise ValueError(f"{name}: target value {int(padded[bad][0])} is out of range for "
                         f"{C} classes or is the blank ({blank})")
    ext = xp.full((N, 2 * S + 1), blank, np.int64)
    ext[:, 1::2] = padded
    loss = CtcLoss.apply(lp, ext=ext, target_lengths=tl, input_lengths=il, blank=blank,
                         zero_infinity=zero_infinity)
    if reduction == "mean":
        return (loss / Tensor._make(xp.maximum(tl, 1).astype(lp.dtype))).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.reshape(())
