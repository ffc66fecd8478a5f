"""The architectures of the lessons, by name: the CNNs, a small Vision Transformer and the
MNIST-1D GRU; the segmentation models ``fcn`` and ``unet`` (``ember.models.segmentation``,
(N, num_classes, H, W) logits); the autoencoders (fully connected, convolutional, denoising,
variational and conditional variational: ``ember.models.autoencoder``, ``ember.models.vae``);
the scenes' multi-label and classification + localisation CNNs (``ember.models.multitask``),
detectors (``centernet``, ``centernet_mask``: ``ember.models.detection``) and captioner
(``show_attend_tell``, ``ember.models.captioning``); and, outside the registry, the seq2seq
models, the character LSTM (``CharLSTM``), nanoGPT's
GPT (``ember.models.gpt``) and the book "Deep Learning from Scratch"'s networks.

``get_model("resnet18", num_classes=10)`` builds one; ``from_checkpoint(path)`` rebuilds
the model of any ``ember train`` checkpoint; ``list_models()`` lists the names.
Every builder takes ``num_classes`` and ``in_channels``; models that torchvision has use its
submodule names, so their state_dict keys equal torchvision's.
"""
from __future__ import annotations

import difflib
import functools

from ember.models.alexnet import AlexNet, alexnet
from ember.models.autoencoder import (Autoencoder, ConvAutoencoder, DenoisingAutoencoder,
                                      MLPAutoencoder, conv_autoencoder, denoising_autoencoder,
                                      mlp_autoencoder)
from ember.models.captioning import CaptionVocab, ShowAttendTell, show_attend_tell
from ember.models.charlm import CharLSTM
from ember.models.checkpoint import rebuild as _rebuild
from ember.models.dlfs import DLFSNet, dlfs_deep_convnet, dlfs_mlp, dlfs_simple_convnet
from ember.models.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet, googlenet_loss
from ember.models.gru1d import GRU1D, gru1d
from ember.models.lenet import LeNet5, lenet5
from ember.models.multitask import (LocalisationCNN, MultiLabelCNN, localisation_cnn,
                                    localisation_loss, multilabel_cnn, multilabel_loss,
                                    multilabel_targets)
from ember.models.resnet import (
    CifarResNet,
    ResNet,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
    resnet101,
    resnet110,
    resnet152,
)
from ember.models.detection import centernet, centernet_mask
from ember.models.segmentation import FCN, UNet, fcn, unet
from ember.models.vae import VAE, ConditionalVAE, ELBOLoss, cvae, elbo_terms, gaussian_kl, vae
from ember.models.vgg import (VGG, SmallVGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn,
                              vgg19, vgg19_bn, vgg_small_bn)
from ember.models.vit import VisionTransformer, vit_tiny

__all__ = ["VGG", "SmallVGG", "AlexNet", "Autoencoder", "ConditionalVAE", "ConvAutoencoder",
           "DenoisingAutoencoder", "ELBOLoss", "MLPAutoencoder", "VAE", "elbo_terms",
           "gaussian_kl", "CaptionVocab", "ShowAttendTell", "CharLSTM", "CifarResNet", "DLFSNet",
           "GoogLeNet",
           "GoogLeNetOutputs", "GRU1D", "FCN", "UNet", "LeNet5", "ResNet", "VisionTransformer",
           "dlfs_deep_convnet", "dlfs_mlp", "dlfs_simple_convnet",
           "get_builder", "get_model", "googlenet_loss", "list_models",
           "LocalisationCNN", "MultiLabelCNN", "from_checkpoint", "localisation_cnn",
           "localisation_loss", "multilabel_cnn", "multilabel_loss", "multilabel_targets"]

_BUILDERS = {f.__name__: f for f in (
    lenet5, alexnet, vgg_small_bn, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19,
    vgg19_bn,
    googlenet, gru1d, resnet18, resnet34, resnet50, resnet101, resnet152,
    resnet20, resnet32, resnet44, resnet56, resnet110, vit_tiny, fcn, unet,
    mlp_autoencoder, conv_autoencoder, denoising_autoencoder, vae, cvae,
    multilabel_cnn, localisation_cnn, centernet, centernet_mask, show_attend_tell)}


def _no_weights(builder):
    """``builder`` that also takes torchvision's ``weights=`` / ``pretrained=``: None/False
    are accepted, anything else is refused (no weights ship with ember)."""
    @functools.wraps(builder)
    def build(*args, weights=None, pretrained=False, progress=True, **kwargs):
        if weights is not None or pretrained:
            asked = f"weights={weights!r}" if weights is not None else "pretrained=True"
            raise ValueError(
                f"ember.models.{builder.__name__}({asked}): no pretrained weights ship with "
                f"ember; build the model and load a state_dict file you have: model = "
                f"ember.models.{builder.__name__}(...); model.load_state_dict(ember.load(path))"
                " (ember.load reads torchvision's .pth files, written by torch.save, "
                "without torch)")
        return builder(*args, **kwargs)
    return build


_BUILDERS = {name: _no_weights(f) for name, f in _BUILDERS.items()}
globals().update(_BUILDERS)
__all__ += list(_BUILDERS)


def list_models():
    """The registered model names, sorted."""
    return sorted(_BUILDERS)


def get_builder(name):
    """The builder function registered as ``name`` (see :func:`get_model`)."""
    key = name.lower().replace("-", "")
    if key not in _BUILDERS:
        close = difflib.get_close_matches(key, _BUILDERS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (ember.models.list_models() lists "
                         f"all {len(_BUILDERS)})")
    return _BUILDERS[key]


def get_model(name, **kwargs):
    """Build the model called ``name`` (case-insensitive) with the builder's keyword
    arguments (``num_classes``, ``in_channels``, ...).

    Raises:
        ValueError: for an unknown name, suggesting the closest registered ones.
    """
    return get_builder(name)(**kwargs)


def from_checkpoint(path, map_location="cpu"):
    """The model of a checkpoint written by ``ember train`` (``last.ckpt`` / ``best.ckpt``;
    classifiers and autoencoders alike), rebuilt with the builder arguments stored in its
    config, its weights loaded, moved to ``map_location``, in eval mode
    (``ember.models.checkpoint``). The run's preprocessing is in
    ``ember.load(path)["config"]["preprocessing"]``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not an ``ember train`` checkpoint (the message says what it
            is), or its weights do not fit the rebuilt model.
    """
    return _rebuild(path, get_model, list_models(), map_location)
