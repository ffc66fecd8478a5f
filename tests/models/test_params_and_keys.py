"""Parameter counts (torchvision's published numbers, the papers' where torchvision has none)
and state_dict keys equal to torchvision's (torchvision is not installed: the expected keys
are written out from its model definitions)."""
import functools

import pytest

from ember import models
from ember.models.vgg import cfgs, make_layers


@functools.cache
def build(name, **kwargs):
    """Each big model is built once for the whole file (a VGG takes seconds)."""
    return models.get_model(name, **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("name, kwargs, expected", [
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnet101", {}, 44_549_160),
    ("resnet152", {}, 60_192_808),
    ("resnet20", {}, 269_722),
    ("resnet32", {}, 464_154),
    ("resnet44", {}, 658_586),
    ("resnet56", {}, 853_018),
    ("resnet110", {}, 1_727_962),
    ("resnet20", {"shortcut": "B"}, 269_722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)),
    ("alexnet", {}, 61_100_840),
    ("alexnet", {"variant": "original"}, 60_965_224),
    ("googlenet", {"aux_logits": False}, 6_624_904),
    ("googlenet", {}, 13_004_888),
    ("lenet5", {}, 61_706),
    ("lenet5", {"c3_table": True}, 61_706),  # masked weights still exist (effective 60,806)
    ("gru1d", {}, 5_134),  # MNIST-1D GRU: 2 x 162 (GRU) + 480 x 10 + 10 (linear)
])
def test_parameter_count(name, kwargs, expected):
    assert n_params(build(name, **kwargs)) == expected


@pytest.mark.parametrize("cfg, bn, expected", [
    ("A", False, 132_863_336), ("A", True, 132_868_840), ("B", False, 133_047_848),
    ("B", True, 133_053_736), ("D", False, 138_357_544), ("D", True, 138_365_992),
    ("E", False, 143_667_240), ("E", True, 143_678_248),
])
def test_vgg_parameter_count(cfg, bn, expected):
    # the classifier is the same in all eight: count it once on a real VGG-16, and the
    # convolutional part of each configuration on its own (building eight VGGs is slow)
    vgg16 = build("vgg16", init_weights=False)  # counts only: skip the second init
    classifier = n_params(vgg16.classifier)
    assert classifier == 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert n_params(make_layers(cfgs[cfg], bn)) + classifier == expected
    assert n_params(vgg16) == 138_357_544


def test_counts_follow_num_classes_and_in_channels():
    # ResNet-18: fc 512 -> 10 instead of 1000, conv1 1 -> 64 instead of 3 -> 64
    m = models.resnet18(num_classes=10, in_channels=1)
    assert n_params(m) == 11_689_512 - 512 * 990 - 990 - 2 * 64 * 49
    assert n_params(models.lenet5(num_classes=4, in_channels=3)) == 61_706 - 6 * 85 + 2 * 150


def test_alexnet_original_conv1_and_groups():
    m = build("alexnet", variant="original")
    conv1 = m.features[0]
    assert tuple(conv1.weight.shape) == (96, 3, 11, 11)
    assert conv1.weight.numel() + conv1.bias.numel() == 34_944
    assert [c.groups for c in m.features if type(c).__name__ == "Conv2d"] == [1, 2, 1, 2, 2]


def test_resnet18_keys():
    keys = list(build("resnet18").state_dict())
    assert len(keys) == 122
    assert keys[:13] == ["conv1.weight"] + [f"bn1.{k}" for k in BN] + [
        "layer1.0.conv1.weight"] + [f"layer1.0.bn1.{k}" for k in BN] + ["layer1.0.conv2.weight"]
    assert keys[-11:] == [f"layer4.1.bn1.{k}" for k in BN[2:]] + ["layer4.1.conv2.weight"] + [
        f"layer4.1.bn2.{k}" for k in BN] + ["fc.weight", "fc.bias"]
    assert [k for k in keys if "downsample" in k] == [
        f"layer{i}.0.downsample.{k}" for i in (2, 3, 4)
        for k in ["0.weight"] + [f"1.{b}" for b in BN]]


def test_resnet50_keys():
    keys = list(build("resnet50").state_dict())
    assert len(keys) == 320
    assert "layer1.0.downsample.0.weight" in keys and "layer3.5.conv3.weight" in keys
    assert keys[-3:] == ["layer4.2.bn3.num_batches_tracked", "fc.weight", "fc.bias"]


def test_alexnet_keys():
    expected = [f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")]
    expected += [f"classifier.{i}.{p}" for i in (1, 4, 6) for p in ("weight", "bias")]
    assert list(build("alexnet").state_dict()) == expected
    # the paper's version has the same names, LRN shifting the feature indices
    orig = [f"features.{i}.{p}" for i in (0, 4, 8, 10, 12) for p in ("weight", "bias")]
    orig += expected[10:]
    assert list(build("alexnet", variant="original").state_dict()) == orig


def test_vgg_keys():
    convs = (0, 3, 6, 8, 11, 13, 16, 18)
    expected = [f"features.{i}.{p}" for i in convs for p in ("weight", "bias")]
    expected += [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    assert list(models.vgg11(num_classes=10, init_weights=False).state_dict()) == expected
    # with BN (the feature part, whose keys are prefixed with "features." in VGG)
    keys_bn = list(make_layers(cfgs["A"], batch_norm=True).state_dict())
    assert len(keys_bn) == 8 * 2 + 8 * 5
    assert keys_bn[:8] == ["0.weight", "0.bias"] + [f"1.{k}" for k in BN] + ["4.weight"]
    assert keys_bn[-2:] == ["26.running_var", "26.num_batches_tracked"]
    keys16 = list(build("vgg16", init_weights=False).state_dict())
    assert len(keys16) == 32 and keys16[24:26] == ["features.28.weight", "features.28.bias"]
    assert keys16[26:] == expected[16:]


def test_googlenet_keys():
    keys = list(build("googlenet").state_dict())
    assert len(keys) == 364
    assert keys[:10] == ["conv1.conv.weight"] + [f"conv1.bn.{k}" for k in BN] + [
        "conv2.conv.weight", "conv2.bn.weight", "conv2.bn.bias", "conv2.bn.running_mean"]
    assert keys[24:31] == ["inception3a.branch2.0.conv.weight"] + [
        f"inception3a.branch2.0.bn.{k}" for k in BN] + ["inception3a.branch2.1.conv.weight"]
    assert "inception3a.branch4.1.conv.weight" in keys

    def aux(n):
        return [f"{n}.conv.conv.weight"] + [f"{n}.conv.bn.{k}" for k in BN] + [
            f"{n}.fc1.weight", f"{n}.fc1.bias", f"{n}.fc2.weight", f"{n}.fc2.bias"]
    assert keys[-28:] == ["inception5b.branch4.1.conv.weight"] + [
        f"inception5b.branch4.1.bn.{k}" for k in BN] + aux("aux1") + aux("aux2") + [
        "fc.weight", "fc.bias"]
    no_aux = list(build("googlenet", aux_logits=False).state_dict())
    assert len(no_aux) == 344
    assert no_aux[-4:] == ["inception5b.branch4.1.bn.running_var",
                           "inception5b.branch4.1.bn.num_batches_tracked", "fc.weight", "fc.bias"]
