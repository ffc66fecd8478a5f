"""Adam and AdamW."""
from __future__ import annotations

from ember import backend
from ember.optim.optimizer import Optimizer, _check_hyper


def _check_betas(owner, lr, betas, eps, weight_decay):
    _check_hyper(owner, lr=(lr, lr >= 0, "lr >= 0"), eps=(eps, eps >= 0, "eps >= 0"),
                 beta1=(betas[0], 0 <= betas[0] < 1, "0 <= betas[0] < 1"),
                 beta2=(betas[1], 0 <= betas[1] < 1, "0 <= betas[1] < 1"),
                 weight_decay=(weight_decay, weight_decay >= 0, "weight_decay >= 0"))


def _decay_weights(p, g, group):
    """Weight decay either coupled (L2: added to the gradient, then rescaled by the adaptive
    denominator) or decoupled (Loshchilov & Hutter: shrink the weights directly)."""
    wd = group["weight_decay"]
    if wd == 0:
        return g
    if group.get("decoupled_weight_decay", False):
        p.array *= 1 - group["lr"] * wd
        return g
    return g + wd * p.array


def _adam_moments(p, g, state, group):
    """What Adam, NAdam and RAdam share: weight decay, then the step count and the running
    averages of the gradient and of its square. Returns ``(t, m, v, g)``, ``g`` now with
    any coupled weight decay."""
    beta1, beta2 = group["betas"]
    g = _decay_weights(p, g, group)
    if not state:
        state["step"] = 0
        state["exp_avg"] = Optimizer._zeros_like(p)
        state["exp_avg_sq"] = Optimizer._zeros_like(p)
    state["step"] += 1
    m, v = state["exp_avg"].array, state["exp_avg_sq"].array
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    return state["step"], m, v, g


class Adam(Optimizer):
    """Adam: Kingma & Ba 2014, "Adam: A Method for Stochastic Optimization",
    https://arxiv.org/abs/1412.6980 (AMSGrad: Reddi et al. 2018,
    https://openreview.net/forum?id=ryQu7f-RZ).

    Per parameter at step ``t``::

        g = g + weight_decay * p          (or p = p * (1 - lr * weight_decay) if decoupled)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)             (amsgrad only; used in place of v below)
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the two moment averages (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0). With adaptive methods
            this is *not* the same as weight decay: see :class:`AdamW`.
        amsgrad: use the AMSGrad variant.
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: decay the weights directly, as AdamW does.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        _check_betas(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, g, state, group):
        xp = backend.get_array_module(p.array)
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        t, m, v, g = _adam_moments(p, g, state, group)
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = self._zeros_like(p)
            v = xp.maximum(state["max_exp_avg_sq"].array, v, out=state["max_exp_avg_sq"].array)
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        denom = xp.sqrt(v) / bias_correction2 ** 0.5 + group["eps"]
        p.array -= lr / bias_correction1 * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: Loshchilov & Hutter 2019, "Decoupled Weight Decay
    Regularization", https://arxiv.org/abs/1711.05101

    Before the Adam step the weights shrink, ``p = p * (1 - lr * weight_decay)``, instead of
    ``weight_decay * p`` joining the gradient (where Adam's denominator would rescale it).
    Same arguments as :class:`Adam`; ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
