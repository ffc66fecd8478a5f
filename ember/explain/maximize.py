"""Activation maximisation (Erhan et al., 2009; Simonyan et al., 2013; Yosinski et al., 2015):
the input that most excites a unit, a channel or a class, found by gradient ascent on the
input with two regularisers: L2 decay of the input (keeps it small and smooth) and random
jitter (the input is rolled by a few pixels before every step, so the pattern cannot rely
on exact pixel positions).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import ember
from ember import nn

__all__ = ["Maximized", "maximize_activation"]


class _Stop(Exception):
    """Raised by the hook once the layer has run."""


@dataclass
class Maximized:
    """The result of :func:`maximize_activation`: ``input`` (1, *input_size), the objective
    (activation minus the L2 penalty) before every step in ``history``, and the final
    ``activation`` (without the penalty, no jitter)."""
    input: ember.Tensor
    history: list = field(default_factory=list)
    activation: float = 0.0


def _objective(model, layer, x, channel, target):
    if layer is None:
        out = model(x)
    else:
        captured = []

        def hook(module, args, output):
            captured.append(output)
            raise _Stop  # the rest of the network is not needed

        handle = layer.register_forward_hook(hook)
        try:
            model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError("maximize_activation: the layer did not run in the forward pass")
        out = captured[0]
    index = target if layer is None else channel
    if index is None:
        raise ValueError("maximize_activation: pass target= (a class) or layer= and channel=")
    index = index if isinstance(index, tuple) else (index,)
    if len(index) > out.ndim - 1 or any(not -s <= i < s for i, s in zip(index, out.shape[1:])):
        raise IndexError(f"maximize_activation: unit {index} is out of range for an output "
                         f"of shape {tuple(out.shape)}")
    return out[(0, *index)].mean()


def maximize_activation(model, input_size, target=None, layer=None, channel=None, steps=200,
                        lr=0.05, l2=1e-3, jitter=2, init_std=0.01, seed=0):
    """The input of shape ``(1, *input_size)`` that maximises a class score or a unit.

    Args:
        model: an ``ember.nn.Module`` (put in eval mode for the search, restored after;
            its parameters are left untouched and get no gradient).
        input_size: ``(C, H, W)`` (or any shape the model takes after the batch).
        target: a class index: maximise ``model(x)[0, target]`` (a logit; maximising the
            probability would also push the other classes down).
        layer, channel: instead, maximise the mean of channel ``channel`` (an int, or a
            tuple to pick one unit) of ``layer``'s output (a submodule or dotted name).
        steps, lr: Adam steps and learning rate on the input.
        l2: weight of the penalty ``l2 * sum(x^2)`` subtracted from the objective.
        jitter: roll the input by up to this many pixels along the last two dimensions
            before every step (0: none).
        init_std, seed: the start is ``init_std`` times standard normal noise from a NumPy
            generator seeded by ``seed`` (the same result every call).

    Returns:
        :class:`Maximized`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"maximize_activation: model must be an ember.nn.Module, got "
                        f"{type(model).__name__}")
    if isinstance(layer, str):
        layer = model.get_submodule(layer)
    if (target is None) == (layer is None):
        raise ValueError("maximize_activation: pass either target= (a class) or layer= with "
                         "channel=")
    if steps < 0 or l2 < 0 or jitter < 0:
        raise ValueError(f"maximize_activation: steps, l2 and jitter must be >= 0, got "
                         f"{steps}, {l2}, {jitter}")
    p = next(iter(model.parameters()), None)
    dtype, device = (p.dtype, p.device) if p is not None else (ember.float32, "cpu")
    rng = np.random.default_rng(seed)
    x = ember.tensor(rng.normal(0, init_std, size=(1, *input_size)), dtype=dtype,
                     device=device, requires_grad=True)
    optimizer = ember.optim.Adam([x], lr=lr)
    modes = {id(m): m.training for m in model.modules()}
    flags = [(q, q.requires_grad) for q in model.parameters()]
    model.eval().requires_grad_(False)
    history = []
    try:
        with ember.enable_grad():
            for _ in range(steps):
                shift = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, size=2))
                seen = ember.roll(x, shift, dims=(-2, -1)) if jitter else x
                value = _objective(model, layer, seen, channel, target)
                loss = l2 * (x * x).sum() - value
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                history.append(-float(loss.item()))
        with ember.no_grad():
            final = float(_objective(model, layer, x, channel, target).item())
    finally:
        for m in model.modules():
            m.__dict__["training"] = modes[id(m)]
        for q, flag in flags:
            q.requires_grad = flag
    return Maximized(x.detach(), history, final)
