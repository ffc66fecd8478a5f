"""NAdam."""
from __future__ import annotations

from ember import backend
from ember.optim.adam import _adam_moments, _check_betas
from ember.optim.optimizer import Optimizer, _check_hyper


class NAdam(Optimizer):
    """NAdam (Adam with Nesterov momentum): Dozat 2016, "Incorporating Nesterov Momentum into
    Adam", https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ

    Per parameter at step ``t``, with the momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))``::

        g = g + weight_decay * p          (or p = p * (1 - lr * weight_decay) if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        d = sqrt(v / (1 - beta2**t)) + eps
        p = p - lr * (1 - mu_t) / (1 - prod(mu_1..mu_t)) * g / d
              - lr * mu_{t+1} / (1 - prod(mu_1..mu_{t+1})) * m / d

    ``mu_product`` (the running product) is a Python float here; PyTorch keeps it as a 0-d
    tensor of the default dtype (float32 unless changed), so it agrees to float32 precision.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        momentum_decay: the ``psi`` of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay weights directly, as AdamW does (NAdamW).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        _check_betas("NAdam", lr, betas, eps, weight_decay)
        _check_hyper("NAdam", momentum_decay=(momentum_decay, momentum_decay >= 0, ">= 0"))
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        beta1, beta2 = group["betas"]
        lr, psi = group["lr"], group["momentum_decay"]
        t, m, v, g = _adam_moments(p, g, state, group)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] = state.get("mu_product", 1.0) * mu
        mu_product_next = state["mu_product"] * mu_next
        denom = xp.sqrt(v / (1 - beta2 ** t)) + group["eps"]
        p.array += (-lr * (1.0 - mu) / (1.0 - state["mu_product"])) * (g / denom)
        p.array += (-lr * mu_next / (1.0 - mu_product_next)) * (m / denom)
