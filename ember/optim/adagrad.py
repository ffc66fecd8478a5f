"""Adagrad."""
from __future__ import annotations

from ember import backend
from ember.optim.optimizer import Optimizer, _check_hyper
from ember.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad: Duchi, Hazan & Singer 2011, "Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization", https://jmlr.org/papers/v12/duchi11a.html

    Per parameter at step ``t``::

        g = g + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2                        (s starts at initial_accumulator_value)
        p = p - lr_t * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, *, maximize=False):
        _check_hyper("Adagrad", lr=(lr, lr >= 0, "lr >= 0"),
                     lr_decay=(lr_decay, lr_decay >= 0, "lr_decay >= 0"),
                     weight_decay=(weight_decay, weight_decay >= 0, "weight_decay >= 0"),
                     initial_accumulator_value=(initial_accumulator_value,
                                                initial_accumulator_value >= 0, ">= 0"),
                     eps=(eps, eps >= 0, "eps >= 0"))
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        for group in self.param_groups:  # PyTorch fills the state up front
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    @staticmethod
    def _init_state(p, state, group):
        if not state:
            state["step"] = 0
            xp = backend.get_array_module(p.array)
            state["sum"] = Tensor._make(
                xp.full_like(p.array, group["initial_accumulator_value"]))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        self._init_state(p, state, group)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"].array
        s += g * g
        p.array -= clr * (g / (xp.sqrt(s) + group["eps"]))
