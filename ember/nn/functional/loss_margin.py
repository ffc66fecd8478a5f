"""Margin losses under PyTorch's names and arguments: ranking, hinge embedding, soft margin,
multi-label (soft) margin, multi-class margin and the triplet losses.

All are composed from differentiable ops (clamp, where, gather, norm), so their gradients
are the ops' own; the one fused Function is the soft margin loss, written with the stable
softplus ``log(1 + exp(-y x))`` so that it stays finite for any ``|x|``. Reductions are
'none' | 'mean' | 'sum' (and the legacy ``size_average``/``reduce`` pair where PyTorch has
it); errors name the function and the shapes.
"""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.nn.functional.distance import pairwise_distance
from ember.nn.functional.loss import (
    BinaryCrossEntropyWithLogits,
    _broadcastable_to,
    _reduce,
    _reduction,
    _same_device,
    _shape,
)
from ember.ops.elementwise import minimum, stable_sigmoid, stable_softplus, where
from ember.ops.indexing import gather
from ember.tensor import Tensor

__all__ = ["hinge_embedding_loss", "margin_ranking_loss", "multi_margin_loss",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "soft_margin_loss",
           "triplet_margin_loss", "triplet_margin_with_distance_loss"]


def _broadcast(name, *named):
    """The broadcast shape of (what, tensor) pairs, or a ValueError naming every shape."""
    try:
        return np.broadcast_shapes(*(_shape(t) for _, t in named))
    except ValueError:
        shapes = ", ".join(f"{what} {_shape(t)}" for what, t in named)
        raise ValueError(f"{name}: shapes do not broadcast: {shapes}") from None


def _aligned(name, *named, rule="all input tensors should have the same number of dims"):
    """(what, tensor) pairs with one number of dims, on the first one's device, whose
    shapes broadcast; else an error naming every shape."""
    if len({t.ndim for _, t in named}) > 1:
        shapes = [f"{w} {_shape(t)}" for w, t in named]
        raise ValueError(f"{name}: {rule}, got {', '.join(shapes[:-1])} and {shapes[-1]}")
    for w, t in named[1:]:
        _same_device(name, w, t, named[0][1])
    return _broadcast(name, *named)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``: target 1 asks input1 to rank higher,
    -1 asks input2 to. The three tensors have the same number of dims and broadcast."""
    name = "margin_ranking_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _aligned(name, ("input1", input1), ("input2", input2), ("target", target))
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``x`` where target is 1, ``max(0, margin - x)`` where target is -1 (x: a distance)."""
    name = "hinge_embedding_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _same_device(name, "target", target, input)
    _broadcast(name, ("input", input), ("target", target))
    y = target.array
    return _reduce(where(y != 1, (margin - input).clamp(min=0), 0.0) + where(y != -1, input, 0.0),
                   reduction)


class SoftMargin(Function):
    """``log(1 + exp(-y x))`` as a stable softplus; the gradient ``-y sigmoid(-y x)``."""

    def forward(self, x, *, y):
        z = -y * x
        self.save_for_backward(z)
        self.y = y
        return stable_softplus(self.xp, z)

    def backward(self, gy):
        return -gy * self.y * stable_sigmoid(self.xp, self.saved[0])


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Two-class logistic loss ``log(1 + exp(-target * input))`` (target in {1, -1}), finite
    for any logit; as in PyTorch the target gets no gradient."""
    name = "soft_margin_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    _broadcastable_to(name, "target", target, input)
    if target.requires_grad:
        raise ValueError(f"{name}: is not differentiable with respect to target; the target "
                         "cannot require grad")
    y = target.array.astype(input.dtype, copy=False)
    return _reduce(SoftMargin.apply(input, y=y), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Multi-label one-versus-all logistic loss, averaged over the C classes (the last dim):
    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``, times ``weight`` (broadcast)."""
    name = "multilabel_soft_margin_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    _same_device(name, "target", target, input)
    _broadcast(name, ("input", input), ("target", target))
    if target.dtype != input.dtype:
        target = target.to(dtype=input.dtype)
    # -(y log sigmoid(x) + (1 - y) log sigmoid(-x)) = softplus(x) - y x, the stable form
    loss = BinaryCrossEntropyWithLogits.apply(input, target, weight=None, pos_weight=None,
                                              reduction="none")
    if weight is not None:
        _same_device(name, "weight", weight, input)
        _broadcast(name, ("input", input), ("weight", weight))
        loss = loss * weight
    return _reduce(loss.sum(loss.ndim - 1) / input.shape[-1], reduction)


def _class_indices(name, t, C, low):
    if t.dtype.kind not in "iu":
        raise ValueError(f"{name}: target must be an integer tensor of class indices, got "
                         f"dtype {t.dtype}")
    a = t.array
    bad = (a < low) | (a >= C)
    if bad.any():
        raise ValueError(f"{name}: target value {int(a[bad][0])} is out of range for {C} "
                         f"classes (expected {low} <= target < {C})")
    return a


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Multi-label hinge loss: for each sample, ``sum_j sum_i max(0, 1 - (x[y_j] - x[i])) / C``
    over target classes y_j and non-target classes i. ``target`` has the input's shape,
    (C,) or (N, C), and lists the target classes first, ended by -1 (as in PyTorch)."""
    name = "multilabel_margin_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    if input.ndim > 2 or _shape(target) != _shape(input):
        raise ValueError(f"{name}: expected input (C,) or (N, C) and a target of the same "
                         f"shape, got input {_shape(input)} and target {_shape(target)}")
    _same_device(name, "target", target, input)
    x = input.reshape(1, -1) if input.ndim < 2 else input
    N, C = x.shape
    t = _class_indices(name, target, C, -1).reshape(N, C)
    xp = backend.get_array_module(t)
    valid = xp.cumprod(t != -1, axis=1).astype(bool)  # the entries before the first -1
    safe = xp.where(valid, t, 0)
    is_target = xp.zeros((N, C), bool)
    rows = xp.broadcast_to(xp.arange(N)[:, None], (N, C))
    is_target[rows[valid], safe[valid]] = True
    picked = gather(x, 1, Tensor._make(safe))  # x[n, y_j]: (N, C)
    z = (1 - picked.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)  # (N, j, i)
    pair = valid[:, :, None] & ~is_target[:, None, :]
    loss = where(pair, z, 0.0).sum((1, 2)) / C
    if input.ndim < 2:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """Multi-class hinge loss: ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])**p / C`` per
    sample; input (N, C) or (C,), target (N,) class indices (or (1,) / () unbatched)."""
    name = "multi_margin_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p == 1 and p == 2 supported, got p={p}")
    if input.ndim > 2:
        raise ValueError(f"{name}: expected input (C,) or (N, C), got {_shape(input)}")
    N = input.shape[0] if input.ndim == 2 else 1
    if target.ndim > 1 or target.numel() != N:
        raise ValueError(f"{name}: target should be 1-D with one class index per sample, "
                         f"expected ({N},), got {_shape(target)} for input {_shape(input)}")
    _same_device(name, "target", target, input)
    x = input.reshape(N, -1)
    C = x.shape[1]
    t = _class_indices(name, target, C, 0).reshape(N, 1)
    xp = backend.get_array_module(t)
    picked = gather(x, 1, Tensor._make(t))  # (N, 1)
    z = (margin - picked + x).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        _same_device(name, "weight", weight, input)
        if _shape(weight) != (C,):
            raise ValueError(f"{name}: weight shape {_shape(weight)} does not match the {C} "
                             f"classes of input shape {_shape(input)} (expected ({C},))")
        z = z * weight.array.astype(input.dtype, copy=False)[t]
    loss = where(xp.arange(C)[None, :] != t, z, 0.0).sum(1) / C
    if reduction == "none" and target.ndim == 0:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def _triplet(name, anchor, positive, negative, distance, margin, swap, reduction):
    _aligned(name, ("anchor", anchor), ("positive", positive), ("negative", negative),
             rule="the anchor, positive, and negative tensors are expected to have the "
                  "same number of dimensions")
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = minimum(dist_neg, distance(positive, negative))
    return _reduce((margin + dist_pos - dist_neg).clamp(min=0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(0, d(a, p) - d(a, n) + margin)`` with ``d(x, y) = ||x - y + eps||_p`` over the
    last dim; ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    name = "triplet_margin_loss"  # for error messages
    reduction = _reduction(name, reduction, size_average, reduce)
    return _triplet(name, anchor, positive, negative,
                    lambda a, b: pairwise_distance(a, b, p, eps), margin, swap, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """``max(0, d(a, p) - d(a, n) + margin)`` with any ``distance_function`` of two tensors
    (default: the pairwise Euclidean distance, as in PyTorch)."""
    name = "triplet_margin_with_distance_loss"  # for error messages
    reduction = _reduction(name, reduction)
    if margin <= 0:
        raise ValueError(f"{name}: expected margin to be greater than 0, got {margin}")
    return _triplet(name, anchor, positive, negative, distance_function or pairwise_distance,
                    margin, swap, reduction)
