import numpy as np
import pytest

import ember
from ember.train import metrics


def test_accuracy_and_top_k():
    logits = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    target = np.array([1, 1, 2, 2])
    assert metrics.accuracy(ember.tensor(logits), ember.tensor(target)) == 0.5
    assert metrics.top_k_accuracy(logits, target, k=2) == 0.75
    assert metrics.top_k_accuracy(logits, target, k=3) == 1.0


def test_confusion_matrix_and_f1_by_hand():
    pred = np.array([0, 0, 1, 1, 2, 2, 2])
    true = np.array([0, 1, 1, 1, 2, 0, 2])
    m = metrics.confusion_matrix(pred, true, 3)
    assert m.tolist() == [[1, 0, 1], [1, 2, 0], [0, 0, 2]]
    r = metrics.precision_recall_f1(m)
    np.testing.assert_allclose(r["precision"], [1 / 2, 2 / 2, 2 / 3])
    np.testing.assert_allclose(r["recall"], [1 / 2, 2 / 3, 2 / 2])
    f1 = 2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"])
    np.testing.assert_allclose(r["f1"], f1)
    assert r["macro_f1"] == pytest.approx(f1.mean())


def test_precision_recall_zero_division_is_zero():
    m = metrics.confusion_matrix(np.array([0, 0]), np.array([0, 1]), 3)
    r = metrics.precision_recall_f1(m)
    assert r["precision"][1] == 0 and r["recall"][2] == 0 and r["f1"][2] == 0


def test_multilabel_scores():
    logits = np.array([[2.0, -1.0, 0.5], [-0.5, 1.0, 1.0]])
    target = np.array([[1, 0, 0], [0, 1, 1]])
    r = metrics.multilabel_precision_recall_f1(logits, target)
    np.testing.assert_allclose(r["precision"], [1, 1, 0.5])
    np.testing.assert_allclose(r["recall"], [1, 1, 1])


def test_running_average_weights_by_count():
    avg = metrics.RunningAverage()
    avg.update(1.0, 3)
    avg.update(3.0, 1)
    assert avg.value == pytest.approx(1.5)
