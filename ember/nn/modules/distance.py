"""Distance layers: thin modules over ``ember.nn.functional.distance`` with PyTorch's
arguments (and, as PyTorch, no extra text in their reprs)."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["CosineSimilarity", "PairwiseDistance"]


class CosineSimilarity(Module):
    """Cosine similarity of ``x1`` and ``x2`` along ``dim`` (default 1), norms clamped to
    ``eps`` (default 1e-8).

    Shape: ``(*, D, *)`` and a broadcastable shape -> the broadcast shape without ``dim``.
    """

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of ``x1 - x2 + eps`` along the last dim.

    Args: p (default 2.0), eps (default 1e-6), keepdim (default False).
    Shape: ``(N, D)`` or ``(D,)`` -> ``(N,)`` or ``()`` (``(N, 1)`` with keepdim).
    """

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
