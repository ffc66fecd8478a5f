"""RAdam."""
from __future__ import annotations

from ember import backend
from ember.optim.adam import _adam_moments, _check_betas
from ember.optim.optimizer import Optimizer


class RAdam(Optimizer):
    """RAdam (rectified Adam): Liu et al. 2020, "On the Variance of the Adaptive Learning
    Rate and Beyond", https://arxiv.org/abs/1908.03265

    Adam whose adaptive step is switched on only once the variance of ``v`` is tractable
    (``rho_t > 5``), and then scaled by the rectification term ``r_t``::

        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        p = p - lr * m_hat * r_t * sqrt(1 - beta2**t) / (sqrt(v) + eps)   if rho_t > 5
        p = p - lr * m_hat                                                 otherwise

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        decoupled_weight_decay: decay weights directly, as AdamW does.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, maximize=False):
        _check_betas("RAdam", lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        t, m, v, g = _adam_moments(p, g, state, group)
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        m_hat = m / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = bias_correction2 ** 0.5 / (xp.sqrt(v) + group["eps"])
            p.array -= m_hat * lr * adaptive * rect
        else:
            p.array -= m_hat * lr
