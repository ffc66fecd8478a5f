"""The optimizer trajectories against PyTorch's optimizers, and the lessons' picture in
numbers: SGD zig-zags across the valley, Momentum and Adam do not and arrive sooner."""
import os

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember.experiments import optimizers as O
from ember.experiments import run_experiment

CASES = [(fn, label) for fn, spec in O.FUNCTIONS.items() for label in spec[3]]


@pytest.mark.parametrize("fn, label", CASES, ids=[f"{f}-{lab}" for f, lab in CASES])
def test_trajectory_ends_where_pytorch_ends(fn, label):
    torch = import_torch()
    f, start, steps, opts = O.FUNCTIONS[fn]
    cls, kw = opts[label]
    ours = O.trajectory(ember, f, start, cls, steps, **kw)
    theirs = O.trajectory(torch, f, start, cls, steps, **kw)
    assert ours.shape == (steps + 1, 2)
    np.testing.assert_allclose(ours[-1], theirs[-1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_d2l_gradient_descent_closed_form():
    # d2l.ai 12.3: gradient descent on x1² + 2 x2² from (-5, -2) with eta 0.1 multiplies
    # x1 by 0.8 and x2 by 0.6 per step
    pts = O.trajectory(ember, lambda m, p: p[0] ** 2 + 2 * p[1] ** 2, (-5.0, -2.0), "SGD", 20,
                       lr=0.1)
    np.testing.assert_allclose(pts[-1], [-5 * 0.8 ** 20, -2 * 0.6 ** 20], rtol=1e-12)
    torch = import_torch()
    theirs = O.trajectory(torch, lambda m, p: p[0] ** 2 + 2 * p[1] ** 2, (-5.0, -2.0), "SGD",
                          20, lr=0.1)
    np.testing.assert_allclose(pts, theirs, rtol=0, atol=1e-6)


def test_steps_to_reach_and_zigzag():
    pts = np.array([[3.0, 1.0], [1.0, -1.0], [0.05, 0.01], [0.0, 0.0]])
    assert O.steps_to_reach(pts, 0.1) == 2
    assert O.steps_to_reach(pts, 0.001) == 3
    assert O.steps_to_reach(pts[:2], 0.1) is None
    flips, length = O.zigzag(pts[:2])
    assert flips == 1 and length == pytest.approx(np.hypot(2, 2))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_experiment("optimizers", tmp_path_factory.mktemp("optimizers"), quick=True)


def test_sgd_zigzags_on_the_lessons_function(result):
    flips = {k: v[0] for k, v in result.summary["zigzag"]["lessons"].items()}
    length = {k: v[1] for k, v in result.summary["zigzag"]["lessons"].items()}
    assert flips["SGD"] == 30  # crosses the valley floor on every one of the 30 steps
    for other in ("Momentum", "Nesterov", "AdaGrad", "Adam", "Nadam"):
        assert flips[other] <= 5
        assert length["SGD"] > 2.5 * length[other]


def test_momentum_and_adam_arrive_sooner_on_d2l_function(result):
    reach = result.summary["steps_to_reach"]["d2l"]
    assert reach["Momentum"] < reach["SGD"] and reach["Adam"] < reach["SGD"]
    assert reach["RMSProp"] < reach["SGD"]
    assert reach["AdaDelta"] is None  # its first steps are ~ lr sqrt(eps): it creeps


def test_training_curves_adaptive_beat_plain_sgd(result):
    final = result.summary["final_loss"]
    assert set(final) == set(O.OPTIMIZERS)
    for other in ("Momentum", "AdaGrad", "Adam", "RMSProp"):
        assert final[other] < final["SGD"]


def test_files(result):
    names = sorted(os.path.basename(p) for p in result.figures + result.csvs)
    assert names == ["steps_to_reach.csv", "training.csv", "training.png",
                     "trajectories.csv", "trajectories_d2l.png", "trajectories_lessons.png"]
    for path in result.figures + result.csvs:
        assert os.path.getsize(path) > 300
    with open(os.path.join(result.out_dir, "trajectories.csv")) as f:
        rows = f.read().splitlines()
    assert len(rows) == 1 + 8 * 31 + 8 * 21
    assert "Adam" in result.table
