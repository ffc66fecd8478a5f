"""Margin loss layers: thin Modules over ``ember.nn.functional.loss_margin`` with PyTorch's
constructor arguments; class weights are buffers (``weight``) as in PyTorch."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.loss import _Loss, _WeightedLoss

__all__ = ["HingeEmbeddingLoss", "MarginRankingLoss", "MultiLabelMarginLoss",
           "MultiLabelSoftMarginLoss", "MultiMarginLoss", "SoftMarginLoss", "TripletMarginLoss",
           "TripletMarginWithDistanceLoss"]


class MarginRankingLoss(_Loss):
    """``max(0, -y (x1 - x2) + margin)`` for y in {1, -1}.

    Args:
        margin: default 0.
        reduction: 'none' | 'mean' | 'sum' (size_average/reduce: deprecated, as in PyTorch).

    Shape:
        input1, input2, target: the same number of dims, broadcastable; output: scalar, or
        the broadcast shape for 'none'.
    """

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``x`` for target 1, ``max(0, margin - x)`` for target -1 (x: e.g. a distance).

    Args:
        margin: default 1.
        reduction: 'none' | 'mean' | 'sum'.
    """

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-y x))``, stable for any x.

    Args:
        reduction: 'none' | 'mean' | 'sum'.
    """

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """One-versus-all logistic loss averaged over the classes (the last dim).

    Args:
        weight: (C,) per-class weights (a buffer).
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input and target (N, C) or (C,); output: scalar, or (N,) for 'none'.
    """

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss; the target lists the target classes, ended by -1.

    Args:
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input (N, C) or (C,), target of the same shape (int); output: scalar, or (N,).
    """

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])**p / C``.

    Args:
        p: 1 or 2.
        margin: default 1.
        weight: (C,) per-class weights (a buffer).
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input (N, C) or (C,), target (N,) or () class indices; output: scalar, or (N,).
    """

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"only p == 1 and p == 2 supported, got p={p}")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be a 1-D tensor, got "
                             f"{tuple(weight.shape)}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(0, d(a, p) - d(a, n) + margin)`` with the pairwise p-norm distance.

    Args:
        margin: default 1; p: the norm's degree (default 2); eps: added to the difference
        (default 1e-6); swap: use ``min(d(a, n), d(p, n))`` (distance swap);
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        anchor, positive, negative (N, D) or (D,); output: scalar, or (N,) for 'none'.
    """

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with any distance function of two tensors.

    Args:
        distance_function: default the pairwise Euclidean distance; margin: positive
        (default 1); swap: use ``min(d(a, n), d(p, n))``; reduction: 'none' | 'mean' | 'sum'.
    """

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater "
                             f"than 0, got {margin} instead")
        self.distance_function = distance_function
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)
