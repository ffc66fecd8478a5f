"""Adadelta."""
from __future__ import annotations

from ember import backend
from ember.optim.optimizer import Optimizer, _check_hyper


class Adadelta(Optimizer):
    """Adadelta: Zeiler 2012, "ADADELTA: An Adaptive Learning Rate Method",
    https://arxiv.org/abs/1212.5701

    Per parameter::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        p = p - lr * delta

    Args:
        params: parameters or parameter groups.
        lr: scale applied to ``delta`` (default 1.0; the paper has no learning rate).
        rho: decay rate of the running averages (default 0.9).
        eps: added inside the square roots (default 1e-6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
        _check_hyper("Adadelta", lr=(lr, lr >= 0, "lr >= 0"),
                     rho=(rho, 0 <= rho <= 1, "0 <= rho <= 1"), eps=(eps, eps >= 0, "eps >= 0"),
                     weight_decay=(weight_decay, weight_decay >= 0, "weight_decay >= 0"))
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros_like(p)
            state["acc_delta"] = self._zeros_like(p)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        v, u = state["square_avg"].array, state["acc_delta"].array
        v *= rho
        v += (1 - rho) * g * g
        delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g
        u *= rho
        u += (1 - rho) * delta * delta
        p.array -= group["lr"] * delta
