"""The experiments' shared helpers."""
import os

import numpy as np
import pytest

import ember
from ember.experiments import common


def test_image_arrays():
    x, y, xt, yt = common.image_arrays(30, 0)
    assert x.shape == (30, 784) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (30,) and y.dtype == np.int64 and xt.shape == (0, 784) and len(yt) == 0
    x2, _, xt2, _ = common.image_arrays(5, 7, flat=False)
    assert x2.shape == (5, 1, 28, 28) and xt2.shape == (7, 1, 28, 28)


def test_settings_for():
    presets = {"quick": {"a": 1, "b": 2}, "default": {"a": 3, "b": 4}}
    assert common.settings_for("t", presets, True, {"b": 5}) == {"a": 1, "b": 5,
                                                                "preset": "quick"}
    assert common.settings_for("t", presets, False, {})["a"] == 3
    with pytest.raises(ValueError, match="unknown setting.*c.*known: a, b"):
        common.settings_for("t", presets, True, {"c": 1})
    with pytest.raises(ValueError, match="no preset 'full'"):
        common.settings_for("t", presets, True, {"preset": "full"})


def test_mlp_layers_and_inits():
    ember.manual_seed(0)
    net = common.mlp(ember, [20, 400, 400, 3], "tanh", "he", batch_norm=True, dropout=0.1)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout"] * 2 + ["Linear"]
    assert net[4].weight.detach().numpy().std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert (net[0].bias.detach().numpy() == 0).all()
    maxout = common.mlp(ember, [20, 8, 3], "maxout", 0.5)
    assert [type(m).__name__ for m in maxout] == ["Maxout", "Linear"]
    assert maxout(ember.randn(2, 20)).shape == (2, 3)


def test_train_classifier_and_accuracy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    ember.manual_seed(0)
    net = common.mlp(ember, [2, 16, 2], "relu", "he")
    opt = ember.optim.SGD(net.parameters(), lr=0.5)
    h = common.train_classifier(ember, net, opt, x, y, 5, 16, x_test=x, y_test=y)
    assert len(h["step_loss"]) == 20 and len(h["train_acc"]) == 5 == len(h["test_acc"])
    assert h["train_acc"][-1] > 0.9 and common.accuracy(ember, net, x, y) == h["train_acc"][-1]
    assert common.mean_loss(ember, net, x, y) < h["train_loss"][0]


def test_write_csv_and_smooth(tmp_path):
    path = common.write_csv(str(tmp_path), "t.csv", ["a", "b"],
                            [[1, 0.1234567890123], ["x", 2.0]])
    with open(path) as f:
        assert f.read().splitlines() == ["a,b", "1,0.123456789", "x,2"]
    np.testing.assert_allclose(common.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    assert os.path.exists(path)
