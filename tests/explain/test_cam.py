"""LayerGradCam and GuidedGradCam against captum; CAM and Grad-CAM++ against their published
formulas on a hand-checkable model and on the small CNN (PyTorch's gradients)."""
from collections import OrderedDict

import numpy as np
import pytest
from _explain import TARGETS, assert_same, import_captum, twins
from _parity import copy_from_torch

import ember
from ember import nn
from ember.explain import CAM, GradCAMPlusPlus, GuidedGradCam, LayerAttribution, LayerGradCam

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks", "ignore:Input Tensor")


@pytest.fixture(scope="module")
def nets():
    return (*twins(), import_captum())


@pytest.mark.parametrize("target", [4, TARGETS])
def test_layer_grad_cam_matches_captum(nets, target):
    em, tm, x, tx, ca = nets
    for relu in (False, True):
        for to_input in (False, True):
            for summed in (True, False):
                kw = {"target": target, "relu_attributions": relu,
                          "attribute_to_layer_input": to_input, "attr_dim_summation": summed}
                assert_same(LayerGradCam(em, em.conv2).attribute(x, **kw),
                            ca.LayerGradCam(tm, tm.conv2).attribute(tx, **kw), what=str(kw))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_guided_grad_cam_and_interpolate_match_captum(nets, mode):
    em, tm, x, tx, ca = nets
    assert_same(GuidedGradCam(em, em.conv2).attribute(x, TARGETS, interpolate_mode=mode),
                ca.GuidedGradCam(tm, tm.conv2).attribute(tx, TARGETS, interpolate_mode=mode))
    ours = LayerAttribution.interpolate(LayerGradCam(em, em.conv2).attribute(x, TARGETS),
                                        (8, 8), mode)
    theirs = ca.LayerAttribution.interpolate(
        ca.LayerGradCam(tm, tm.conv2).attribute(tx, TARGETS), (8, 8), mode)
    assert tuple(ours.shape) == (4, 1, 8, 8)
    assert_same(ours, theirs, what="interpolate")


class Squares(nn.Module):
    """features (the identity) -> mean of squares per map -> linear: g = 2 W A / (h w)."""

    def __init__(self, weight):
        super().__init__()
        self.features = nn.Identity()
        self.fc = nn.Linear(2, 1, bias=False)
        with ember.no_grad():
            self.fc.weight.copy_(ember.tensor(weight))

    def forward(self, x):
        a = self.features(x)
        return self.fc((a * a).mean((2, 3)))


A = np.array([[[[1.0, 2.0], [0.0, -1.0]], [[0.5, 0.0], [1.0, 1.0]]]])  # (1, 2, 2, 2)


def test_grad_cam_plus_plus_by_hand():
    """g0 = A0 / 2 = [[.5, 1], [0, -.5]], g1 = -A1 / 2 <= 0, sum(A0) = 2:
    alpha0 = g^2 / (2 g^2 + 2 g^3) = [[1/3, 1/4], [0 (0/0), 1]], w0 = 1/3 * .5 + 1/4 * 1 = 5/12,
    w1 = 0 (no positive gradient), map = relu(5/12 * A0)."""
    model = Squares([[1.0, -1.0]]).to(ember.float64)
    got = GradCAMPlusPlus(model, model.features).attribute(ember.tensor(A), target=0)
    np.testing.assert_allclose(got.numpy(), [[[[5 / 12, 10 / 12], [0, 0]]]], rtol=1e-12)
    raw = GradCAMPlusPlus(model, model.features).attribute(ember.tensor(A), target=0,
                                                           relu_attributions=False)
    np.testing.assert_allclose(raw.numpy(), [[[[5 / 12, 10 / 12], [0, -5 / 12]]]], rtol=1e-12)


def test_cam_by_hand():
    """M_c = sum_k w_ck A_k: class 1 with weights (3, -1) is 3 A0 - A1."""
    model = nn.Sequential(OrderedDict(features=nn.Identity(), pool=nn.AdaptiveAvgPool2d(1),
                                      flatten=nn.Flatten(), fc=nn.Linear(2, 2))).double()
    with ember.no_grad():
        model.fc.weight.copy_(ember.tensor([[1.0, 2.0], [3.0, -1.0]]))
    x = ember.tensor(np.concatenate([A, A[:, ::-1]]))
    got = CAM(model, model.features).attribute(x, target=[1, 0]).numpy()
    np.testing.assert_allclose(got[0, 0], 3 * A[0, 0] - A[0, 1], rtol=1e-12)
    np.testing.assert_allclose(got[1, 0], A[0, 1] + 2 * A[0, 0], rtol=1e-12)
    relu = CAM(model, model.features).attribute(x, target=1, relu_attributions=True).numpy()
    np.testing.assert_allclose(relu[:, 0], np.maximum(3 * x.numpy()[:, 0] - x.numpy()[:, 1], 0))


def gap_twins():
    """conv relu conv relu -> global average pooling -> linear, in both frameworks."""
    import torch

    def build(m):
        return m.nn.Sequential(OrderedDict(
            conv1=m.nn.Conv2d(2, 4, 3, padding=1), relu1=m.nn.ReLU(),
            conv2=m.nn.Conv2d(4, 6, 3, padding=1), relu2=m.nn.ReLU(),
            pool=m.nn.AdaptiveAvgPool2d(1), flatten=m.nn.Flatten(), fc=m.nn.Linear(6, 5)))
    torch.manual_seed(1)
    tm = build(torch).double()
    em = copy_from_torch(build(ember).to(ember.float64), tm)
    x = np.random.default_rng(4).normal(size=(4, 2, 6, 6))
    return em, tm, ember.tensor(x), torch.tensor(x)


def test_cam_is_grad_cam_times_the_map_size_on_a_gap_network(nets):
    ca = nets[-1]
    em, tm, x, tx = gap_twins()
    cam = CAM(em, em.relu2).attribute(x, target=TARGETS)
    theirs = ca.LayerGradCam(tm, tm.relu2).attribute(tx, target=TARGETS) * 36
    assert_same(cam, theirs, rtol=1e-10, what="CAM = 36 x Grad-CAM")
    # the published formula, from PyTorch's feature maps and fc weights
    feats = tm[:4](tx).detach().numpy()
    w = tm.fc.weight.detach().numpy()[TARGETS]
    np.testing.assert_allclose(cam.numpy()[:, 0], np.einsum("nk,nkij->nij", w, feats),
                               rtol=1e-10)


def test_grad_cam_plus_plus_is_the_published_formula_on_pytorch_gradients(nets):
    em, tm, x, tx, _ = nets
    got = GradCAMPlusPlus(em, em.conv2).attribute(x, TARGETS).numpy()
    acts = tm[:4](tx)  # conv2's output
    acts.retain_grad()
    out = tm[4:](acts)
    out[range(4), TARGETS].sum().backward()
    g, a = acts.grad.numpy(), acts.detach().numpy()
    den = 2 * g ** 2 + a.sum((2, 3), keepdims=True) * g ** 3
    alpha = np.where(den != 0, g ** 2 / np.where(den != 0, den, 1), 0)
    weights = (alpha * np.maximum(g, 0)).sum((2, 3), keepdims=True)
    expected = np.maximum((weights * a).sum(1, keepdims=True), 0)
    assert expected.max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def test_errors(nets):
    em, _, x, _, _ = nets
    with pytest.raises(TypeError, match="LayerGradCam: layer must be an ember.nn.Module"):
        LayerGradCam(em, "conv2")
    with pytest.raises(ValueError, match=r"grad_kwargs \['retain_graph'\] are not supported"):
        LayerGradCam(em, em.conv2).attribute(x, 0, grad_kwargs={"retain_graph": True})
    with pytest.raises(RuntimeError, match="did not run in the forward pass"):
        LayerGradCam(em, nn.ReLU()).attribute(x, target=0)
    with pytest.raises(ValueError, match="fc has 5 inputs but the layer gives 6 feature maps"):
        CAM(em, em.conv2, fc=nn.Linear(5, 3)).attribute(x, target=0)
    with pytest.raises(IndexError, match="target 9 is out of range for 5 classes"):
        CAM(em, em.conv2, fc=nn.Linear(6, 5)).attribute(x, target=9)
    with pytest.raises(ValueError, match="CAM: the model has no nn.Linear"):
        CAM(nn.Sequential(nn.Conv2d(1, 1, 1)), nn.Identity())
    with pytest.raises(ValueError, match=r"GradCAMPlusPlus.attribute: the layer must give "
                                         r"feature maps \(N, K, ...\), got shape \(4, 5\)"):
        GradCAMPlusPlus(em, em.fc).attribute(x, target=0)


def test_in_place_relu_after_the_layer_does_not_change_its_map(nets):
    """captum goes on with a clone of the captured layer output; so does ember."""
    ca = nets[-1]
    import torch

    def build(m):
        return m.nn.Sequential(m.nn.Conv2d(1, 3, 3), m.nn.ReLU(inplace=True),
                               m.nn.Conv2d(3, 2, 3), m.nn.ReLU(inplace=True), m.nn.Flatten(),
                               m.nn.Linear(2 * 4 * 4, 3))
    torch.manual_seed(0)
    tm = build(torch).double()
    em = copy_from_torch(build(ember).to(ember.float64), tm)
    x = np.random.default_rng(0).normal(size=(3, 1, 8, 8))
    ex, tx = ember.tensor(x), torch.tensor(x)
    assert_same(LayerGradCam(em, em[2]).attribute(ex, [0, 1, 2]),
                ca.LayerGradCam(tm, tm[2]).attribute(tx, [0, 1, 2]), what="conv then ReLU_")
    assert_same(LayerGradCam(em, em[3]).attribute(ex, [0, 1, 2], attribute_to_layer_input=True),
                ca.LayerGradCam(tm, tm[3]).attribute(tx, [0, 1, 2], attribute_to_layer_input=True),
                what="the in-place ReLU's input")
    assert_same(GuidedGradCam(em, em[2]).attribute(ex, [0, 1, 2]),
                ca.GuidedGradCam(tm, tm[2]).attribute(tx, [0, 1, 2]), what="guided")
