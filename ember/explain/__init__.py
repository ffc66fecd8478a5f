"""Tools that look inside trained networks (public API only).

Attribution methods with captum's class names and ``attribute`` arguments (``Saliency``,
``InputXGradient``, ``IntegratedGradients``, ``NoiseTunnel``, ``GuidedBackprop``,
``Deconvolution``, ``Occlusion``, ``LayerGradCam``, ``GuidedGradCam``,
``LayerAttribution.interpolate``) plus ``CAM`` and ``GradCAMPlusPlus``; receptive fields
measured by backpropagation; activation maximisation (``maximize_activation``);
pictures (heat maps, overlays, filter and feature-map grids) in ``ember.explain.visualize``.
"""
from ember.explain.cam import CAM, GradCAMPlusPlus, GuidedGradCam, LayerAttribution, LayerGradCam
from ember.explain.gradient import (
    Attribution,
    GradientAttribution,
    InputXGradient,
    IntegratedGradients,
    NoiseTunnel,
    Saliency,
)
from ember.explain.guided import Deconvolution, GuidedBackprop
from ember.explain.maximize import Maximized, maximize_activation
from ember.explain.occlusion import Occlusion
from ember.explain.receptive_field import MeasuredField, receptive_field

__all__ = [
    "CAM",
    "Attribution",
    "Deconvolution",
    "GradCAMPlusPlus",
    "GradientAttribution",
    "GuidedBackprop",
    "GuidedGradCam",
    "InputXGradient",
    "IntegratedGradients",
    "LayerAttribution",
    "LayerGradCam",
    "Maximized",
    "MeasuredField",
    "NoiseTunnel",
    "Occlusion",
    "Saliency",
    "maximize_activation",
    "receptive_field",
]
