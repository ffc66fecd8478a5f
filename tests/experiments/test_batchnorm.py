"""The batchnorm experiment: BN ahead at most init scales; d2l's LeNet as PyTorch builds it."""
import os

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember.experiments import batchnorm as B
from ember.experiments import run_experiment


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("batchnorm", tmp_path_factory.mktemp("batchnorm"), quick=True)


def test_bn_beats_plain_at_most_init_scales(result):
    s = result.summary
    n = len(s["stds"])
    assert s["bn_wins"] > n / 2
    assert np.isclose(s["stds"][0], 1) and np.isclose(s["stds"][-1], 1e-4)


def test_lenet_runs_and_files(result):
    lenet = result.summary["lenet"]
    assert set(lenet) == {"bn", "plain"}
    assert all(np.isfinite(v["train_loss"]) for v in lenet.values())
    names = sorted(os.path.basename(p) for p in result.figures + result.csvs)
    assert names == ["init_scales.csv", "init_scales.png", "lenet.csv", "lenet.png"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_lenet_is_d2l_lenet_in_both_frameworks(batch_norm):
    torch = import_torch()
    ours, theirs = B.lenet(ember, batch_norm), B.lenet(torch, batch_norm)
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})
    x = np.random.default_rng(0).random((4, 1, 28, 28)).astype(np.float32)
    out = ours(ember.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    n = sum(p.numel() for p in ours.parameters())
    assert n == 61706 + (2 * (6 + 16 + 120 + 84) if batch_norm else 0)


def test_lenet_xavier_uniform_bounds():
    model = B.lenet(ember, False)
    w = model[0].weight.detach().numpy()  # fan_in 25, fan_out 150
    assert np.abs(w).max() <= np.sqrt(6 / (25 + 150)) + 1e-7


@pytest.mark.parametrize("batch_norm", [False, True])
def test_twin_loop_follows_ember_from_the_same_start(batch_norm):
    # benchmarks/bn_experiment_torch.py: the same loop, data order and initial weights in
    # torch give the same losses (float32)
    torch = import_torch()
    data = B.common.image_arrays(512, 64, flat=False)
    initial = B.initial_state(batch_norm, seed=0)
    ours = B.train_lenet(ember, batch_norm, data, 1, seed=0, initial=initial)
    theirs = B.train_lenet(torch, batch_norm, data, 1, seed=0, initial=initial)
    np.testing.assert_allclose(ours["step_loss"], theirs["step_loss"], rtol=1e-4)
    assert ours["test_acc"] == theirs["test_acc"]
