"""The metrics: pixel accuracy and mean IoU on hand-worked maps; COCO box and mask AP equal to
pycocotools' figures on the same predictions (pycocotools is a test dependency: under CI a
missing one fails)."""

import numpy as np
import pytest
from _parity import import_oracle

import ember
from ember.vision.metrics import (
    coco_evaluate,
    confusion_matrix,
    mean_iou,
    pixel_accuracy,
    pycocotools_evaluate,
    segmentation_scores,
)


def need_pycocotools():
    import_oracle("pycocotools")


def test_segmentation_scores_hand_worked():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    # class 0: inter 1, union 3; class 1: inter 2, union 3; class 2: inter 1, union 2
    scores = segmentation_scores(pred, target, 3)
    assert scores["pixel_accuracy"] == pytest.approx(4 / 6)
    np.testing.assert_allclose(scores["iou"], [1 / 3, 2 / 3, 1 / 2])
    assert mean_iou(ember.tensor(pred), ember.tensor(target), 3) == pytest.approx(1.5 / 3)
    assert pixel_accuracy(pred, target) == pytest.approx(4 / 6)
    # a class absent from both is left out of the mean; ignore_index drops pixels
    assert mean_iou(pred, target, 4) == pytest.approx(1.5 / 3)
    assert pixel_accuracy(pred, target, ignore_index=0) == pytest.approx(3 / 4)
    np.testing.assert_array_equal(confusion_matrix(pred, target, 3),
                                  [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    with pytest.raises(ValueError, match=r"confusion_matrix: classes must be in \[0, 2\)"):
        confusion_matrix(pred, target, 2)


def random_detections(seed, n_images=30, size=32, classes=4):
    """Ground truths and noisy, partly wrong predictions with boxes, masks, tied scores."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        def objects(n):
            boxes, masks = [], []
            for _ in range(n):
                x1, y1 = rng.integers(0, size - 4, 2)
                x2, y2 = x1 + rng.integers(2, size - x1 + 1), y1 + rng.integers(2, size - y1 + 1)
                m = np.zeros((size, size), bool)
                m[y1:y2, x1:x2] = rng.uniform(size=(y2 - y1, x2 - x1)) > 0.2
                m[y1, x1] = m[y2 - 1, x2 - 1] = True
                boxes.append((x1, y1, x2, y2))
                masks.append(m)
            return np.array(boxes, np.float32).reshape(-1, 4), np.array(masks).reshape(
                -1, size, size)
        gb, gm = objects(int(rng.integers(0, 4)))
        gl = rng.integers(1, classes + 1, len(gb))
        targets.append({"boxes": gb, "labels": gl, "masks": gm})
        db, dm = objects(int(rng.integers(0, 3)))
        keep = rng.uniform(size=len(gb)) < 0.8  # jittered copies of most ground truths
        jb = np.clip(gb[keep] + rng.integers(-2, 3, (keep.sum(), 4)), 0, size)
        jb[:, 2:] = np.maximum(jb[:, 2:], jb[:, :2] + 1)
        jm = np.roll(gm[keep], int(rng.integers(-1, 2)), axis=2)
        labels = np.where(rng.uniform(size=keep.sum()) < 0.9, gl[keep],
                          rng.integers(1, classes + 1, keep.sum()))
        boxes = np.concatenate([jb, db])
        scores = np.round(rng.uniform(size=len(boxes)), 1)  # ties across images
        preds.append({"boxes": ember.tensor(boxes), "masks": ember.tensor(np.concatenate([jm, dm])),
                      "labels": ember.tensor(np.concatenate([labels, rng.integers(1, classes + 1,
                                                                                  len(db))])),
                      "scores": ember.tensor(scores.astype(np.float32))})
    return preds, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_ap_equals_pycocotools(seed, iou_type):
    need_pycocotools()
    preds, targets = random_detections(seed)
    ours = coco_evaluate(preds, targets, iou_type)
    ref = pycocotools_evaluate(preds, targets, iou_type)
    for k in ("map", "map_50", "map_75"):
        assert ours[k] == pytest.approx(ref[k], abs=1e-12), k
    assert 0 < ours["map"] < ours["map_50"] < 1


def test_coco_ap_perfect_and_empty():
    t = [{"boxes": np.array([[0.0, 0, 4, 4], [5, 5, 9, 9]]), "labels": np.array([1, 2])}]
    p = [{"boxes": t[0]["boxes"], "labels": np.array([1, 2]), "scores": np.array([0.9, 0.8])}]
    assert coco_evaluate(p, t)["map"] == pytest.approx(1.0)
    none = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int), "scores": np.zeros(0)}]
    out = coco_evaluate(none, t)
    assert out["map"] == 0.0 and out["map_per_class"] == {1: 0.0, 2: 0.0}
    # a class predicted but absent from the ground truth does not count (pycocotools: -1)
    p2 = [{"boxes": np.array([[0.0, 0, 4, 4], [0, 0, 4, 4]]), "labels": np.array([1, 3]),
           "scores": np.array([0.9, 0.95])}]
    assert coco_evaluate(p2, t[:1])["map_per_class"][3] == -1.0


def test_coco_errors():
    t = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}]
    with pytest.raises(ValueError, match="iou_type must be 'bbox' or 'segm'"):
        coco_evaluate(t, t, "keypoints")
    with pytest.raises(ValueError, match=r"predictions\[0\] has no 'scores'"):
        coco_evaluate(t, t)
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        coco_evaluate(t * 2, t)
