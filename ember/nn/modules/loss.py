"""Loss layers: thin Modules over ``ember.nn.functional.loss`` with PyTorch's constructor arguments.

Class weights are buffers (``weight``, ``pos_weight``) as in PyTorch, so they follow
``.to()`` and appear under the same ``state_dict`` keys. Errors name the layer.
"""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.functional.utils import legacy_reduction
from ember.nn.modules.module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss",
           "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss"]


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_reduction(size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2``.

    Args:
        reduction: 'none' | 'mean' | 'sum' (size_average/reduce: deprecated, as in PyTorch).

    Shape:
        input and target: any shape, the same; output: scalar, or the input's shape for
        'none'.
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``; arguments and shapes as MSELoss."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above: ``0.5 d**2 / beta`` or ``|d| - 0.5 beta``.

    Args:
        reduction: 'none' | 'mean' | 'sum'.
        beta: where the quadratic part ends (0 gives L1Loss).
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d**2`` below ``delta``, ``delta (|d| - 0.5 delta)`` above.

    Args:
        reduction: 'none' | 'mean' | 'sum'.
        delta: where the quadratic part ends (positive).
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy on logits (log-softmax and NLL fused).

    Args:
        weight: (C,) per-class weights; 'mean' then divides by the summed weight of the
            non-ignored targets.
        ignore_index: class-index targets equal to it count for nothing (default -100).
        reduction: 'none' | 'mean' | 'sum'.
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.

    Shape:
        input (N, C) or (N, C, d1, ...) or (C,); target class indices (N,) or
        (N, d1, ...) or (), or class probabilities of the input's shape; output: scalar,
        or (N, d1, ...) for 'none'.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (e.g. from LogSoftmax).

    Args:
        weight, ignore_index, reduction: as in CrossEntropyLoss.

    Shape:
        input (N, C) or (N, C, d1, ...) or (C,); target (N,) or (N, d1, ...) or () class
        indices; output: scalar, or the target's shape for 'none'.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities in [0, 1] (logs clamped at -100, as PyTorch).

    Args:
        weight: rescaling weight broadcast to the input's shape.
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input and target: any shape, the same; output: scalar, or the input's shape.
    """

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable step, on logits.

    Args:
        weight: rescaling weight broadcast to the input's shape.
        reduction: 'none' | 'mean' | 'sum'.
        pos_weight: weight of the positive term, broadcast against the target: (C,) for
            (N, C) input, (C, 1, 1) for (N, C, H, W).

    Shape:
        input and target: any shape, the same; output: scalar, or the input's shape.
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, weight=self.weight, reduction=self.reduction,
            pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """KL divergence with ``input`` as log-probabilities.

    Args:
        reduction: 'none' | 'batchmean' (the true KL) | 'sum' | 'mean'.
        log_target: the target is given as log-probabilities too.
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos(x1, x2)`` for target 1, ``max(0, cos(x1, x2) - margin)`` for target -1.

    Args:
        margin: in [-1, 1]; 0 to 0.5 is typical.
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input1, input2 (N, D) or (D,); target (N,) or () of 1 and -1.
    """

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)
