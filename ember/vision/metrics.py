"""The metrics of segmentation and detection, computed by ember itself (NumPy):

- ``confusion_matrix``, ``pixel_accuracy``, ``mean_iou`` (``segmentation_scores``: all at
  once) for semantic segmentation;
- ``coco_evaluate``: COCO's average precision for boxes (``iou_type="bbox"``) or masks
  (``"segm"``, plain boolean masks), as pycocotools' ``COCOeval`` computes it for the area
  range "all": per image and class, detections by decreasing score (at most ``max_dets``)
  are matched greedily to the unmatched ground truth of highest IoU >= t; per class the
  precision at the 101 recall points 0, 0.01, ..., 1 (made monotone), averaged over the
  classes that have ground truth and, for ``map``, over t = 0.50, 0.55, ..., 0.95.
  No crowd regions (``iscrowd`` is 0 everywhere).

``pycocotools_evaluate`` runs pycocotools on the same inputs (a cross-check; pycocotools is
a test dependency only).
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from ember.backend import to_numpy
from ember.tensor import Tensor

__all__ = ["coco_evaluate", "confusion_matrix", "mean_iou", "pixel_accuracy",
           "pycocotools_evaluate", "segmentation_scores"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def _host(x):
    return to_numpy(x.detach().array) if isinstance(x, Tensor) else np.asarray(x)


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted."""
    p, t = _host(pred).reshape(-1).astype(np.int64), _host(target).reshape(-1).astype(np.int64)
    if p.shape != t.shape:
        raise ValueError(f"confusion_matrix: pred {_host(pred).shape} and target "
                         f"{_host(target).shape} must have the same shape")
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    p, t = p[keep], t[keep]
    if len(t) and (min(p.min(), t.min()) < 0 or max(p.max(), t.max()) >= num_classes):
        raise ValueError(f"confusion_matrix: classes must be in [0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def segmentation_scores(pred, target, num_classes, ignore_index=None):
    """Pixel accuracy, per-class IoU and their mean over the classes present (in the target
    or the prediction) of class maps ``pred`` and ``target`` (any equal shapes)."""
    cm = confusion_matrix(pred, target, num_classes, ignore_index).astype(np.float64)
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return {"pixel_accuracy": float(inter.sum() / max(cm.sum(), 1)),
            "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
            "iou": iou}


def pixel_accuracy(pred, target, ignore_index=None):
    """The fraction of pixels whose predicted class equals the target's."""
    p, t = _host(pred), _host(target)
    keep = np.ones(t.shape, bool) if ignore_index is None else t != ignore_index
    return float((p[keep] == t[keep]).mean()) if keep.any() else 0.0


def mean_iou(pred, target, num_classes, ignore_index=None):
    """The mean over classes (present in target or prediction) of intersection over union."""
    return segmentation_scores(pred, target, num_classes, ignore_index)["miou"]


def _box_iou_xyxy(d, g):
    """IoU (D, G) of xyxy boxes, float64, as pycocotools' bbIou (no crowd)."""
    w = np.minimum(d[:, None, 2], g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 3], g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    ga = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    return inter / (da[:, None] + ga[None, :] - inter)


def _mask_iou(d, g):
    d = d.reshape(len(d), -1).astype(np.float64)
    g = g.reshape(len(g), -1).astype(np.float64)
    inter = d @ g.T
    union = d.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def _match(ious, thresholds):
    """pycocotools' greedy matching: (T, D) bool, whether each detection (by decreasing score)
    matched a ground truth at each threshold."""
    n_det, n_gt = ious.shape
    matched = np.zeros((len(thresholds), n_det), dtype=bool)
    for ti, t in enumerate(thresholds):
        taken = np.zeros(n_gt, dtype=bool)
        for d in range(n_det):
            best, m = min(t, 1 - 1e-10), -1
            for g in range(n_gt):
                if taken[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                taken[m] = True
                matched[ti, d] = True
    return matched


def _field(entry, name, i, where):
    if name not in entry:
        raise ValueError(f"coco_evaluate: {where}[{i}] has no {name!r}")
    return _host(entry[name])


def coco_evaluate(predictions, targets, iou_type="bbox", iou_thresholds=None, max_dets=100):
    """COCO average precision of ``predictions`` against ``targets`` (pycocotools' figures).

    Args:
        predictions: one dict per image with ``boxes`` (n, 4) x1y1x2y2, ``scores`` (n,),
            ``labels`` (n,) and, for ``"segm"``, ``masks`` (n, H, W) (any nonzero = inside).
        targets: one dict per image with ``boxes``, ``labels`` (and ``masks``).
        iou_type: "bbox" or "segm".
        iou_thresholds: default 0.50:0.05:0.95; max_dets: detections per image and class.

    Returns ``{"map": AP@[.5:.95], "map_50": AP50, "map_75": AP75, "map_per_class":
    {label: AP}}``; -1 where no class has ground truth (as pycocotools).
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"coco_evaluate: iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    if len(predictions) != len(targets):
        raise ValueError(f"coco_evaluate: {len(predictions)} predictions for {len(targets)} "
                         "targets")
    thresholds = IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds)
    key = "boxes" if iou_type == "bbox" else "masks"
    per_class = {}  # label -> [scores, matched (T, D), number of ground truths]
    for i, (pred, target) in enumerate(zip(predictions, targets)):
        g_lab = _field(target, "labels", i, "targets").reshape(-1)
        g_obj = _field(target, key, i, "targets")
        d_lab = _field(pred, "labels", i, "predictions").reshape(-1)
        d_obj = _field(pred, key, i, "predictions")
        d_score = _field(pred, "scores", i, "predictions").reshape(-1).astype(np.float64)
        for c in np.union1d(g_lab, d_lab).tolist():
            g = g_obj[g_lab == c]
            order = np.argsort(-d_score[d_lab == c], kind="mergesort")[:max_dets]
            d, s = d_obj[d_lab == c][order], d_score[d_lab == c][order]
            if len(d) and len(g):
                ious = (_box_iou_xyxy(d.astype(np.float64), g.astype(np.float64))
                        if iou_type == "bbox" else _mask_iou(d != 0, g != 0))
            else:
                ious = np.zeros((len(d), len(g)))
            entry = per_class.setdefault(c, [[], [], 0])
            entry[0].append(s)
            entry[1].append(_match(ious, thresholds))
            entry[2] += len(g)
    precision = np.full((len(thresholds), len(RECALL_POINTS), len(per_class)), -1.0)
    labels = sorted(per_class)
    for k, c in enumerate(labels):
        scores, matched, n_gt = per_class[c]
        if n_gt == 0:
            continue
        scores = np.concatenate(scores)
        order = np.argsort(-scores, kind="mergesort")
        tp = np.concatenate(matched, 1)[:, order]
        tps = np.cumsum(tp, 1).astype(np.float64)
        fps = np.cumsum(~tp, 1).astype(np.float64)
        for t in range(len(thresholds)):
            rc = tps[t] / n_gt
            pr = tps[t] / (tps[t] + fps[t] + np.spacing(1))
            pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
            q = np.zeros(len(RECALL_POINTS))
            idx = np.searchsorted(rc, RECALL_POINTS, side="left")
            ok = idx < len(pr)
            q[ok] = pr[idx[ok]]
            precision[t, :, k] = q

    def mean(p):
        p = p[p > -1]
        return float(p.mean()) if p.size else -1.0

    at = {round(float(t), 2): i for i, t in enumerate(thresholds)}
    return {"map": mean(precision),
            "map_50": mean(precision[at[0.5]]) if 0.5 in at else -1.0,
            "map_75": mean(precision[at[0.75]]) if 0.75 in at else -1.0,
            "map_per_class": {int(c): mean(precision[:, :, k]) for k, c in enumerate(labels)}}


def pycocotools_evaluate(predictions, targets, iou_type="bbox"):
    """The same figures (``map``, ``map_50``, ``map_75``) from pycocotools' COCOeval, for
    cross-checking :func:`coco_evaluate` (needs ``pip install pycocotools``)."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(m):
        r = mask_utils.encode(np.asfortranarray(np.asarray(m, dtype=np.uint8)))
        r["counts"] = r["counts"].decode("ascii")
        return r

    images, gts, dts, cats = [], [], [], set()
    for i, (pred, target) in enumerate(zip(predictions, targets)):
        h = w = 1
        if "masks" in target and _host(target["masks"]).ndim == 3:
            h, w = _host(target["masks"]).shape[1:]
        images.append({"id": i, "width": int(w), "height": int(h)})
        for j, (b, c) in enumerate(zip(_host(target["boxes"]), _host(target["labels"]))):
            ann = {"id": len(gts) + 1, "image_id": i, "category_id": int(c), "iscrowd": 0,
                   "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
            if iou_type == "segm":
                m = _host(target["masks"])[j] != 0
                ann["segmentation"], ann["area"] = rle(m), float(m.sum())
            else:
                ann["area"] = float((b[2] - b[0]) * (b[3] - b[1]))
            gts.append(ann)
            cats.add(int(c))
        for j, (b, c, s) in enumerate(zip(_host(pred["boxes"]), _host(pred["labels"]),
                                          _host(pred["scores"]))):
            det = {"image_id": i, "category_id": int(c), "score": float(s)}
            if iou_type == "segm":
                det["segmentation"] = rle(_host(pred["masks"])[j] != 0)
            else:
                det["bbox"] = [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
            dts.append(det)
            cats.add(int(c))
    gt = COCO()
    gt.dataset = {"images": images, "annotations": gts,
                  "categories": [{"id": c, "name": str(c)} for c in sorted(cats)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dts) if dts else COCO()
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": float(ev.stats[0]), "map_50": float(ev.stats[1]),
            "map_75": float(ev.stats[2])}
