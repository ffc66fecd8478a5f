"""ember.summary: shapes, parameters, multiply-adds, receptive fields, memory."""
import pytest
from _parity import import_torch

import ember
from ember import models, nn
from ember.models.vgg import cfgs, make_layers


def test_alexnet_original_conv1_and_totals():
    s = ember.summary(models.alexnet(variant="original"), (3, 227, 227))
    conv1 = s.layer("features.0")
    assert conv1.type == "Conv2d" and conv1.params == 34_944
    assert conv1.output_shape == (1, 96, 55, 55)
    assert conv1.macs == 96 * 55 * 55 * 3 * 11 * 11
    assert (conv1.rf, conv1.jump, conv1.start) == ((11, 11), (4, 4), (0, 0))
    assert s.layer("features.14").output_shape == (1, 256, 6, 6)
    assert s.layer("features.14").rf == (195, 195)  # AlexNet's classic 195-pixel field
    assert s.total_params == s.trainable_params == 60_965_224
    assert s.total_macs == 724_406_816  # conv2/4/5 halved by groups=2
    assert "features.0 (Conv2d)" in str(s) and "Total params: 60,965,224" in str(s)


def test_lenet5_shapes_are_the_papers():
    for kwargs, size in [({}, (1, 32, 32)), ({"input_size": 28}, (1, 28, 28))]:
        s = ember.summary(models.lenet5(**kwargs), size, batch_size=2)
        shapes = {r.name.split(".")[1]: r.output_shape[1:] for r in s.layers}
        assert shapes["c1"] == (6, 28, 28) and shapes["s2"] == (6, 14, 14)
        assert shapes["c3"] == (16, 10, 10) and shapes["s4"] == (16, 5, 5)
        assert shapes["c5"] == (120, 1, 1) and shapes["f6"] == (84,)
        assert shapes["output"] == (10,)
        assert [s.layer(f"features.{n}").rf[0] for n in ("c1", "s2", "c3", "s4", "c5")] == [
            5, 6, 14, 16, 32]
        assert s.total_params == 61_706
        assert s.total_macs == 2 * (6 * 784 * 25 + 16 * 100 * 150 + 120 * 400 + 120 * 84 + 840)
        # outputs of all 11 leaf layers, float32, batch 2
        assert s.activation_bytes == 2 * 4 * (2 * 4704 + 1176 + 2 * 1600 + 400 + 2 * 120
                                              + 2 * 84 + 10)


def test_macs_agree_with_torch_flop_counter():
    torch = import_torch()
    from torch.utils.flop_counter import FlopCounterMode
    tnn = torch.nn
    twin = tnn.Sequential(tnn.Conv2d(3, 8, 3, stride=2, padding=1), tnn.ReLU(),
                          tnn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), tnn.MaxPool2d(2),
                          tnn.Flatten(), tnn.Linear(8 * 4 * 4, 5))
    ours = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    counter = FlopCounterMode(display=False)
    with counter:
        twin(torch.zeros(3, 3, 16, 16))
    s = ember.summary(ours, (3, 16, 16), batch_size=3)
    assert 2 * s.total_macs == counter.get_total_flops()
    assert [r.rf for r in s.layers][:4] == [(3, 3), (3, 3), (11, 11), (13, 13)]
    # a linear unit sees everything the last 4x4 map saw: pixels -5..19 (padding included)
    assert s.layers[-1].rf == (25, 25) and s.layers[-1].start == (-5, -5)


def test_resnet18_fields_take_the_max_over_paths():
    s = ember.summary(models.resnet18(num_classes=10), (3, 64, 64))

    def last(prefix):
        return [r for r in s.layers if r.name.startswith(prefix)][-1]
    assert s.layer("conv1").rf == (7, 7) and s.layer("maxpool").rf == (11, 11)
    # ResNet-18's well-known fields: 43, 99, 211, 435 after each stage
    assert [last(f"layer{i}.").rf[0] for i in (1, 2, 3, 4)] == [43, 99, 211, 435]
    assert [last(f"layer{i}.").jump[0] for i in (1, 2, 3, 4)] == [4, 8, 16, 32]
    # the shortcut (1x1 stride-2 conv) alone sees less than the block it is added to
    assert s.layer("layer2.0.downsample.0").rf == (43, 43)
    relu_calls = [r for r in s.layers if r.name == "layer1.0.relu"]
    assert len(relu_calls) == 2 and relu_calls[0].params == relu_calls[1].params == 0
    assert s.total_params == 11_689_512 - 512 * 990 - 990


def test_googlenet_union_over_inception_branches():
    m = models.googlenet(num_classes=10)
    s = ember.summary(m, (3, 64, 64))
    assert s.layer("inception3a.branch1.conv").rf == (27, 27)
    assert s.layer("inception3a.branch2.1.conv").rf == (43, 43)
    # the 1x1 conv of 3b sees the concatenation: the largest field of 3a's branches
    assert s.layer("inception3b.branch1.conv").rf == (43, 43)
    assert s.total_params == 13_004_888 - 3 * 990 * 1025
    assert not any(r.name.startswith("aux") for r in s.layers)  # eval mode: no aux heads
    assert m.training  # the model's mode is restored


def test_summary_of_a_model_without_spatial_input():
    mlp = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 2))
    s = ember.summary(mlp, (20,), batch_size=4)
    assert [r.output_shape for r in s.layers] == [(4, 30), (4, 30), (4, 2)]
    assert s.total_macs == 4 * (20 * 30 + 30 * 2) and s.layers[0].rf is None
    assert "RF" in str(s) and s.param_bytes == 4 * s.total_params


def test_layer_lookup_error():
    s = ember.summary(models.lenet5(), (1, 32, 32))
    with pytest.raises(KeyError, match="no leaf module 'features.c9'"):
        s.layer("features.c9")


def test_box_clips_to_the_input():
    # VGG-11's convolutional part (the whole VGG takes seconds to initialise)
    s = ember.summary(make_layers(cfgs["A"]), (3, 32, 32))
    conv = s.layer("3")  # conv2_1: field 8, jump 2, start -3
    assert (conv.rf, conv.jump, conv.start) == ((8, 8), (2, 2), (-3, -3))
    assert conv.box(0, 0) == ((-3, 4), (-3, 4))
    assert conv.box(0, 15, input_hw=(32, 32)) == ((0, 4), (27, 31))
    assert s.total_macs == 152_764_416
