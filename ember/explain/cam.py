"""Class activation maps over a layer's feature maps.

- ``LayerGradCam`` (Selvaraju et al., 2017; captum's): the feature maps weighted by their
  spatially averaged gradients, summed over channels.
- ``GuidedGradCam`` (captum's): guided backpropagation times the ReLU'd Grad-CAM map
  upsampled to the input.
- ``CAM`` (Zhou et al., 2016; captum lacks it): for a network that ends in global average
  pooling and one linear layer, the class's weights over the last feature maps,
  ``M_c(i, j) = sum_k w_{c,k} A_k(i, j)``.
- ``GradCAMPlusPlus`` (Chattopadhyay et al., 2018; captum lacks it): the channel weights
  ``w_k = sum_ij alpha_kij relu(g_kij)`` with ``alpha_kij = g_kij^2 / (2 g_kij^2 +
  sum_ab A_kab g_kij^3)`` (0 where the denominator is 0), ``g = dS_c/dA``, and the map
  ``relu(sum_k w_k A_k)``. (The paper derives alpha for ``exp(S_c)``; its positive factor
  ``exp(S_c)`` only scales each example's map and is left out, as in the authors' code.)

``LayerAttribution.interpolate`` upsamples any of these maps to the input's size.
"""
from __future__ import annotations

import ember
from ember import nn
from ember.explain import _common as c
from ember.explain.gradient import GradientAttribution
from ember.explain.guided import GuidedBackprop
from ember.nn import functional as F

__all__ = [
    "CAM",
    "GradCAMPlusPlus",
    "GuidedGradCam",
    "LayerAttribution",
    "LayerGradCam",
    "layer_gradients_and_eval",
]


class _Captured(Exception):
    """Stops a forward pass once the hooked layer has run (CAM needs nothing after it)."""


def _layer_name(model, layer, where):
    if isinstance(model, nn.Module):
        for name, m in model.named_modules():
            if m is layer:
                return name or "(the model)"
    if not isinstance(layer, nn.Module):
        raise TypeError(f"{where}: layer must be an ember.nn.Module, got "
                        f"{type(layer).__name__}")
    return type(layer).__name__


def layer_gradients_and_eval(forward_func, layer, inputs, target=None, args=None,
                             attribute_to_layer_input=False, where="attribute"):
    """``(gradients, activations)`` of ``layer``'s output (or first input) at ``inputs``:
    the gradient of the selected outputs summed over the batch, captured by a forward hook
    (captum's ``compute_layer_gradients_and_eval``, for a layer with one output). As captum,
    the network goes on with a clone of the captured tensor, so an in-place layer after it
    does not change it."""
    captured = []

    def keep(value, what):
        if not isinstance(value, ember.Tensor):
            raise TypeError(f"{where}: the layer {what} is a {type(value).__name__}; one "
                            "Tensor is needed")
        captured.append(value)
        return value.clone()  # later in-place layers (ReLU(inplace=True)) write the clone

    def pre_hook(module, layer_args):
        return (keep(layer_args[0], "input"), *layer_args[1:])

    def hook(module, layer_args, out):
        return keep(out, "output")

    leaves = tuple(x.detach().requires_grad_(True) for x in inputs)
    handle = layer.register_forward_pre_hook(pre_hook) if attribute_to_layer_input else \
        layer.register_forward_hook(hook)
    try:
        with ember.enable_grad():
            out = c.run_forward(forward_func, leaves, target, args, where)
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"{where}: the layer {_layer_name(forward_func, layer, where)} did "
                           "not run in the forward pass")
    if len(captured) > 1:
        raise RuntimeError(f"{where}: the layer ran {len(captured)} times in one forward pass; "
                           "pick a layer that runs once")
    act = captured[0]
    if out.ndim > 1 or (out.ndim == 1 and out.shape[0] != leaves[0].shape[0]):
        raise ValueError(f"{where}: the selected output must be one value per example; got "
                         f"shape {tuple(out.shape)} for a batch of {leaves[0].shape[0]} "
                         "(pass a target)")
    (grad,) = ember.autograd.grad(out, act, grad_outputs=ember.ones_like(out))
    return grad, act.detach()


class LayerAttribution:
    """Helpers shared by layer attributions."""

    @staticmethod
    def interpolate(layer_attribution, interpolate_dims, interpolate_mode="nearest"):
        """Resize a (N, C, *spatial) layer map to ``interpolate_dims`` (an int or one size
        per spatial dimension) with ``F.interpolate``'s ``mode`` ("nearest", "area",
        "bilinear", "bicubic", ...): a layer's map upsampled to the input, as captum's."""
        return F.interpolate(layer_attribution, interpolate_dims, mode=interpolate_mode)


class _LayerMethod(GradientAttribution):
    """``(forward_func, layer, device_ids=None)``; ``device_ids`` is captum's argument for
    DataParallel models and changes nothing here (ember has no DataParallel)."""

    def __init__(self, forward_func, layer, device_ids=None):
        super().__init__(forward_func)
        if not isinstance(layer, nn.Module):
            raise TypeError(f"{type(self).__name__}: layer must be an ember.nn.Module, got "
                            f"{type(layer).__name__}")
        self.layer = layer
        self.device_ids = device_ids

    def _grads(self, inputs, target, additional_forward_args, attribute_to_layer_input):
        xs = c.as_tuple(inputs, self._where())
        return layer_gradients_and_eval(self.forward_func, self.layer, xs, target,
                                        c.format_args(additional_forward_args),
                                        attribute_to_layer_input, self._where())


class LayerGradCam(_LayerMethod):
    """Grad-CAM of ``layer``: ``sum_k mean_ij(dS/dA_k) * A_k`` (N, 1, h, w), ReLU'd with
    ``relu_attributions=True``; ``attr_dim_summation=False`` keeps the channels."""

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input=False, relu_attributions=False,
                  attr_dim_summation=True, grad_kwargs=None):
        """The Grad-CAM map at the layer's resolution (upsample it with
        ``LayerAttribution.interpolate``). ``attribute_to_layer_input`` uses the layer's
        input instead of its output. ``grad_kwargs`` (options of ``torch.autograd.grad`` in
        captum) must be empty: ember's ``autograd.grad`` takes none that apply here."""
        if grad_kwargs:
            raise ValueError(f"{self._where()}: grad_kwargs {sorted(grad_kwargs)} are not "
                             "supported (ember.autograd.grad takes no extra options)")
        grad, act = self._grads(inputs, target, additional_forward_args,
                                attribute_to_layer_input)
        if grad.ndim > 2:
            grad = grad.mean(dim=tuple(range(2, grad.ndim)), keepdim=True)
        cam = grad * act
        if attr_dim_summation:
            cam = cam.sum(1, keepdim=True)
        return ember.relu(cam) if relu_attributions else cam


class GuidedGradCam(GradientAttribution):
    """Guided Grad-CAM: ``GuidedBackprop`` times the ReLU'd ``LayerGradCam`` map of
    ``layer``, upsampled to each input with ``interpolate_mode``."""

    def __init__(self, model, layer, device_ids=None):
        super().__init__(model)
        self.grad_cam = LayerGradCam(model, layer, device_ids)
        self.guided_backprop = GuidedBackprop(model)

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  interpolate_mode="nearest", attribute_to_layer_input=False):
        """Guided Grad-CAM, shaped like ``inputs``."""
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, self._where())
        cam = self.grad_cam.attribute(xs, target, additional_forward_args,
                                      attribute_to_layer_input, relu_attributions=True)
        guided = self.guided_backprop.attribute(xs, target, additional_forward_args)
        out = []
        for x, g in zip(xs, guided):
            if cam.ndim != x.ndim:
                raise ValueError(f"{self._where()}: the layer map of shape {tuple(cam.shape)} "
                                 f"cannot be upsampled to the input of shape {tuple(x.shape)}")
            out.append(g * LayerAttribution.interpolate(cam, tuple(x.shape[2:]),
                                                        interpolate_mode))
        return c.format_output(was_tuple, out)


class CAM(_LayerMethod):
    """Class activation mapping for networks ending in global average pooling and one linear
    layer: ``CAM(model, layer, fc=None)`` where ``layer`` gives the last feature maps A
    (N, K, h, w) and ``fc`` the linear layer with weight (classes, K) (default: the model's
    last ``nn.Linear``). The map is ``sum_k fc.weight[c, k] * A_k`` (no bias, as in the
    paper); it equals Grad-CAM's times ``h * w`` for such a network."""

    def __init__(self, model, layer, fc=None):
        super().__init__(model, layer)
        if fc is None:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)] \
                if isinstance(model, nn.Module) else []
            if not linears:
                raise ValueError("CAM: the model has no nn.Linear layer; pass fc=")
            fc = linears[-1]
        if not isinstance(fc, nn.Linear):
            raise TypeError(f"CAM: fc must be an nn.Linear, got {type(fc).__name__}")
        self.fc = fc

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  relu_attributions=False):
        """The class activation map (N, 1, h, w) of class ``target`` (an int or one per
        example) at the layer's resolution."""
        where = self._where()
        xs = c.as_tuple(inputs, where)
        captured = []

        def hook(module, args, out):
            captured.append(out)
            raise _Captured

        handle = self.layer.register_forward_hook(hook)
        try:
            with ember.no_grad():
                self.forward_func(*xs, *(c.format_args(additional_forward_args) or ()))
        except _Captured:
            pass
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError(f"{where}: the layer did not run in the forward pass")
        act = captured[0]
        n = xs[0].shape[0]
        if not isinstance(act, ember.Tensor) or act.ndim < 3:
            shape = tuple(getattr(act, "shape", ()))
            raise ValueError(f"{where}: the layer's output must be feature maps (N, K, ...), "
                             f"got {type(act).__name__} of shape {shape}")
        weight = self.fc.weight.detach()
        if weight.shape[1] != act.shape[1]:
            raise ValueError(f"{where}: fc has {weight.shape[1]} inputs but the layer gives "
                             f"{act.shape[1]} feature maps; CAM needs global average pooling "
                             "between them")
        classes = _class_indices(target, n, weight.shape[0], where)
        w = weight[classes].reshape(n, act.shape[1], *[1] * (act.ndim - 2))
        cam = (w * act).sum(1, keepdim=True)
        return ember.relu(cam) if relu_attributions else cam


def _class_indices(target, n, num_classes, where):
    if isinstance(target, ember.Tensor):
        target = target.tolist()
    if isinstance(target, int):
        target = [target] * n
    if not (isinstance(target, list) and len(target) == n and
            all(isinstance(t, int) for t in target)):
        raise ValueError(f"{where}: target must be a class index or one per example ({n}), "
                         f"got {target!r}")
    bad = [t for t in target if not 0 <= t < num_classes]
    if bad:
        raise IndexError(f"{where}: target {bad[0]} is out of range for {num_classes} classes")
    return target


class GradCAMPlusPlus(_LayerMethod):
    """Grad-CAM++ of ``layer`` (N, 1, h, w); see the module docstring for the formula.
    ``relu_attributions`` (default True, the paper's) applies the final ReLU."""

    def attribute(self, inputs, target=None, additional_forward_args=None,
                  attribute_to_layer_input=False, relu_attributions=True):
        """The Grad-CAM++ map at the layer's resolution."""
        g, act = self._grads(inputs, target, additional_forward_args,
                             attribute_to_layer_input)
        if g.ndim < 3:
            raise ValueError(f"{self._where()}: the layer must give feature maps (N, K, ...), "
                             f"got shape {tuple(g.shape)}")
        spatial = tuple(range(2, g.ndim))
        g2 = g * g
        denominator = 2 * g2 + act.sum(dim=spatial, keepdim=True) * g2 * g
        safe = ember.where(denominator != 0, denominator, ember.ones_like(denominator))
        alpha = ember.where(denominator != 0, g2 / safe, ember.zeros_like(g2))
        weights = (alpha * ember.relu(g)).sum(dim=spatial, keepdim=True)
        cam = (weights * act).sum(1, keepdim=True)
        return ember.relu(cam) if relu_attributions else cam
