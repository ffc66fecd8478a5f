"""CenterNet's mask head: mask targets and pasting on hand-made cases, the mask predictor and
its loss against a PyTorch twin (float64, same weights and RoI features), the interface
(``loss_mask`` in training, ``masks`` in eval) and the errors."""
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember.models.detection import (
    CenterNetMask,
    MaskPredictor,
    centernet_mask,
    paste_masks_in_image,
    project_masks_on_boxes,
)
from ember.vision.ops import roi_align
from tests._parity import assert_close, check_module, import_torch


def test_project_masks_on_boxes_hand_made():
    masks = np.zeros((2, 16, 16), np.uint8)
    masks[0, 2:10, 4:12] = 1            # a full rectangle: its box holds ones only
    masks[1, 0:8, 0:16] = 1             # the top half of the box below
    boxes = ember.tensor([[4.0, 2.0, 12.0, 10.0], [0.0, 0.0, 16.0, 16.0]], dtype=ember.float64)
    out = project_masks_on_boxes(ember.tensor(masks), boxes, 8).numpy()
    assert out.shape == (2, 8, 8)
    # bins of 1 pixel, 2x2 samples at -0.25 / +0.25 of the pixel centres (aligned): the
    # interior reads ones, the edge samples half-way into the zeros outside read 0.75
    edge = (0.75 + 1) / 2
    want = np.ones((8, 8))
    want[[0, -1], :] *= edge
    want[:, [0, -1]] *= edge
    assert np.array_equal(out[0], want)
    # bins of 2 pixels: samples on the pixel centres, exact
    assert np.array_equal(out[1], np.repeat([[1.0]] * 4 + [[0.0]] * 4, 8, axis=1))


def test_paste_masks_in_image_hand_made():
    pasted = paste_masks_in_image(np.ones((1, 28, 28)), [[4, 8, 12, 20]], (32, 32))
    want = np.zeros((1, 1, 32, 32))
    want[0, 0, 8:20, 4:12] = 1
    assert np.array_equal(pasted, want)
    # a left/right split mask over a box of 8 pixels on a 4-sample grid: pixel centres
    # c = 0.5..7.5 read samples u = c / 2 - 0.5 (clamped) = 0, 0.25, 0.75, 1.25, 1.75, 2.25...
    m = np.array([[0.0, 0, 1, 1]] * 4)
    row = paste_masks_in_image(m[None], [[0, 0, 8, 8]], (8, 8))[0, 0, 0]
    assert np.array_equal(row, [0, 0, 0, 0.25, 0.75, 1, 1, 1])


def torch_predictor(torch, c_in, c, k):
    nn = torch.nn
    return nn.Sequential(OrderedDict([
        ("mask_fcn1", nn.Conv2d(c_in, c, 3, padding=1)), ("relu1", nn.ReLU()),
        ("mask_fcn2", nn.Conv2d(c, c, 3, padding=1)), ("relu2", nn.ReLU()),
        ("conv5_mask", nn.ConvTranspose2d(c, c, 2, stride=2)), ("relu3", nn.ReLU()),
        ("mask_fcn_logits", nn.Conv2d(c, k, 1))]))


def test_mask_predictor_matches_torch():
    torch = import_torch()
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(3, 4, 7, 7))
    check_module(MaskPredictor(4, 6, 5).double(), torch_predictor(torch, 4, 6, 5).double(), [x])


def test_mask_loss_matches_torch_on_the_same_roi_features():
    torch = import_torch()
    torch.manual_seed(0)
    model = centernet_mask(widths=(4, 8, 8, 16), head_channels=8, mask_channels=6,
                           mask_roi_size=4).double()
    twin = torch_predictor(torch, 8, 6, 11).double()
    model.mask_predictor.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    features = ember.tensor(np.random.default_rng(1).normal(size=(2, 8, 8, 8)))
    masks = np.zeros((2, 2, 32, 32), np.uint8)
    masks[0, 0, 3:17, 2:14] = 1
    masks[0, 1, 12:29, 10:30] = 1
    targets = [{"boxes": ember.tensor([[2.0, 3.0, 14.0, 17.0], [10.0, 12.0, 30.0, 29.0]]),
                "labels": ember.tensor([1, 10]), "masks": ember.tensor(masks[0])},
               {"boxes": ember.tensor(np.zeros((0, 4), np.float32)),
                "labels": ember.tensor(np.zeros(0, np.int64)),
                "masks": ember.tensor(np.zeros((0, 32, 32), np.uint8))}]
    loss = model.extra_losses(features, targets)["loss_mask"]
    rois = model.mask_predictor
    # the twin reads ember's RoIAlign windows (roi_align is checked against onnxruntime in
    # tests/vision/ops; torchvision cannot be imported here)
    windows = roi_align(features, [t["boxes"].double() for t in targets], 4, 0.25, 2, True)
    goal = project_masks_on_boxes(targets[0]["masks"], targets[0]["boxes"].double(), 8)
    logits = twin(torch.from_numpy(windows.numpy()))[torch.arange(2), torch.tensor([1, 10])]
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.from_numpy(goal.numpy()))
    assert_close(loss.item(), ref.item(), 1e-10, 1e-10, "loss_mask")
    loss.backward()
    ref.backward()
    for (n, ep), (_, tp) in zip(rois.named_parameters(), twin.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {n}")


def test_train_adds_loss_mask_eval_adds_masks():
    ember.manual_seed(0)
    model = centernet_mask(widths=(4, 8, 8, 16), head_channels=8, mask_channels=6,
                           detections_per_img=3, score_thresh=0.0)
    masks = np.zeros((1, 32, 32), np.uint8)
    masks[0, 3:17, 2:14] = 1
    t = {"boxes": ember.tensor([[2.0, 3.0, 14.0, 17.0]]), "labels": ember.tensor([4]),
         "masks": ember.tensor(masks)}
    losses = model.train()([ember.rand(1, 32, 32)], [t])
    assert sorted(losses) == ["loss_heatmap", "loss_mask", "loss_offset", "loss_size"]
    sum(losses.values()).backward()
    assert model.mask_predictor.mask_fcn1.weight.grad is not None
    (out,) = model.eval()(ember.rand(1, 1, 32, 32))
    assert sorted(out) == ["boxes", "labels", "masks", "scores"]
    assert tuple(out["masks"].shape) == (3, 1, 32, 32) and out["masks"].dtype == ember.float32
    m = out["masks"].numpy()
    assert m.min() >= 0 and m.max() <= 1
    assert isinstance(model, CenterNetMask)


def test_mask_errors_name_the_image_and_field():
    model = centernet_mask(widths=(4, 8, 8, 16), head_channels=8, mask_channels=6)
    t = {"boxes": ember.tensor([[2.0, 3.0, 14.0, 17.0]]), "labels": ember.tensor([4])}
    with pytest.raises(ValueError, match=r"CenterNetMask: targets\[0\].*missing field 'masks'"):
        model.train()(ember.rand(1, 1, 32, 32), [t])
    t["masks"] = ember.zeros(1, 16, 16)
    with pytest.raises(ValueError, match=r"targets\[0\]\['masks'\]: expected shape \(1, 32, 32\)"):
        model(ember.rand(1, 1, 32, 32), [t])
