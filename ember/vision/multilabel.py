"""Metrics of multi-label classification (which classes appear in an image), computed by
ember itself (NumPy), with scikit-learn's definitions:

- ``multilabel_scores``: per-class precision, recall, F1 and support at a decision threshold
  (``score >= threshold`` is a positive), and their macro averages, as
  ``sklearn.metrics.precision_recall_fscore_support(average=None)`` (a 0/0 ratio is 0, as
  sklearn's ``zero_division="warn"`` gives);
- ``average_precision``: per class, the area under the precision-recall step curve,
  ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds taken in decreasing order,
  as ``sklearn.metrics.average_precision_score`` (NaN for a class without positives:
  ``mean_average_precision`` averages the others);
- ``choose_threshold``: the one decision threshold that maximises macro F1 on validation
  data (choose it on a validation split, then report the test figures at it).

``scores`` are (N, C) probabilities (or any scores), ``targets`` (N, C) 0/1 indicators; both
may be NumPy arrays or Tensors.
"""
from __future__ import annotations

import numpy as np

from ember.backend import to_numpy
from ember.tensor import Tensor

__all__ = ["average_precision", "choose_threshold", "mean_average_precision",
           "multilabel_scores"]


def _host(x):
    return to_numpy(x.detach().array) if isinstance(x, Tensor) else np.asarray(x)


def _pair(name, scores, targets):
    s, t = _host(scores), _host(targets)
    if s.ndim != 2 or s.shape != t.shape:
        raise ValueError(f"{name}: scores and targets must both be (N, C), got scores "
                         f"{s.shape} and targets {t.shape}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"{name}: targets must be 0/1 indicators")
    return s.astype(np.float64), t.astype(bool)


def _ratio(a, b):
    return np.where(b > 0, a / np.maximum(b, 1), 0.0)


def _counts(pred, truth):
    """True positives, predicted positives and actual positives per class (last axis)."""
    tp = (pred & truth).sum(-2)
    return tp, pred.sum(-2), truth.sum(-2)


def multilabel_scores(scores, targets, threshold=0.5):
    """Per-class ``precision``, ``recall``, ``f1``, ``support`` (arrays of C) and
    ``macro_precision``, ``macro_recall``, ``macro_f1`` (their unweighted means) when
    ``scores >= threshold`` are the predicted positives."""
    s, t = _pair("multilabel_scores", scores, targets)
    tp, npred, npos = _counts(s >= threshold, t)
    precision, recall = _ratio(tp, npred), _ratio(tp, npos)
    f1 = _ratio(2 * tp, npred + npos)  # = 2PR / (P + R), and 0 where both are 0
    return {"precision": precision, "recall": recall, "f1": f1, "support": npos,
            "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
            "macro_f1": float(f1.mean()), "threshold": float(threshold)}


def average_precision(scores, targets):
    """Average precision of every class (C,): sklearn's ``average_precision_score`` per
    column; NaN for a class with no positive target."""
    s, t = _pair("average_precision", scores, targets)
    out = np.full(s.shape[1], np.nan)
    for c in range(s.shape[1]):
        npos = t[:, c].sum()
        if npos == 0:
            continue
        order = np.argsort(-s[:, c], kind="stable")
        sc, hit = s[order, c], t[order, c]
        last = np.r_[np.nonzero(np.diff(sc))[0], len(sc) - 1]  # end of each tie group
        tp = np.cumsum(hit)[last]
        precision = tp / (last + 1)
        recall = tp / npos
        out[c] = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return out


def mean_average_precision(scores, targets):
    """The mean of :func:`average_precision` over the classes that have positives."""
    ap = average_precision(scores, targets)
    if np.isnan(ap).all():
        raise ValueError("mean_average_precision: no class has a positive target")
    return float(np.nanmean(ap))


def choose_threshold(scores, targets, candidates=None):
    """``(threshold, macro_f1)``: the candidate threshold (default 0.01, 0.02, ..., 0.99)
    whose predictions ``scores >= threshold`` have the highest macro F1 on these (validation)
    scores; the smallest such threshold on ties."""
    s, t = _pair("choose_threshold", scores, targets)
    cand = (np.linspace(0.01, 0.99, 99) if candidates is None
            else np.asarray(candidates, dtype=np.float64).reshape(-1))
    if cand.size == 0:
        raise ValueError("choose_threshold: candidates is empty")
    cand = np.sort(cand)
    tp, npred, npos = _counts(s[None] >= cand[:, None, None], t[None])
    macro = _ratio(2 * tp, npred + npos).mean(-1)
    best = int(np.argmax(macro))
    return float(cand[best]), float(macro[best])
