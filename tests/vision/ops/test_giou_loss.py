"""generalized_box_iou_loss against torchvision's formula written in torch (values and
gradients, float64), a hand-worked pair, finite differences, errors."""
import numpy as np
import pytest

import ember
from ember.vision.ops import generalized_box_iou_loss
from tests._parity import check_grad, check_op
from tests.vision.ops.test_boxes import boxes_array


def torch_giou_loss(torch, b1, b2, reduction="none", eps=1e-7):
    x1, y1, x2, y2 = b1.unbind(-1)
    x1g, y1g, x2g, y2g = b2.unbind(-1)
    xk1, yk1, xk2, yk2 = (torch.max(x1, x1g), torch.max(y1, y1g), torch.min(x2, x2g),
                          torch.min(y2, y2g))
    inter = torch.zeros_like(x1)
    mask = (yk2 > yk1) & (xk2 > xk1)
    inter[mask] = (xk2[mask] - xk1[mask]) * (yk2[mask] - yk1[mask])
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    area_c = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    loss = 1 - (iou - (area_c - union) / (area_c + eps))
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_matches_torchvision_formula(reduction):
    import torch
    a, b = boxes_array(12, 0, 10.0), boxes_array(12, 1, 10.0)  # some pairs overlap, some not
    check_op(lambda x, y: generalized_box_iou_loss(x, y, reduction),
             lambda x, y: torch_giou_loss(torch, x, y, reduction), inputs=[a, b])
    check_grad(lambda x, y: generalized_box_iou_loss(x, y, reduction), inputs=[a, b])


def test_hand_worked_and_empty():
    # (0,0,2,2) and (1,1,3,3): IoU 1/7, enclosing 9, GIoU 1/7 - 2/9
    loss = generalized_box_iou_loss(ember.tensor([[0.0, 0, 2, 2]]), ember.tensor([[1.0, 1, 3, 3]]),
                                    eps=0.0)
    np.testing.assert_allclose(loss.numpy(), [1 - (1 / 7 - 2 / 9)], rtol=1e-6)
    empty = ember.zeros(0, 4, requires_grad=True)
    out = generalized_box_iou_loss(empty, ember.zeros(0, 4), "mean")
    out.backward()
    assert out.item() == 0.0 and tuple(empty.grad.shape) == (0, 4)


def test_errors():
    with pytest.raises(ValueError, match=r"boxes1 \(2, 4\) and boxes2 \(3, 4\) must have the "
                                         "same shape"):
        generalized_box_iou_loss(ember.zeros(2, 4), ember.zeros(3, 4))
    with pytest.raises(ValueError, match=r"boxes2 must be a Tensor of shape \(\.\.\., 4\)"):
        generalized_box_iou_loss(ember.zeros(2, 4), ember.zeros(2, 5))
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction'"):
        generalized_box_iou_loss(ember.zeros(2, 4), ember.zeros(2, 4), "avg")
