"""Distribution negative log-likelihood loss layers: thin Modules over
``ember.nn.functional.loss_nll`` with PyTorch's constructor arguments."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.loss import _Loss

__all__ = ["CTCLoss", "GaussianNLLLoss", "PoissonNLLLoss"]


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood of ``target`` under rate ``input``.

    Args:
        log_input: the input is the log-rate (``exp(x) - t x``), else the rate
            (``x - t log(x + eps)``).
        full: add the Stirling approximation of ``log(t!)`` where ``t > 1``.
        eps: keeps ``log`` finite when ``log_input=False`` (default 1e-8).
        reduction: 'none' | 'mean' | 'sum' (size_average/reduce: deprecated).
    """

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood ``0.5 (log(var) + (input - target)**2 / var)``.

    Args:
        full: add the constant ``0.5 log(2 pi)``.
        eps: the variance is clamped at it (no gradient through the clamp); default 1e-6.
        reduction: 'none' | 'mean' | 'sum'.

    Shape:
        input, target (N, *) or (*); var the input's shape, or one dim fewer, or one dim of
        size 1, or a float.
    """

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss (alignment-free sequence labelling).

    Args:
        blank: the blank label (default 0).
        reduction: 'none' | 'mean' (each loss divided by its target length, then the batch
            mean) | 'sum'.
        zero_infinity: zero infinite losses (impossible alignments) and their gradients.

    Shape:
        log_probs (T, N, C) or (T, C), log-softmax normalised; targets (N, S) padded or
        (sum(target_lengths),) concatenated; input_lengths and target_lengths (N,) tensors
        or tuples; output: scalar, or (N,) for 'none'.
    """

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                          reduction=self.reduction, zero_infinity=self.zero_infinity)
