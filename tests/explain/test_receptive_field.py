"""Receptive fields measured by backpropagation agree with ember.summary's analytic ones."""
import numpy as np
import pytest

import ember
from ember import models, nn
from ember.explain import receptive_field
from ember.models.vgg import cfgs, make_layers


def check_agrees(model, size, layer, position=None, summary=None):
    """Measure, and compare with the summary row of ``layer``'s output (its last leaf call:
    a residual block ends in a ReLU)."""
    summary = summary or ember.summary(model, size)
    row = [r for r in summary.layers if r.name == layer or r.name.startswith(layer + ".")][-1]
    measured = receptive_field(model, size, layer, position=position)
    assert (measured.rows, measured.cols) == row.box(*measured.position, input_hw=size[1:])
    return measured


def test_vgg16_first_three_blocks():
    # VGG-16's convolutional part (``features``): the classifier is not needed and takes
    # seconds to initialise
    vgg = make_layers(cfgs["D"])
    size = (3, 64, 64)
    s = ember.summary(vgg, size)
    m = check_agrees(vgg, size, "16", summary=s)  # pool3: field 44, jump 8
    assert m.size == (44, 44) and m.position == (4, 4) and m.rows == (14, 57)
    assert check_agrees(vgg, size, "2", summary=s).size == (5, 5)  # conv1_2 + ReLU
    corner = check_agrees(vgg, size, "16", (0, 7), summary=s)  # clipped by the border
    assert corner.rows == (0, 25) and corner.cols == (38, 63)


def test_resnet18_up_to_layer2():
    net = models.resnet18(num_classes=10)
    size = (3, 112, 112)
    m = check_agrees(net, size, "layer2")  # 99 pixels, unclipped at this size
    assert m.size == (99, 99) and m.rows == (7, 105)
    s = ember.summary(net, (3, 64, 64))
    assert check_agrees(net, (3, 64, 64), "layer1", summary=s).size == (43, 43)
    assert check_agrees(net, (3, 64, 64), "maxpool", summary=s).size == (11, 11)


def test_googlenet_branch_union():
    net = models.googlenet(num_classes=10, aux_logits=False)
    m = check_agrees(net, (3, 64, 64), "inception3a")  # widest branch: 43 pixels
    assert m.size == (43, 43)


def test_layer_as_module_and_model_untouched():
    net = models.resnet20()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    a = receptive_field(net, (3, 32, 32), net.layer1[0])
    b = receptive_field(net, (3, 32, 32), "layer1.0")
    assert (a.rows, a.cols) == (b.rows, b.cols) and a.size == (7, 7)  # conv1 + 2 convs
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert net.training


def test_effective_field_lies_inside_the_theoretical_one():
    net = models.lenet5(variant="modern")
    theory = receptive_field(net, (1, 32, 32), "features.c3")
    eff = receptive_field(net, (1, 32, 32), "features.c3", theoretical=False)
    assert theory.size == (14, 14)
    assert theory.rows[0] <= eff.rows[0] <= eff.rows[1] <= theory.rows[1]
    assert theory.cols[0] <= eff.cols[0] <= eff.cols[1] <= theory.cols[1]
    assert eff.grad.shape == (32, 32)
    assert all(p.grad is None for p in net.parameters()) and net.training


def test_errors():
    net = models.lenet5()
    with pytest.raises(AttributeError, match="c9"):
        receptive_field(net, (1, 32, 32), "features.c9")
    with pytest.raises(ValueError, match="not a submodule"):
        receptive_field(net, (1, 32, 32), nn.ReLU())
    with pytest.raises(ValueError, match="must be \\(N, C, H, W\\)"):
        receptive_field(net, (1, 32, 32), "classifier.f6")
