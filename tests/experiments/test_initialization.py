"""The init experiment: activation statistics per init, and who learns."""
import os

import pytest

from ember.experiments import initialization as I
from ember.experiments import run_experiment


def test_activation_statistics_shapes_and_seed():
    a = I.activation_statistics("tanh", "Xavier", n_inputs=50, layers=3, units=20)
    b = I.activation_statistics("tanh", "Xavier", n_inputs=50, layers=3, units=20)
    assert len(a) == 3 and a[0].shape == (50, 20)
    assert all((x == y).all() for x, y in zip(a, b))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("init", tmp_path_factory.mktemp("init"), quick=True)


def test_histograms_tell_the_lessons_story(result):
    s = result.summary["stats"]
    # std 1 + sigmoid saturates: most activations near 0 or 1
    assert s["sigmoid"]["std=1"][-1]["near0"] + s["sigmoid"]["std=1"][-1]["near1"] > 0.3
    # std 0.01 collapses every unit to about the same value
    assert s["sigmoid"]["std=0.01"][-1]["std"] < 0.02
    assert s["tanh"]["std=0.01"][-1]["std"] < 1e-3 and s["relu"]["std=0.01"][-1]["std"] < 1e-3
    # Xavier keeps sigmoid and tanh spread; He keeps ReLU's spread, Xavier lets it shrink
    assert s["sigmoid"]["Xavier"][-1]["std"] > 0.1 and s["tanh"]["Xavier"][-1]["std"] > 0.2
    assert s["relu"]["He"][-1]["std"] > 0.5
    assert s["relu"]["Xavier"][-1]["std"] < s["relu"]["Xavier"][0]["std"] / 2


def test_std_001_sigmoid_stalls_while_he_relu_learns(result):
    loss, acc = result.summary["final_loss"], result.summary["test_acc"]
    assert loss["std=0.01+sigmoid"] > 2.25  # ln 10 = 2.303: chance
    assert loss["He+relu"] < 1.6 and acc["He+relu"] > 0.5
    assert loss["He+relu"] < loss["Xavier+relu"] < loss["std=0.01+relu"]


def test_files(result):
    names = sorted(os.path.basename(p) for p in result.figures + result.csvs)
    assert names == ["activations.csv", "histograms_relu.png", "histograms_sigmoid.png",
                     "histograms_tanh.png", "training.csv", "training.png"]
    assert all(os.path.getsize(p) > 1000 for p in result.figures)
