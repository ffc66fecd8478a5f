"""Occlusion against captum (float64 inputs; captum returns float32, so rtol 1e-6)."""
import numpy as np
import pytest
from _explain import TARGETS, assert_same, import_captum, twins

import ember
from ember.explain import Occlusion


@pytest.fixture(scope="module")
def nets():
    return (*twins(), import_captum())


@pytest.mark.parametrize("window, strides, baselines", [
    ((2, 3, 3), (1, 2, 2), 0.0),      # the last window is cut off by the border
    ((1, 4, 4), (1, 3, 3), 0.5),
    ((2, 2, 2), None, "tensor"),      # stride 1 (captum's default), a baseline per example
    ((2, 8, 8), 4, None),             # the whole image at once
])
def test_occlusion_matches_captum(nets, window, strides, baselines):
    em, tm, x, tx, ca = nets
    import torch
    eb, tb = baselines, baselines
    if baselines == "tensor":
        b = np.random.default_rng(1).normal(size=(4, 2, 8, 8))
        eb, tb = ember.tensor(b), torch.tensor(b)
    for target in (3, TARGETS):
        ours = Occlusion(em).attribute(x, window, strides, eb, target=target,
                                       perturbations_per_eval=4)
        theirs = ca.Occlusion(tm).attribute(tx, window, strides, tb, target=target)
        assert ours.dtype == ember.float64
        assert_same(ours, theirs, rtol=1e-6, atol=1e-7, what=f"{window} {strides}")


def test_the_batch_of_windows_does_not_change_the_result(nets):
    em, _, x, _, _ = nets
    one = Occlusion(em).attribute(x, (2, 3, 3), (1, 1, 1), target=TARGETS)
    many = Occlusion(em).attribute(x, (2, 3, 3), (1, 1, 1), target=TARGETS,
                                   perturbations_per_eval=7)
    np.testing.assert_allclose(many.numpy(), one.numpy(), rtol=1e-12, atol=1e-14)


def test_show_progress(nets, capsys):
    em, _, x, _, _ = nets
    quiet = Occlusion(em).attribute(x, (2, 4, 4), (1, 4, 4), target=1)
    shown = Occlusion(em).attribute(x, (2, 4, 4), (1, 4, 4), target=1, show_progress=True,
                                    perturbations_per_eval=3)
    np.testing.assert_allclose(shown.numpy(), quiet.numpy(), rtol=1e-12)
    assert "Occlusion attribution" in capsys.readouterr().err  # 4 windows, 2 forward calls


def test_two_inputs_match_captum(nets):
    em, tm, x, tx, ca = nets
    ours = Occlusion(lambda a, b: em(a + b)).attribute(
        (x, x * 0.5), ((2, 4, 4), (1, 2, 2)), ((1, 2, 2), (1, 1, 2)), (0.0, 1.0), target=TARGETS)
    theirs = ca.Occlusion(lambda a, b: tm(a + b)).attribute(
        (tx, tx * 0.5), ((2, 4, 4), (1, 2, 2)), ((1, 2, 2), (1, 1, 2)), (0.0, 1.0), target=TARGETS)
    assert_same(ours, theirs, rtol=1e-6, atol=1e-7, what="two inputs")


def test_errors(nets):
    em, _, x, _, _ = nets
    occ = Occlusion(em)
    with pytest.raises(ValueError, match=r"sliding window \(2, 9, 9\) is larger than the "
                                         r"input's \(2, 8, 8\)"):
        occ.attribute(x, (2, 9, 9), target=0)
    with pytest.raises(ValueError, match="stride .* is larger than the sliding window"):
        occ.attribute(x, (1, 2, 2), (1, 3, 3), target=0)
    with pytest.raises(ValueError, match=r"must hold one positive int per non-batch "
                                         r"dimension of the input of shape \(4, 2, 8, 8\)"):
        occ.attribute(x, (3, 3), target=0)
    with pytest.raises(ValueError, match="Occlusion.attribute: the selected output must be"):
        occ.attribute(x, (1, 2, 2))
    with pytest.raises(ValueError, match="perturbations_per_eval must be an int >= 1"):
        occ.attribute(x, (1, 2, 2), target=0, perturbations_per_eval=0)
