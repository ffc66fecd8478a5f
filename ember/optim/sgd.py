"""SGD with optional momentum, Nesterov momentum, weight decay (PyTorch's formulation)."""
from __future__ import annotations

from ember.optim.optimizer import Optimizer, _check_hyper
from ember.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, with heavy-ball momentum or Nesterov momentum.

    Per parameter, with gradient ``g`` (PyTorch's update, in which the learning rate
    multiplies the momentum buffer, not the gradient inside it)::

        g = g + weight_decay * p
        b = g                                  (first step)
        b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b if nesterov else b
        p = p - lr * g

    Nesterov momentum as in Sutskever et al. 2013, "On the importance of initialization and
    momentum in deep learning", http://proceedings.mlr.press/v28/sutskever13.pdf

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3, as in PyTorch).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty coefficient, added to the gradient (default 0).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend the objective instead of descending it.

    Example::

        >>> opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        _check_hyper("SGD", lr=(lr, lr >= 0, "lr >= 0"),
                     momentum=(momentum, momentum >= 0, "momentum >= 0"),
                     weight_decay=(weight_decay, weight_decay >= 0, "weight_decay >= 0"))
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero "
                             f"dampening, got momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p.array
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor._make(g.copy())
            else:
                buf.array *= momentum
                buf.array += (1 - group["dampening"]) * g
            g = g + momentum * buf.array if group["nesterov"] else buf.array
        p.array -= group["lr"] * g
