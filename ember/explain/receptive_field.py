"""Receptive fields measured by backpropagation.

Which input pixels can change one unit of a layer? Backpropagate a gradient that is 1 at one
output position (all channels) and 0 elsewhere: the input pixels with a non-zero gradient are
the unit's receptive field. ``ember.summary`` computes the same thing analytically.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

import ember
from ember import backend, nn


class _Stop(Exception):
    """Raised by the hook once the layer has run: the rest of the network is not needed."""


@dataclass
class MeasuredField:
    """A measured receptive field: the bounding box ``rows = (r0, r1)``, ``cols = (c0, c1)``
    (inclusive, in input pixels) of the non-zero input gradient of the unit at ``position``
    of the layer's output; ``size = (r1 - r0 + 1, c1 - c0 + 1)``; ``grad`` the (H, W) map of
    absolute input gradients summed over channels (to plot the effective receptive field)."""
    rows: tuple
    cols: tuple
    size: tuple
    position: tuple
    grad: np.ndarray


def _constant(name, t):
    """The probe's value for a parameter/buffer: a float64 constant broadcast to its shape
    (no memory is allocated for layers that never run)."""
    shape, dtype = tuple(t.shape), np.float64
    if t.array.dtype.kind != "f":
        return backend.to_numpy(t.array)
    if name == "weight" and len(shape) >= 2:  # conv / linear: average the inputs
        value = 1.0 / (t.numel() // shape[0])
    elif name in ("bias", "running_mean"):
        value = 0.0
    elif name in ("weight", "running_var"):  # BN/LN scale, running variance
        value = 1.0
    else:
        return backend.to_numpy(t.array).astype(dtype)
    return np.broadcast_to(np.asarray(value, dtype), shape)


def _averaging_probe(model):
    """A copy of ``model`` where every unit depends positively on its whole window.

    Convolution and linear weights become 1/fan_in and biases 0 (so activations stay
    positive and O(1) with an all-ones input: ReLUs never block the gradient), batch norm
    becomes the identity, and max pooling becomes average pooling of the same geometry
    (a max passes the gradient to one element of its window only). Everything is float64 on
    the CPU, so the gradient reaching the edge of a deep field does not underflow.
    """
    memo = {}
    for m in model.modules():
        for store in (m._parameters, m._buffers):
            for name, t in store.items():
                if t is not None:
                    new = _constant(name, t)
                    is_param = store is m._parameters
                    memo[id(t)] = nn.Parameter(new, False) if is_param else ember.Tensor._make(new)
    probe = copy.deepcopy(model, memo)
    for parent in probe.modules():
        for name, child in list(parent._modules.items()):
            if isinstance(child, nn.MaxPool2d) and child.dilation in (1, (1, 1)):
                parent._modules[name] = nn.AvgPool2d(child.kernel_size, child.stride,
                                                     child.padding, ceil_mode=child.ceil_mode)
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                parent._modules[name] = nn.AdaptiveAvgPool2d(child.output_size)
    return probe.eval()


def _module_name(model, layer):
    if isinstance(layer, str):
        model.get_submodule(layer)  # raises a clear error for a wrong name
        return layer
    for name, m in model.named_modules():
        if m is layer:
            return name
    raise ValueError(f"receptive_field: {type(layer).__name__} is not a submodule of "
                     f"{type(model).__name__}")


def receptive_field(model, input_size, layer, position=None, theoretical=True, input=None):
    """Measure the receptive field of one unit of ``layer`` by backpropagation.

    Args:
        model: an ``ember.nn.Module``.
        input_size: ``(C, H, W)`` of one input.
        layer: a submodule of ``model`` or its dotted name (``"layer2"``,
            ``"features.16"``); its output at its first call is used.
        position: ``(i, j)`` of the unit in the layer's output; the centre by default.
        theoretical: measure on a float64 copy of the model in which every unit depends
            positively on its whole window (conv/linear weights 1/fan_in, biases 0, batch
            norm the identity, max pooling replaced by average pooling), with an all-ones
            input: the result is the full theoretical field and agrees with
            ``ember.summary``. With False, use the model itself (eval mode, its weights) on
            ``input`` (default: standard normal noise): the pixels that actually influence
            the unit, which max pooling and dead ReLUs can make fewer. The model and its
            gradients are left untouched either way.
        input: the input tensor for ``theoretical=False`` (shape ``(1, C, H, W)``).

    Returns:
        :class:`MeasuredField`.
    """
    name = _module_name(model, layer)
    if theoretical:
        probe = _averaging_probe(model)
        x = ember.ones(1, *input_size, dtype=ember.float64, requires_grad=True)
    else:
        probe, p = model, next(iter(model.parameters()))
        x = input.detach() if input is not None else \
            ember.randn(1, *input_size, dtype=p.dtype, device=p.device)
        x.requires_grad_(True)
    captured = []

    def hook(module, args, out):
        captured.append(out[0] if isinstance(out, (tuple, list)) else out)
        raise _Stop

    was_training = {id(m): m.training for m in probe.modules()}
    needs_grad = [(p, p.requires_grad) for p in probe.parameters()]
    handle = probe.get_submodule(name).register_forward_hook(hook)
    probe.eval().requires_grad_(False)  # only the input's gradient is wanted
    try:
        with ember.enable_grad():
            probe(x)
    except _Stop:
        pass
    finally:
        handle.remove()
        for m in probe.modules():
            m.__dict__["training"] = was_training[id(m)]
        for p, flag in needs_grad:
            p.requires_grad = flag
    if not captured:
        raise RuntimeError(f"receptive_field: layer {name!r} did not run in the forward pass")
    return _backprop_one_unit(captured[0], x, position)


def _backprop_one_unit(out, x, position):
    if out.ndim != 4:
        raise ValueError(f"receptive_field: the layer's output must be (N, C, H, W), got shape "
                         f"{tuple(out.shape)}")
    h, w = out.shape[2:]
    i, j = position if position is not None else (h // 2, w // 2)
    xp = backend.get_array_module(out.array)
    g = xp.zeros(out.shape, dtype=out.array.dtype)
    g[0, :, i, j] = 1
    out.backward(g)
    grad = np.abs(backend.to_numpy(x.grad.array[0])).sum(0)
    rows, cols = np.nonzero(grad)
    if rows.size == 0:
        raise RuntimeError("receptive_field: the gradient is zero everywhere (dead unit); "
                           "use theoretical=True")
    r, c = (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))
    return MeasuredField(r, c, (r[1] - r[0] + 1, c[1] - c[0] + 1), (int(i), int(j)), grad)
