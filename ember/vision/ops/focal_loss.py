"""The focal loss of RetinaNet (Lin et al. 2017, https://arxiv.org/abs/1708.02002), as
torchvision.ops.sigmoid_focal_loss computes it (composed of Tensor ops: autograd for free)."""
from __future__ import annotations

from ember.nn import functional as F
from ember.tensor import Tensor

__all__ = ["sigmoid_focal_loss"]


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """``alpha_t * (1 - p_t) ** gamma * BCE(inputs, targets)`` elementwise, with
    ``p = sigmoid(inputs)``, ``p_t = p * t + (1 - p) * (1 - t)`` and
    ``alpha_t = alpha * t + (1 - alpha) * (1 - t)`` (no weighting when ``alpha < 0``).

    Args:
        inputs: logits of any shape; targets: the same shape, in [0, 1] (1 = positive).
        reduction: "none" | "mean" | "sum".
    """
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError("sigmoid_focal_loss: inputs and targets must be Tensors")
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(f"sigmoid_focal_loss: targets {tuple(targets.shape)} must have the "
                         f"shape of inputs {tuple(inputs.shape)}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported "
                         "reduction modes: 'none', 'mean', 'sum'")
    targets = targets.to(inputs.dtype)
    p = inputs.sigmoid()
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
