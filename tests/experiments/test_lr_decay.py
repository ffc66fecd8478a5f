"""The lr-decay experiment: the schedules' rates, and decay settling the run."""
import os

import numpy as np
import pytest

from ember.experiments import run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("lr-decay", tmp_path_factory.mktemp("lr_decay"), quick=True)


def test_schedules_follow_their_closed_forms(result):
    s, epochs, lr = result.summary, result.settings["epochs"], result.settings["lr"]
    t = np.arange(epochs)
    np.testing.assert_allclose(s["constant"]["lr"], lr)
    np.testing.assert_allclose(s["step"]["lr"], lr * 0.5 ** (t // max(1, epochs // 4)))
    np.testing.assert_allclose(s["exponential"]["lr"], lr * 16.0 ** (-t / epochs))
    np.testing.assert_allclose(s["1/t"]["lr"], lr / (1 + 15.0 * t / epochs))


def test_decay_settles_the_run(result):
    s = result.summary
    for name in ("step", "exponential", "1/t"):
        assert s[name]["final_loss"] < s["constant"]["final_loss"]
        assert s[name]["last_noise"] < s["constant"]["last_noise"]
        assert s[name]["test_acc"] > s["constant"]["test_acc"]


def test_files(result):
    assert [os.path.basename(p) for p in result.figures + result.csvs] == \
        ["schedules.png", "schedules.csv"]
