"""Metrics on predictions: accuracy, top-k, confusion matrix, precision/recall/F1, running
averages. They take tensors or arrays and return plain Python numbers / NumPy arrays."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.tensor import Tensor


def _np(x):
    return backend.to_numpy(x.array if isinstance(x, Tensor) else x)


def accuracy(logits, target) -> float:
    """Fraction of rows whose arg-max equals the target class."""
    return float((_np(logits).argmax(-1) == _np(target)).mean())


def top_k_accuracy(logits, target, k=5) -> float:
    """Fraction of rows whose target is among the ``k`` largest scores."""
    scores, target = _np(logits), _np(target)
    k = min(k, scores.shape[-1])
    top = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    return float((top == target[..., None]).any(-1).mean())


def confusion_matrix(pred, target, num_classes) -> np.ndarray:
    """``m[i, j]`` counts samples of true class ``i`` predicted as ``j``."""
    pred, target = _np(pred).ravel().astype(np.int64), _np(target).ravel().astype(np.int64)
    return np.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def _scores(tp, predicted, actual) -> dict:
    """Per-class and macro precision, recall and F1 from true positives and the counts of
    predicted and actual positives (0 where a count is 0: scikit-learn's zero_division=0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
            "macro_f1": float(f1.mean())}


def precision_recall_f1(confusion) -> dict:
    """Per-class and macro precision, recall and F1 from a confusion matrix."""
    m = np.asarray(confusion, dtype=np.float64)
    return _scores(np.diag(m), m.sum(0), m.sum(1))


def multilabel_precision_recall_f1(logits, target, threshold=0.0) -> dict:
    """Macro precision/recall/F1 for multi-label outputs (a logit > ``threshold`` is a
    positive prediction, i.e. sigmoid > 0.5 at the default)."""
    pred = _np(logits) > threshold
    true = _np(target) > 0.5
    return _scores((pred & true).sum(0).astype(np.float64), pred.sum(0), true.sum(0))


class RunningAverage:
    """Mean of values weighted by batch size (``update(value, n)``), for epoch metrics."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, value, n=1):
        self.total += float(value) * n
        self.count += n

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def reset(self):
        self.total, self.count = 0.0, 0
