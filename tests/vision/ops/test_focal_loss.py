"""sigmoid_focal_loss against torchvision's formula written in torch (values and gradients,
float64), finite differences, errors."""
import numpy as np
import pytest

import ember
from ember.vision.ops import sigmoid_focal_loss
from tests._parity import check_grad, check_op


def torch_focal(torch, inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    p = torch.sigmoid(inputs)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("alpha, gamma, reduction", [(0.25, 2, "none"), (-1, 2, "mean"),
                                                     (0.5, 0, "sum"), (0.25, 1.5, "mean")])
def test_matches_torchvision_formula(alpha, gamma, reduction):
    import torch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)) * 3
    t = (rng.uniform(size=(4, 5)) > 0.6).astype(np.float64)
    check_op(lambda a, b: sigmoid_focal_loss(a, b, alpha, gamma, reduction),
             lambda a, b: torch_focal(torch, a, b, alpha, gamma, reduction), inputs=[x, t],
             requires_grad=[True, False])
    check_grad(lambda a: sigmoid_focal_loss(a, ember.tensor(t), alpha, gamma, reduction),
               inputs=[x])


def test_errors():
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction': 'avg"):
        sigmoid_focal_loss(ember.zeros(2), ember.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match=r"targets \(3,\) must have the shape of inputs \(2,\)"):
        sigmoid_focal_loss(ember.zeros(2), ember.zeros(3))
