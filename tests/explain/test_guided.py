"""GuidedBackprop and Deconvolution against captum (float64, one target per example)."""
import numpy as np
import pytest
from _explain import TARGETS, assert_same, import_captum, twins

from ember import nn
from ember.explain import Deconvolution, GuidedBackprop, Saliency

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks", "ignore:Input Tensor")


@pytest.fixture(scope="module")
def nets():
    return (*twins(), import_captum())


@pytest.mark.parametrize("target", [1, TARGETS])
def test_guided_backprop_and_deconvolution_match_captum(nets, target):
    em, tm, x, tx, ca = nets
    guided = GuidedBackprop(em).attribute(x, target=target)
    assert_same(guided, ca.GuidedBackprop(tm).attribute(tx, target=target), what="guided")
    deconv = Deconvolution(em).attribute(x, target=target)
    assert_same(deconv, ca.Deconvolution(tm).attribute(tx, target=target), what="deconv")
    plain = Saliency(em).attribute(x, target=target, abs=False).numpy()
    assert not np.allclose(guided.numpy(), plain) and not np.allclose(deconv.numpy(), plain)


def test_hooks_are_removed_and_the_model_is_untouched(nets):
    em, _, x, _, _ = nets
    before = Saliency(em).attribute(x, target=0, abs=False).numpy()
    GuidedBackprop(em).attribute(x, target=0)
    assert not any(m._backward_hooks for m in em.modules())
    assert all(p.grad is None for p in em.parameters())
    np.testing.assert_array_equal(Saliency(em).attribute(x, target=0, abs=False).numpy(),
                                  before)


def test_tuple_input_and_errors(nets):
    em, tm, x, tx, ca = nets
    ours = GuidedBackprop(em).attribute((x,), target=TARGETS)
    assert isinstance(ours, tuple)
    assert_same(ours, ca.GuidedBackprop(tm).attribute((tx,), target=TARGETS))
    with pytest.raises(TypeError, match="GuidedBackprop: model must be an ember.nn.Module"):
        GuidedBackprop(lambda x: x)
    with pytest.raises(ValueError, match="Deconvolution.attribute: the selected output"):
        Deconvolution(em).attribute(x)
    assert not any(m._backward_hooks for m in em.modules()), "hooks left after an error"
    assert isinstance(em.relu1, nn.ReLU)
