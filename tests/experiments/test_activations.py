"""The activations experiment: sigmoid's gradient vanishes through depth, ReLU's does not."""
import itertools
import os

import numpy as np
import pytest

from ember.experiments import activations as A
from ember.experiments import common, run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("activations", tmp_path_factory.mktemp("activations"), quick=True)


def test_sigmoid_vanishes_relu_family_does_not(result):
    r = result.summary["ratio"]
    assert set(r) == {"sigmoid", "tanh", "relu", "elu", "leaky_relu", "maxout"}
    assert r["sigmoid"] < 1e-3  # ~(1/4)^depth
    assert r["tanh"] > 100 * r["sigmoid"]
    for name in ("tanh", "relu", "elu", "leaky_relu", "maxout"):
        assert 0.1 < r[name] < 10
    g = result.summary["grads"]["sigmoid"]
    assert len(g) == result.settings["depth"] + 1
    hidden = g[:-1]  # the output layer's gradient has no sigmoid after it
    assert all(a < b for a, b in itertools.pairwise(hidden))  # shrinks going back


def test_layer_gradients_are_deterministic():
    x, y, _, _ = common.image_arrays(4, 0)
    x = x[:, :8]
    g = A.layer_gradients("tanh", 2, 5, x, y, seed=1)
    assert len(g) == 3 and all(np.isfinite(g))
    assert g == A.layer_gradients("tanh", 2, 5, x, y, seed=1)


def test_files(result):
    assert [os.path.basename(p) for p in result.figures + result.csvs] == \
        ["gradients.png", "gradients.csv"]
