"""Weight penalties to add to a loss, written with ember ops so that they backpropagate."""
from __future__ import annotations

from ember.tensor import Tensor

__all__ = ["l1_penalty", "l2_penalty"]


def _sum_over(parameters, term):
    total = None
    for p in [parameters] if isinstance(parameters, Tensor) else parameters:
        total = term(p) if total is None else total + term(p)
    if total is None:
        raise ValueError("the penalty got no parameters")
    return total


def l2_penalty(parameters):
    """``0.5 * sum(w ** 2)`` over all entries of ``parameters``.

    The factor 0.5 makes the gradient ``w`` itself, so ``loss + wd * l2_penalty(params)``
    trains exactly like ``SGD(params, weight_decay=wd)`` (and like ``Adam`` with
    ``weight_decay=wd``, which couples the decay to the gradient; ``AdamW`` does not).
    Pass only the tensors to penalise, e.g. the weights and not the biases.

    Example::

        >>> loss = criterion(model(x), y) + 1e-4 * l2_penalty(model.parameters())
    """
    return 0.5 * _sum_over(parameters, lambda w: (w * w).sum())


def l1_penalty(parameters):
    """``sum(|w|)`` over all entries of ``parameters`` (the lasso penalty; drives weights to
    exactly zero). Its gradient at ``w = 0`` is 0."""
    return _sum_over(parameters, lambda w: w.abs().sum())
