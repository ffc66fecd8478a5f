"""Multi-label metrics against scikit-learn (per-class precision / recall / F1, average
precision with tied scores), the threshold choice, and the errors."""
import numpy as np
import pytest

import ember
from ember.vision import multilabel as ml
from tests._parity import import_oracle


def data(seed=0, n=200, c=6, ties=False):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.int64)
    targets[0] = 1  # every class has a positive
    scores = np.clip(0.35 * targets + rng.random((n, c)) * 0.7, 0, 1)
    if ties:
        scores = np.round(scores, 1)
    return scores, targets


@pytest.mark.parametrize("seed, threshold, ties", [(0, 0.5, False), (1, 0.3, True),
                                                   (2, 0.95, True), (3, 0.0, False)])
def test_scores_match_sklearn(seed, threshold, ties):
    metrics = import_oracle("sklearn.metrics", pip="scikit-learn")
    s, t = data(seed, ties=ties)
    got = ml.multilabel_scores(ember.tensor(s), t, threshold)
    pred = (s >= threshold).astype(np.int64)
    p, r, f, sup = metrics.precision_recall_fscore_support(t, pred, average=None,
                                                           zero_division=0)
    np.testing.assert_allclose(got["precision"], p, atol=1e-12)
    np.testing.assert_allclose(got["recall"], r, atol=1e-12)
    np.testing.assert_allclose(got["f1"], f, atol=1e-12)
    np.testing.assert_array_equal(got["support"], sup)
    assert got["macro_f1"] == pytest.approx(metrics.f1_score(t, pred, average="macro",
                                                             zero_division=0), abs=1e-12)


@pytest.mark.parametrize("seed, ties", [(0, False), (1, True), (4, True)])
def test_average_precision_matches_sklearn(seed, ties):
    metrics = import_oracle("sklearn.metrics", pip="scikit-learn")
    s, t = data(seed, ties=ties)
    ap = ml.average_precision(s, t)
    want = [metrics.average_precision_score(t[:, c], s[:, c]) for c in range(t.shape[1])]
    np.testing.assert_allclose(ap, want, atol=1e-12)
    assert ml.mean_average_precision(s, t) == pytest.approx(
        metrics.average_precision_score(t, s, average="macro"), abs=1e-12)


def test_class_without_positives_is_left_out_of_map():
    s, t = data(5)
    t[:, 2] = 0
    ap = ml.average_precision(s, t)
    assert np.isnan(ap[2])
    assert ml.mean_average_precision(s, t) == pytest.approx(np.delete(ap, 2).mean())


def test_choose_threshold_maximises_macro_f1():
    s, t = data(6, ties=True)
    best, f1 = ml.choose_threshold(s, t)
    grid = np.linspace(0.01, 0.99, 99)
    f1s = [ml.multilabel_scores(s, t, g)["macro_f1"] for g in grid]
    assert f1 == pytest.approx(max(f1s), abs=1e-12)
    assert best == pytest.approx(grid[int(np.argmax(f1s))])
    assert ml.choose_threshold(s, t, candidates=[0.9, 0.2])[0] in (0.9, 0.2)


def test_errors():
    s, t = data(0)
    with pytest.raises(ValueError, match=r"multilabel_scores: scores and targets must both "
                                         r"be \(N, C\), got scores \(200, 6\) and targets "
                                         r"\(200, 5\)"):
        ml.multilabel_scores(s, t[:, :5])
    with pytest.raises(ValueError, match="average_precision: targets must be 0/1"):
        ml.average_precision(s, t * 2)
    with pytest.raises(ValueError, match="mean_average_precision: no class has a positive"):
        ml.mean_average_precision(s, np.zeros_like(t))
    with pytest.raises(ValueError, match="choose_threshold: candidates is empty"):
        ml.choose_threshold(s, t, candidates=[])
