"""ember.explain as a package: captum's public names are there, and importing it loads
neither torch nor matplotlib (they are needed only by the tests and for drawing)."""
import os
import subprocess
import sys

import ember
import ember.explain

CAPTUM_NAMES = ["Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel",
                "GuidedBackprop", "Deconvolution", "Occlusion", "LayerGradCam",
                "GuidedGradCam", "LayerAttribution"]


def test_captum_names_are_exported():
    for name in CAPTUM_NAMES + ["CAM", "GradCAMPlusPlus", "maximize_activation",
                                "receptive_field"]:
        assert name in ember.explain.__all__ and hasattr(ember.explain, name), name


def test_import_is_light():
    root = os.path.dirname(os.path.dirname(os.path.abspath(ember.__file__)))
    code = ("import sys, ember.explain, ember.explain.visualize, ember.explain.command; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'captum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
