"""Guided backpropagation and deconvolution (captum's ``GuidedBackprop``, ``Deconvolution``):
the input gradient with every ``nn.ReLU`` module's backward pass changed by a full backward
hook, for the duration of one ``attribute`` call.

- Guided backpropagation (Springenberg et al., 2014) passes only positive gradients through
  a ReLU that was active: ``relu(grad_output * (x > 0))``.
- Deconvolution (Zeiler & Fergus, 2014) ignores the forward mask and passes the positive
  part of the incoming gradient: ``relu(grad_output)``.

Only ``nn.ReLU`` modules are hooked (as in captum): ReLUs applied as functions inside a
``forward`` keep their ordinary gradient.
"""
from __future__ import annotations

import ember
from ember import nn
from ember.explain import _common as c
from ember.explain.gradient import GradientAttribution

__all__ = ["Deconvolution", "GuidedBackprop", "ModifiedReluGradientAttribution"]


class ModifiedReluGradientAttribution(GradientAttribution):
    """Input gradients with the ReLU modules' backward replaced (``use_relu_grad_output``:
    deconvolution's rule, else guided backpropagation's)."""

    def __init__(self, model, use_relu_grad_output=False):
        if not isinstance(model, nn.Module):
            raise TypeError(f"{type(self).__name__}: model must be an ember.nn.Module (its "
                            f"ReLU modules are hooked), got {type(model).__name__}")
        super().__init__(model)
        self.model = model
        self.use_relu_grad_output = use_relu_grad_output
        self.backward_hooks = []

    def attribute(self, inputs, target=None, additional_forward_args=None):
        """The modified input gradients, shaped like ``inputs``."""
        was_tuple, xs = c.is_tuple(inputs), c.as_tuple(inputs, self._where())
        try:
            self.model.apply(self._register_hooks)
            grads = self.gradient_func(self.forward_func, xs, target, additional_forward_args)
        finally:
            self._remove_hooks()
        return c.format_output(was_tuple, grads)

    def _register_hooks(self, module):
        if isinstance(module, nn.ReLU):
            self.backward_hooks.append(module.register_full_backward_hook(self._backward_hook))

    def _backward_hook(self, module, grad_input, grad_output):
        grads = grad_output if self.use_relu_grad_output else grad_input
        return tuple(None if g is None else ember.relu(g) for g in grads)

    def _remove_hooks(self):
        for handle in self.backward_hooks:
            handle.remove()
        self.backward_hooks = []


class GuidedBackprop(ModifiedReluGradientAttribution):
    """Guided backpropagation: ReLU modules pass ``relu(grad_output * (x > 0))``."""

    def __init__(self, model):
        super().__init__(model, use_relu_grad_output=False)


class Deconvolution(ModifiedReluGradientAttribution):
    """Deconvolution (the "deconvnet"): ReLU modules pass ``relu(grad_output)``."""

    def __init__(self, model):
        super().__init__(model, use_relu_grad_output=True)
