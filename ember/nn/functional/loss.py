"""Losses under PyTorch's names, arguments and reductions ('none' | 'mean' | 'sum').

Losses that compose stably from existing ops (MSE, L1, smooth L1, Huber, KL divergence,
cosine embedding) are composed. Four are fused Functions with a closed-form backward:
cross-entropy (log-softmax + NLL), NLL (a gather), BCE (PyTorch's clamped logs) and BCE
with logits (softplus form). Errors name the function; a loss module adds its own name
(``Module.__call__``).
"""
from __future__ import annotations

import warnings

import numpy as np

from ember.autograd.function import Function
from ember.nn.functional.utils import legacy_reduction
from ember.ops.elementwise import stable_sigmoid, stable_softplus, where
from ember.ops.indexing import gather_index

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
           "cross_entropy", "huber_loss", "kl_div", "l1_loss", "mse_loss", "nll_loss",
           "smooth_l1_loss"]

_REDUCTIONS = ("none", "mean", "sum")
# PyTorch's EPSILON in BCE's backward and cosine_embedding_loss is a float32 1e-12.
_EPSILON = float(np.float32(1e-12))


# --- argument checks ------------------------------------------------------------------
def _reduction(name, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS):
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce)
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of "
                         f"{', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def _shape(t):
    return tuple(t.shape)


def _broadcast_pair(name, input, target, warn=True):
    """PyTorch broadcasts a target of another shape (with a warning: usually a bug)."""
    if _shape(target) == _shape(input):
        return
    try:
        np.broadcast_shapes(_shape(input), _shape(target))
    except ValueError:
        raise ValueError(f"{name}: target shape {_shape(target)} cannot be broadcast to "
                         f"input shape {_shape(input)}") from None
    if warn:
        warnings.warn(f"{name}: target shape {_shape(target)} differs from input shape "
                      f"{_shape(input)}; they are broadcast, which is likely a mistake. "
                      "Please ensure they have the same size.", stacklevel=3)


def _same_shape(name, input, target, what="target"):
    if _shape(target) != _shape(input):
        raise ValueError(f"{name}: {what} shape {_shape(target)} does not match input shape "
                         f"{_shape(input)} (they must be equal)")


def _same_device(name, what, t, input):
    """A target or weight on another device than the input: the error names both."""
    if t is not None and t.device != input.device:
        raise ValueError(f"{name}: {what} is on {t.device} but input is on {input.device} "
                         f"(move it with .to({str(input.device)!r}))")


def _broadcastable_to(name, what, t, input):
    if t is None:
        return
    _same_device(name, what, t, input)
    try:
        ok = np.broadcast_shapes(_shape(t), _shape(input)) == _shape(input)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: {what} shape {_shape(t)} does not broadcast to input "
                         f"shape {_shape(input)}")


def _raw(t, dtype):
    """A constant tensor's array in ``dtype`` (weights are not differentiable in PyTorch)."""
    return None if t is None else t.array.astype(dtype, copy=False)


def _reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _weighted(name, loss, weight, input, reduction, mean_by_weight=True):
    """PyTorch's elementwise ``weight``: 'mean' is sum / sum(weight) for MSE and L1 and a
    plain mean for Huber."""
    if weight is None:
        return _reduce(loss, reduction)
    _same_shape(name, input, weight, "weight")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# --- composed losses ------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error ``(input - target)**2``, optionally weighted elementwise."""
    name = "mse_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _broadcast_pair(name, input, target)
    d = input - target
    return _weighted(name, d * d, weight, input, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``, optionally weighted elementwise."""
    name = "l1_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _broadcast_pair(name, input, target)
    return _weighted(name, (input - target).abs(), weight, input, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (d = input - target)."""
    name = "smooth_l1_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"{name}: beta must be non-negative, got {beta}")
    _broadcast_pair(name, input, target)
    d = input - target
    if beta == 0:  # the quadratic branch would divide by zero
        return _reduce(d.abs(), reduction)
    ad = d.abs()
    return _reduce(where(ad.array < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    name = "huber_loss"  # for error messages
    reduction = _reduction(name, reduction)
    if delta <= 0:
        raise ValueError(f"{name}: delta must be positive, got {delta}")
    _broadcast_pair(name, input, target)
    d = input - target
    ad = d.abs()
    loss = where(ad.array < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted(name, loss, weight, input, reduction, mean_by_weight=False)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL divergence ``target * (log(target) - input)`` with ``input`` in log space;
    ``reduction='batchmean'`` divides the sum by the batch size (the true KL)."""
    name = "kl_div"  # for error messages
    legacy = size_average is not None or reduce is not None
    reduction = _reduction(name, reduction, size_average, reduce,
                           allowed=("none", "batchmean", "sum", "mean"))
    if reduction == "mean" and not legacy:
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition.'mean' will be changed to behave the "
                      "same as 'batchmean' in the next major release.", stacklevel=2)
    _broadcast_pair(name, input, target, warn=False)
    if log_target:
        loss = target.exp() * (target - input)
    else:  # 0 * log(0) is 0: log(1) stands in where the target is 0
        loss = target * (where(target.array == 0, 1.0, target).log() - input)
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where -1."""
    name = "cosine_embedding_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _same_shape(name, input1, input2, "input2")
    if input1.ndim not in (1, 2) or _shape(target) != _shape(input1)[:-1]:
        raise ValueError(f"{name}: expected inputs (N, D) with target (N,) or inputs (D,) "
                         f"with target (), got inputs {_shape(input1)} and target "
                         f"{_shape(target)}")
    _same_device(name, "target", target, input1)
    dim = input1.ndim - 1
    dot = (input1 * input2).sum(dim)
    norms = ((input1 * input1).sum(dim) + _EPSILON) * ((input2 * input2).sum(dim) + _EPSILON)
    cos = dot / norms.sqrt()
    y = target.array
    loss = where(y == 1, 1 - cos, 0.0) + where(y == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(loss, reduction)


# --- fused losses ---------------------------------------------------------------------
def _finish(xp, loss, reduction, total=None):
    """Reduce a per-element loss; 'mean' divides by ``total`` (an array: NaN when it is 0, as
    in PyTorch when every target is ignored) or, without one, by the element count."""
    if reduction == "none":
        return loss
    if reduction == "sum" or total is not None:
        s = loss.sum()
        return s if reduction == "sum" else s / xp.where(total == 0, xp.nan, total)
    return loss.mean()


def _upstream(xp, gy, reduction, total):
    """The upstream gradient per element: 'mean' divides by ``total`` (an int count, or an
    array: where it is 0 the gradient is zero, as in PyTorch, not NaN)."""
    if reduction != "mean":
        return gy
    return gy / (total if isinstance(total, int) else xp.where(total == 0, xp.inf, total))


def _class_view(weight, ndim):
    """A per-class vector shaped to broadcast along dim 1 of an (N, C, *) array."""
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


class _IndexLoss(Function):
    """Shared set-up of the losses over class indices (cross-entropy and NLL)."""

    def _setup(self, x, target, weight, ignore_index, reduction):
        xp = self.xp
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)
        self.grid = gather_index(xp.expand_dims(safe, 1), 1, xp)  # x[grid]: (N, 1, *) picked
        self.w = valid.astype(x.dtype) if weight is None else weight[safe] * valid
        self.valid, self.reduction = valid, reduction
        self.total = self.w.sum()  # 'mean' divides by the weight of non-ignored targets

    def _finish(self, loss):
        return _finish(self.xp, loss, self.reduction, self.total)

    def _upstream(self, gy):
        return _upstream(self.xp, gy, self.reduction, self.total)


class NllLoss(_IndexLoss):
    """``-w[t] * x[n, t]``; fused as a gather so the backward is one scatter."""

    def forward(self, x, *, target, weight, ignore_index, reduction):
        self._setup(x, target, weight, ignore_index, reduction)
        self.shape = x.shape
        return self._finish(-self.w * x[self.grid][:, 0])

    def backward(self, gy):
        gx = self.xp.zeros(self.shape, gy.dtype)
        gx[self.grid] = -self.xp.expand_dims(self.w * self._upstream(gy), 1)
        return gx


class CrossEntropy(_IndexLoss):
    """log-softmax + NLL (+ label smoothing) over class indices in one op: fused because the
    composed graph keeps extra (N, C) arrays and its backward is softmax - onehot anyway."""

    def forward(self, x, *, target, weight, ignore_index, reduction, label_smoothing):
        xp, eps = self.xp, label_smoothing
        self._setup(x, target, weight, ignore_index, reduction)
        shifted = x - x.max(axis=1, keepdims=True)  # <= 0: exp cannot overflow
        e = xp.exp(shifted)
        s = e.sum(axis=1, keepdims=True)  # >= 1, so its log is finite
        lse = xp.log(s)
        loss = self.w * (lse - shifted[self.grid])[:, 0]  # -log p[target]
        if eps:
            wc = 1 if weight is None else _class_view(weight, x.ndim)
            self.wc, self.wsum = wc, x.shape[1] if weight is None else weight.sum()
            # -sum_c w_c log p_c, written so no (N, C) log p array is kept
            smooth = self.valid * (lse[:, 0] * self.wsum - (shifted * wc).sum(axis=1))
            loss = (1 - eps) * loss + (eps / x.shape[1]) * smooth
        self.eps, self.e, self.s = eps, e, s
        return self._finish(loss)

    def backward(self, gy):
        xp, eps, C = self.xp, self.eps, self.e.shape[1]
        g = self._upstream(gy)
        hot = (1 - eps) * self.w * g  # weight of -onehot, and of softmax from the NLL part
        coef = hot + (eps / C) * self.wsum * self.valid * g if eps else hot
        gx = self.e * (xp.expand_dims(coef, 1) / self.s)
        gx[self.grid] -= xp.expand_dims(hot, 1)
        if eps:
            gx -= (eps / C) * xp.expand_dims(self.valid * g, 1) * self.wc
        return gx


class SoftCrossEntropy(Function):
    """Cross-entropy against class probabilities: ``-sum_c w_c q_c log_softmax(x)_c`` with
    ``q = (1 - eps) target + eps / C``; fused for the same reasons as CrossEntropy."""

    def forward(self, x, target, *, weight, reduction, label_smoothing):
        xp, eps, C = self.xp, label_smoothing, x.shape[1]
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        self.wc = 1 if weight is None else _class_view(weight, x.ndim)
        wq = (target * (1 - eps) + eps / C if eps else target) * self.wc
        self.eps, self.reduction, self.count = eps, reduction, x.size // C
        self.save_for_backward(logp, wq)
        return _finish(xp, -(logp * wq).sum(axis=1), reduction)

    def backward(self, gy):
        xp, (logp, wq) = self.xp, self.saved
        g = _upstream(xp, gy, self.reduction, self.count)
        g = xp.expand_dims(g, 1) if g.ndim else g
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = (xp.exp(logp) * wq.sum(axis=1, keepdims=True) - wq) * g
        if self.needs_input_grad[1]:
            gt = -(1 - self.eps) * logp * self.wc * g
        return gx, gt


class BinaryCrossEntropy(Function):
    """``-w (t log x + (1 - t) log(1 - x))`` with logs clamped at -100 as in PyTorch; fused to
    match PyTorch's backward, which is not the derivative of the clamped forward."""

    def forward(self, x, t, *, weight, reduction):
        xp = self.xp
        with np.errstate(divide="ignore"):  # log(0) = -inf is clamped below
            loss = (t - 1) * xp.maximum(xp.log1p(-x), -100) - t * xp.maximum(xp.log(x), -100)
        if weight is not None:
            loss = loss * weight
        self.weight, self.reduction = weight, reduction
        self.save_for_backward(x, t)
        return _finish(xp, loss, reduction)

    def backward(self, gy):
        xp, (x, t) = self.xp, self.saved
        g = _upstream(xp, gy, self.reduction, x.size)
        if self.weight is not None:
            g = g * self.weight
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = g * (x - t) / xp.maximum((1 - x) * x, _EPSILON)
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):  # infinite at x in {0, 1}, as in PyTorch
                gt = g * (xp.log1p(-x) - xp.log(x))
        return gx, gt


class BinaryCrossEntropyWithLogits(Function):
    """``max(x, 0) - x t + log1p(exp(-|x|))`` (with ``pos_weight`` p: ``(1 - t) x +
    (1 + (p - 1) t) softplus(-x)``): fused because sigmoid then log overflows for |x| ~ 1e4."""

    def forward(self, x, t, *, weight, pos_weight, reduction):
        xp = self.xp
        if pos_weight is None:
            loss = stable_softplus(xp, x) - x * t
        else:
            loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * stable_softplus(xp, -x)
        if weight is not None:
            loss = loss * weight
        self.weight, self.pos_weight, self.reduction = weight, pos_weight, reduction
        self.save_for_backward(x, t)
        return _finish(xp, loss, reduction)

    def backward(self, gy):
        xp, (x, t), pw = self.xp, self.saved, self.pos_weight
        g = _upstream(xp, gy, self.reduction, x.size)
        if self.weight is not None:
            g = g * self.weight
        gx = gt = None
        if self.needs_input_grad[0]:
            sig = stable_sigmoid(xp, x)
            gx = g * ((sig - t) if pw is None else (pw * t + 1 - t) * sig - pw * t)
        if self.needs_input_grad[1]:
            gt = -x if pw is None else (pw - 1) * stable_softplus(xp, -x) - x
            gt = g * gt
        return gx, gt


# --- fused losses: checks and wrappers ---------------------------------------------------
def _class_count(name, input):
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    return input.shape[1] if input.ndim > 1 else input.shape[0]


def _class_weight(name, weight, input):
    C = _class_count(name, input)
    _same_device(name, "weight", weight, input)
    if weight is not None and _shape(weight) != (C,):
        raise ValueError(f"{name}: weight shape {_shape(weight)} does not match the {C} "
                         f"classes of input shape {_shape(input)} (expected ({C},))")
    return _raw(weight, input.dtype)


def _check_class_target(name, input, target, ignore_index, probs_ok):
    """Class indices: shape (N, d1, ...) for input (N, C, d1, ...) or () for input (C,), and
    every value in [0, C) or equal to ``ignore_index``."""
    C = _class_count(name, input)
    _same_device(name, "target", target, input)
    expected = _shape(input)[:1] + _shape(input)[2:] if input.ndim > 1 else ()
    if _shape(target) != expected:
        alt = f" or {_shape(input)} probabilities" if probs_ok else ""
        raise ValueError(f"{name}: target shape {_shape(target)} does not match input shape "
                         f"{_shape(input)} (expected {expected} class indices{alt})")
    if target.dtype.kind not in "iu":
        raise ValueError(f"{name}: class-index target must be an integer tensor, got dtype "
                         f"{target.dtype}")
    t = target.array
    bad = ((t < 0) | (t >= C)) & (t != ignore_index)
    if bad.any():
        raise ValueError(f"{name}: target value {int(t[bad][0])} is out of range for {C} "
                         f"classes (expected 0 <= target < {C}, or ignore_index="
                         f"{ignore_index})")


def _batched(input, target, probs):
    """An unbatched (C,) input becomes (1, C), its target (1,) (or (1, C) probabilities)."""
    if input.ndim != 1:
        return input, target
    return input.reshape(1, -1), target.reshape(1, -1) if probs else target.reshape(1)


def _unbatched(loss, input, reduction):
    return loss.reshape(()) if input.ndim == 1 and reduction == "none" else loss


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` (N, C, d1, ...) and class indices (N, d1, ...)
    or class probabilities (the input's shape), as ``torch.nn.functional.cross_entropy``."""
    name = "cross_entropy"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    w = _class_weight(name, weight, input)
    probs = _shape(target) == _shape(input)
    if probs:
        if target.dtype.kind != "f":
            raise ValueError(f"{name}: a target of the input's shape {_shape(input)} holds "
                             f"class probabilities and must be floating point, got "
                             f"{target.dtype}")
        if ignore_index >= 0:
            raise ValueError(f"{name}: ignore_index is not supported for class-probability "
                             "targets")
        x, t = _batched(input, target.to(dtype=input.dtype), probs)
        loss = SoftCrossEntropy.apply(x, t, weight=w, reduction=reduction,
                                      label_smoothing=label_smoothing)
    else:
        _check_class_target(name, input, target, ignore_index, probs_ok=True)
        x, t = _batched(input, target, probs)
        loss = CrossEntropy.apply(x, target=t.array, weight=w, ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=label_smoothing)
    return _unbatched(loss, input, reduction)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C, d1, ...) at class indices
    ``target`` (N, d1, ...); 'mean' divides by the total weight of non-ignored targets."""
    name = "nll_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    w = _class_weight(name, weight, input)
    _check_class_target(name, input, target, ignore_index, probs_ok=False)
    x, t = _batched(input, target, False)
    loss = NllLoss.apply(x, target=t.array, weight=w, ignore_index=ignore_index,
                         reduction=reduction)
    return _unbatched(loss, input, reduction)


def _binary_target(name, input, target):
    _same_shape(name, input, target)
    return target if target.dtype == input.dtype else target.to(dtype=input.dtype)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """Binary cross-entropy between probabilities ``input`` and ``target`` (same shape);
    ``weight`` broadcasts to the input."""
    name = "binary_cross_entropy"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    target = _binary_target(name, input, target)
    _broadcastable_to(name, "weight", weight, input)
    x = input.array
    if ((x < 0) | (x > 1)).any():
        raise ValueError(f"{name}: all elements of input should be between 0 and 1 (they "
                         f"are probabilities; use BCEWithLogitsLoss for logits), got values "
                         f"in [{float(x.min())}, {float(x.max())}]")
    return BinaryCrossEntropy.apply(input, target, weight=_raw(weight, input.dtype),
                                    reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy on logits, stable for any logit; ``pos_weight`` scales
    the positive term and broadcasts against the target (shape (C,) for (N, C) input)."""
    name = "binary_cross_entropy_with_logits"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    target = _binary_target(name, input, target)
    _broadcastable_to(name, "weight", weight, input)
    _broadcastable_to(name, "pos_weight", pos_weight, input)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight=_raw(weight, input.dtype),
                                              pos_weight=_raw(pos_weight, input.dtype),
                                              reduction=reduction)
