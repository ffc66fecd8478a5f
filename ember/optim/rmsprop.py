"""RMSprop."""
from __future__ import annotations

from ember import backend
from ember.optim.optimizer import Optimizer, _check_hyper


class RMSprop(Optimizer):
    """RMSprop: Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning",
    lecture 6e, https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
    (centered variant: Graves 2013, https://arxiv.org/abs/1308.0850).

    Per parameter::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        c = alpha * c + (1 - alpha) * g          (centered only)
        d = sqrt(v - c**2) + eps if centered else sqrt(v) + eps
        b = momentum * b + g / d;  p = p - lr * b   (momentum > 0)
        p = p - lr * g / d                          (otherwise)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        _check_hyper("RMSprop", lr=(lr, lr >= 0, "lr >= 0"), eps=(eps, eps >= 0, "eps >= 0"),
                     momentum=(momentum, momentum >= 0, "momentum >= 0"),
                     weight_decay=(weight_decay, weight_decay >= 0, "weight_decay >= 0"),
                     alpha=(alpha, alpha >= 0, "alpha >= 0"))
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        alpha = group["alpha"]
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = self._zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = self._zeros_like(p)
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        v = state["square_avg"].array
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            c = state["grad_avg"].array
            c *= alpha
            c += (1 - alpha) * g
            denom = xp.sqrt(v - c * c) + group["eps"]
        else:
            denom = xp.sqrt(v) + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"].array
            buf *= group["momentum"]
            buf += g / denom
            p.array -= group["lr"] * buf
        else:
            p.array -= group["lr"] * (g / denom)
