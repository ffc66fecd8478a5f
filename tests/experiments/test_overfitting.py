"""The overfitting experiment: weight decay and dropout cut the train-test gap."""
import os

import pytest

from ember.experiments import overfitting as O
from ember.experiments import run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("overfitting", tmp_path_factory.mktemp("overfitting"), quick=True)


def test_regularisation_narrows_the_gap(result):
    s = result.summary
    assert set(s) == set(O.RUNS)
    assert s["plain"]["gap"] > 0.1  # 300 images: the plain net memorises
    assert s["weight decay 0.1"]["gap"] < s["plain"]["gap"] / 2
    assert s["dropout 0.2"]["gap"] < s["plain"]["gap"]


def test_files(result):
    assert [os.path.basename(p) for p in result.figures + result.csvs] == \
        ["accuracy.png", "accuracy.csv"]
    with open(result.csvs[0]) as f:
        rows = f.read().splitlines()
    assert len(rows) == 1 + 3 * result.settings["epochs"]
