"""The registry, and a forward pass of every model on a small input."""
import numpy as np
import pytest

import ember
from ember import models

ALL = ["alexnet", "centernet", "centernet_mask", "conv_autoencoder", "cvae",
       "denoising_autoencoder", "fcn", "googlenet", "gru1d", "lenet5", "localisation_cnn",
       "mlp_autoencoder", "multilabel_cnn", "resnet101", "resnet110", "resnet152",
       "resnet18", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56",
       "show_attend_tell", "unet", "vae", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
       "vgg_small_bn", "vit_tiny"]


def test_list_models():
    assert models.list_models() == ALL


def test_get_model_builds_by_name_with_kwargs():
    m = models.get_model("ResNet-20", num_classes=7, in_channels=1)
    assert isinstance(m, models.CifarResNet)
    assert tuple(m.fc.weight.shape) == (7, 64) and m.conv1.in_channels == 1


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="did you mean resnet18"):
        models.get_model("resnt18")
    with pytest.raises(ValueError, match="did you mean vgg16_bn"):
        models.get_model("vgg16bn")
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        models.get_model("transformer")


@pytest.mark.parametrize("kwargs, err", [
    ({"variant": "x"}, "LeNet5: variant"), ({"input_size": 30}, "LeNet5: input_size")])
def test_lenet_bad_arguments(kwargs, err):
    with pytest.raises(ValueError, match=err):
        models.lenet5(**kwargs)


def test_bad_arguments_of_other_models():
    with pytest.raises(ValueError, match="AlexNet: variant"):
        models.alexnet(variant="2013")
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(depth=21)
    with pytest.raises(ValueError, match="shortcut"):
        models.resnet20(shortcut="C")


# name, kwargs, input (C, H, W): the smallest sensible size. The other VGGs, resnet101 and
# resnet152 are only built in test_params_and_keys.py, to keep this file fast.
FORWARD = [
    ("lenet5", {}, (1, 32, 32)),
    ("lenet5", {"input_size": 28, "variant": "modern"}, (1, 28, 28)),
    ("lenet5", {"c3_table": True, "in_channels": 3}, (3, 32, 32)),
    ("alexnet", {}, (3, 63, 63)),
    ("alexnet", {"variant": "original"}, (3, 67, 67)),
    ("vgg11_bn", {}, (3, 32, 32)),
    ("googlenet", {}, (3, 32, 32)),
    ("resnet18", {"in_channels": 1}, (1, 28, 28)),
    ("resnet34", {}, (3, 32, 32)),
    ("resnet50", {}, (3, 32, 32)),
    ("resnet20", {}, (3, 32, 32)),
    ("resnet20", {"shortcut": "B"}, (3, 28, 28)),
    ("resnet56", {}, (3, 32, 32)),
    ("gru1d", {}, (1, 40)),  # a 1-D signal: (C, L)
    ("vit_tiny", {}, (1, 28, 28)),
    ("vit_tiny", {"in_channels": 3, "input_size": 32, "patch_size": 4}, (3, 32, 32)),
]


@pytest.mark.parametrize("name, kwargs, size", FORWARD)
def test_forward_small_input(name, kwargs, size):
    model = models.get_model(name, num_classes=10, **kwargs).eval()
    with ember.no_grad():
        y = model(ember.randn(2, *size))
    assert tuple(y.shape) == (2, 10)
    assert np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("name", models.list_models())
def test_weights_and_pretrained_as_torchvision(name):
    builder = getattr(models, name)
    assert builder.__name__ == name and builder is models.get_builder(name)
    for asked in ({"weights": "DEFAULT"}, {"pretrained": True}):
        with pytest.raises(ValueError, match=f"models.{name}.*no pretrained weights ship with "
                                             "ember.*load_state_dict\\(ember.load"):
            builder(**asked)
        with pytest.raises(ValueError, match="no pretrained weights"):
            models.get_model(name, **asked)


def test_weights_none_and_pretrained_false_are_accepted():
    m = models.resnet20(weights=None, pretrained=False, progress=True, num_classes=4)
    assert m(ember.zeros(1, 3, 32, 32)).shape == (1, 4)
    assert models.lenet5(weights=None).__class__.__name__ == "LeNet5"
