"""Box formulas on hand-worked cases and against torchvision's formulas written in torch
(values and gradients, float64); nms and batched_nms against onnxruntime, ties and IoU equal
to the threshold."""
import numpy as np
import pytest

import ember
from ember.vision import ops
from tests._parity import check_grad, check_op
from tests.vision.ops._onnx import ort_nms


def boxes_array(n, seed, size=20.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.5, size / 2, (n, 2))], 1)


# torchvision.ops.boxes' formulas, written in torch (the twin)
def t_area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def t_iou(torch, a, b, generalized=False):
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = t_area(a)[:, None] + t_area(b)[None, :] - inter
    iou = inter / union
    if not generalized:
        return iou
    whi = (torch.max(a[:, None, 2:], b[None, :, 2:]) - torch.min(a[:, None, :2], b[None, :, :2]))
    area = whi.clamp(min=0).prod(-1)
    return iou - (area - union) / area


def test_hand_worked_cases():
    a = ember.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 4.0, 3.0]])
    b = ember.tensor([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
    np.testing.assert_allclose(ops.box_area(a).numpy(), [4.0, 6.0])
    # (0,0,2,2) vs (1,1,3,3): inter 1, union 7; vs (5,5,6,6): 0. (1,1,4,3) vs (1,1,3,3):
    # inter 4, union 6
    np.testing.assert_allclose(ops.box_iou(a, b).numpy(), [[1 / 7, 0], [4 / 6, 0]], rtol=1e-6)
    # GIoU: enclosing (0,0,3,3) = 9: 1/7 - (9 - 7)/9; (0,0,6,6) = 36: 0 - (36 - 5)/36
    np.testing.assert_allclose(ops.generalized_box_iou(a, b).numpy(),
                               [[1 / 7 - 2 / 9, -31 / 36], [4 / 6 - 0, -(25 - 7) / 25]],
                               rtol=1e-6)
    c = ember.tensor([[10.0, 20.0, 30.0, 60.0]])
    np.testing.assert_allclose(ops.box_convert(c, "xyxy", "xywh").numpy(), [[10, 20, 20, 40]])
    np.testing.assert_allclose(ops.box_convert(c, "xyxy", "cxcywh").numpy(), [[20, 40, 20, 40]])
    np.testing.assert_allclose(ops.box_convert(ember.tensor([[20.0, 40, 20, 40]]), "cxcywh",
                                               "xyxy").numpy(), c.numpy())
    np.testing.assert_allclose(ops.box_convert(ember.tensor([[10.0, 20, 20, 40]]), "xywh",
                                               "cxcywh").numpy(), [[20, 40, 20, 40]])
    clipped = ops.clip_boxes_to_image(ember.tensor([[-3.0, 2, 70, 90], [5, -1, 9, 40]]), (50, 64))
    np.testing.assert_allclose(clipped.numpy(), [[0, 2, 64, 50], [5, 0, 9, 40]])
    m = np.zeros((2, 5, 6), np.uint8)
    m[0, 1:3, 2:5] = 1
    m[1, 4, 0] = 1
    np.testing.assert_array_equal(ops.masks_to_boxes(ember.tensor(m)).numpy(),
                                  [[2, 1, 4, 2], [0, 4, 0, 4]])
    assert ops.remove_small_boxes(ember.tensor([[0.0, 0, 1, 5], [0, 0, 2, 2]]), 2).tolist() == [1]


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou"])
def test_pairwise_formulas_match_torch_with_gradients(name):
    import torch
    a, b = boxes_array(5, 0), boxes_array(4, 1)
    check_op(getattr(ops, name), lambda x, y: t_iou(torch, x, y, name.startswith("gen")),
             inputs=[a, b])
    check_grad(getattr(ops, name), inputs=[a, b])


def test_area_convert_clip_match_torch_with_gradients():
    a = boxes_array(6, 2)
    check_op(ops.box_area, t_area, inputs=[a])
    check_op(lambda b: ops.box_convert(b, "xyxy", "cxcywh"),
             lambda b: __import__("torch").stack(((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                                                  b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), -1),
             inputs=[a])
    check_grad(lambda b: ops.box_convert(b, "xywh", "cxcywh"), inputs=[a])
    check_grad(lambda b: ops.clip_boxes_to_image(b, (15, 18)), inputs=[a + 0.01])


def test_nms_matches_onnxruntime():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        boxes = boxes_array(60, seed, size=30.0).astype(np.float32)
        scores = rng.uniform(0, 1, 60).astype(np.float32)
        for thr in (0.3, 0.5, 0.7):
            keep = ops.nms(ember.tensor(boxes), ember.tensor(scores), thr)
            assert keep.dtype == ember.int64
            np.testing.assert_array_equal(keep.numpy(), ort_nms(boxes, scores, thr))


def test_nms_ties_and_iou_equal_to_threshold():
    # (0,0,3,1) and (1,0,4,1): inter 2, union 4, IoU exactly 0.5
    boxes = ember.tensor([[0.0, 0, 3, 1], [1, 0, 4, 1], [0, 0, 3, 1]])
    scores = ember.tensor([0.9, 0.8, 0.9])
    # IoU == threshold is not suppressed; equal scores keep their input order; box 2 is box 0
    assert ops.nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert ops.nms(boxes, scores, 0.49).tolist() == [0]
    assert ops.nms(boxes, scores, 1.0).tolist() == [0, 2, 1]
    assert ops.nms(ember.zeros(0, 4), ember.zeros(0), 0.5).tolist() == []


def test_batched_nms_separates_categories():
    rng = np.random.default_rng(5)
    boxes = boxes_array(40, 5, 25.0).astype(np.float32)
    scores = rng.uniform(0, 1, 40).astype(np.float32)
    idxs = rng.integers(0, 3, 40)
    keep = ops.batched_nms(ember.tensor(boxes), ember.tensor(scores), ember.tensor(idxs), 0.4)
    want = np.concatenate([np.flatnonzero(idxs == c)[ort_nms(boxes[idxs == c], scores[idxs == c],
                                                             0.4)] for c in range(3)])
    want = want[np.argsort(-scores[want], kind="stable")]
    np.testing.assert_array_equal(keep.numpy(), want)
    same = ember.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2]])
    assert ops.batched_nms(same, ember.tensor([0.5, 0.6]), ember.tensor([0, 1]), 0.5).tolist() \
        == [1, 0]


def test_errors():
    with pytest.raises(ValueError, match=r"box_iou: boxes1 must have shape \(N, 4\), got \(3,\)"):
        ops.box_iou(ember.zeros(3), ember.zeros(2, 4))
    with pytest.raises(ValueError, match="box_convert: unsupported box format 'xy'"):
        ops.box_convert(ember.zeros(1, 4), "xy", "xyxy")
    with pytest.raises(ValueError, match=r"nms: scores must be a Tensor of shape \(2,\)"):
        ops.nms(ember.zeros(2, 4), ember.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: idxs must be a Tensor of shape \(2,\)"):
        ops.batched_nms(ember.zeros(2, 4), ember.zeros(2), ember.zeros(1), 0.5)
    with pytest.raises(ValueError, match="masks_to_boxes: mask 1 is empty"):
        ops.masks_to_boxes(ember.tensor(np.array([[[1]], [[0]]])))
    with pytest.raises(TypeError, match="box_area: boxes must be a Tensor"):
        ops.box_area(np.zeros((2, 4)))
