"""How far ember.explain's attributions are from captum's on the tests' small CNN (float64,
four images, one target each): the largest absolute difference over the largest attribution.

    python tools/explain_parity.py          # needs torch and captum (the test extra)
"""
from __future__ import annotations

import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import numpy as np
from _explain import TARGETS, import_captum, twins

import ember.explain as E


def main():
    warnings.filterwarnings("ignore")
    ca = import_captum()
    em, tm, x, tx = twins()
    t = TARGETS
    rows = [("Saliency", E.Saliency(em).attribute(x, t), ca.Saliency(tm).attribute(tx, t)),
            ("InputXGradient", E.InputXGradient(em).attribute(x, t),
             ca.InputXGradient(tm).attribute(tx, t))]
    for m in E.gradient.SUPPORTED_METHODS:
        rows.append((f"IntegratedGradients {m}",
                     E.IntegratedGradients(em).attribute(x, target=t, method=m),
                     ca.IntegratedGradients(tm).attribute(tx, target=t, method=m)))
    rows += [
        ("GuidedBackprop", E.GuidedBackprop(em).attribute(x, t),
         ca.GuidedBackprop(tm).attribute(tx, t)),
        ("Deconvolution", E.Deconvolution(em).attribute(x, t),
         ca.Deconvolution(tm).attribute(tx, t)),
        ("Occlusion", E.Occlusion(em).attribute(x, (2, 3, 3), (1, 2, 2), target=t),
         ca.Occlusion(tm).attribute(tx, (2, 3, 3), (1, 2, 2), target=t)),
        ("LayerGradCam", E.LayerGradCam(em, em.conv2).attribute(x, t),
         ca.LayerGradCam(tm, tm.conv2).attribute(tx, t)),
        ("GuidedGradCam", E.GuidedGradCam(em, em.conv2).attribute(x, t),
         ca.GuidedGradCam(tm, tm.conv2).attribute(tx, t))]
    for name, ours, theirs in rows:
        a, b = ours.numpy(), theirs.detach().numpy().astype(np.float64)
        print(f"| {name} | {np.abs(a - b).max() / np.abs(b).max():.1e} |")


if __name__ == "__main__":
    main()
