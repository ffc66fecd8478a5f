"""The networks of the book *Deep Learning from Scratch* (Koki Saitoh, O'Reilly Japan 2016;
code MIT) with its pretrained weights.

The book ships its trained parameters as pickles of NumPy arrays, ``{"W1": ..., "b1": ...,
"W2": ...}``, numbered by weight layer in order: ``sample_weight.pkl`` (chapter 3's MLP),
``params.pkl`` (chapter 7's SimpleConvNet), ``deep_convnet_params.pkl`` (chapter 8's
DeepConvNet). ``ember.io.load_numpy_pickle`` reads them without running pickle code, and
each builder here takes such a dict (or a path to the pickle) as ``params``:

- ``dlfs_mlp``: 784-50-100-10 with sigmoids (chapter 3; the book ends it with softmax, here
  the model returns the logits, as ember's and PyTorch's models do);
- ``dlfs_simple_convnet``: conv 30@5x5 -> ReLU -> max pool 2 -> affine 100 -> ReLU ->
  affine 10;
- ``dlfs_deep_convnet``: the VGG-like net, conv 16, 16, pool, 32, 32 (padding 2), pool, 64,
  64, pool (all 3x3, ReLU) -> affine 50 -> ReLU -> dropout 0.5 -> affine 10 -> dropout 0.5.

Mapping the book's layout: its Affine computes ``x @ W`` (``W`` is (in, out)), so
``Linear.weight`` is ``W.T``; its Convolution's ``W`` is (FN, C, FH, FW), as ``Conv2d``'s.
The book's Dropout is not inverted (training keeps units unscaled, evaluation multiplies by
1 - p = 0.5), while ember's scales by 1 / (1 - p) in training and is the identity in
evaluation; folding the book's evaluation factors into the affine layers after them
(weight x 0.5 and x 0.25, bias x 0.5 for the last) makes the two nets compute the same in
both modes. The book feeds MNIST as ``pixels / 255`` (its ``load_mnist(normalize=True)``);
so do these models. A model built from ``params`` takes the parameters' dtype (float32 for
the MLP, float64 for the convnets), as the book's NumPy code computes.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

import ember
from ember import nn

__all__ = ["DLFSNet", "dlfs_deep_convnet", "dlfs_mlp", "dlfs_simple_convnet"]


class DLFSNet(nn.Sequential):
    """A ``Sequential`` whose ``Linear`` and ``Conv2d`` layers, in order, are the book's
    weight layers 1, 2, ...: :meth:`load_dlfs_params` and :meth:`dlfs_params` convert
    between its state and the book's ``{"W1", "b1", ...}`` dict.

    ``scales`` maps a weight layer's number to the (weight, bias) factors folded into it
    (the book's non-inverted dropout, see the module docstring).
    """

    def __init__(self, name, layers, scales=None):
        super().__init__(OrderedDict(layers))
        self.dlfs_name = name
        self.dlfs_scales = dict(scales or {})

    def weight_layers(self):
        """The book's weight layers in order: ``[(1, module), (2, module), ...]``."""
        layers = [m for m in self._modules.values() if isinstance(m, (nn.Linear, nn.Conv2d))]
        return list(enumerate(layers, start=1))

    def _expected(self):
        shapes = {}
        for i, m in self.weight_layers():
            w = tuple(m.weight.shape)
            shapes[f"W{i}"] = w[::-1] if isinstance(m, nn.Linear) else w
            shapes[f"b{i}"] = tuple(m.bias.shape)
        return shapes

    def load_dlfs_params(self, params):
        """Copy the book's parameters (``{"W1": ndarray, "b1": ..., ...}``, or a path to its
        pickle) into this model; every key and shape is checked before anything changes."""
        params = _params(params)
        expected = self._expected()
        problems = [f"missing {k} {s}" for k, s in expected.items() if k not in params]
        problems += [f"unexpected {k}" for k in params if k not in expected]
        problems += [f"{k} has shape {tuple(np.shape(params[k]))}, expected {s}"
                     for k, s in expected.items()
                     if k in params and tuple(np.shape(params[k])) != s]
        if problems:
            raise ValueError(f"{self.dlfs_name}.load_dlfs_params: the parameters do not fit "
                             f"the book's {self.dlfs_name}: " + "; ".join(problems))
        state = {}
        names = {id(m): n for n, m in self.named_modules()}
        for i, m in self.weight_layers():
            w_scale, b_scale = self.dlfs_scales.get(i, (1.0, 1.0))
            w = np.asarray(params[f"W{i}"])
            w = w.T if isinstance(m, nn.Linear) else w
            state[f"{names[id(m)]}.weight"] = ember.tensor(np.ascontiguousarray(w * w_scale))
            state[f"{names[id(m)]}.bias"] = ember.tensor(
                np.asarray(params[f"b{i}"]) * b_scale)
        self.load_state_dict(state)
        return self

    def dlfs_params(self):
        """This model's parameters in the book's layout: ``{"W1": ndarray, ...}`` (copies)."""
        out = {}
        for i, m in self.weight_layers():
            w_scale, b_scale = self.dlfs_scales.get(i, (1.0, 1.0))
            w = ember.backend.to_numpy(m.weight.array) / w_scale
            out[f"W{i}"] = np.ascontiguousarray(w.T if isinstance(m, nn.Linear) else w)
            out[f"b{i}"] = ember.backend.to_numpy(m.bias.array) / b_scale
        return out


def _params(params):
    if isinstance(params, (str, os.PathLike)):
        from ember.io import load_numpy_pickle
        params = load_numpy_pickle(params)
    if not isinstance(params, dict):
        raise TypeError(f"the book's parameters are a dict {{'W1': ndarray, ...}} or a path to "
                        f"its pickle, got {type(params).__name__}")
    return params


def _finish(model, params):
    if params is None:
        return model
    params = _params(params)
    first = params.get("W1")
    if first is not None and np.asarray(first).dtype.kind == "f":
        model.to(np.asarray(first).dtype)
    return model.load_dlfs_params(params)


def dlfs_mlp(params=None):
    """Chapter 3's network: 784-50-100-10, sigmoid hidden layers (``sample_weight.pkl``).

    Args:
        params: None (random initialisation), or the book's parameters: a dict
            ``{"W1", "b1", "W2", "b2", "W3", "b3"}`` of arrays or a path to the pickle.

    Shape: ``(N, 784)`` or ``(N, 1, 28, 28)`` pixels / 255 -> ``(N, 10)`` logits.
    """
    model = DLFSNet("dlfs_mlp", [
        ("flatten", nn.Flatten()),
        ("affine1", nn.Linear(784, 50)), ("sigmoid1", nn.Sigmoid()),
        ("affine2", nn.Linear(50, 100)), ("sigmoid2", nn.Sigmoid()),
        ("affine3", nn.Linear(100, 10))])
    return _finish(model, params)


def dlfs_simple_convnet(params=None):
    """Chapter 7's SimpleConvNet: conv 30@5x5 -> ReLU -> max pool 2 -> affine 100 -> ReLU ->
    affine 10 (``params.pkl``).

    Args:
        params: None, or the book's ``{"W1", "b1", "W2", "b2", "W3", "b3"}`` (or a path).

    Shape: ``(N, 1, 28, 28)`` pixels / 255 -> ``(N, 10)`` logits.
    """
    model = DLFSNet("dlfs_simple_convnet", [
        ("conv1", nn.Conv2d(1, 30, 5)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2, 2)),
        ("flatten", nn.Flatten()),
        ("affine1", nn.Linear(30 * 12 * 12, 100)), ("relu2", nn.ReLU()),
        ("affine2", nn.Linear(100, 10))])
    return _finish(model, params)


def dlfs_deep_convnet(params=None):
    """Chapter 8's DeepConvNet (``deep_convnet_params.pkl``): six 3x3 convolutions (16, 16,
    32, 32, 64, 64 filters; the fourth padded by 2, the others by 1) with ReLU and a 2x2 max
    pool after every second one, then affine 50 -> ReLU -> dropout 0.5 -> affine 10 ->
    dropout 0.5. The book's non-inverted dropout is folded into the affine layers (see the
    module docstring), so train and eval modes compute what the book's do.

    Args:
        params: None, or the book's ``{"W1", "b1", ..., "W8", "b8"}`` (or a path).

    Shape: ``(N, 1, 28, 28)`` pixels / 255 -> ``(N, 10)`` logits.
    """
    layers = []
    for i, (cin, cout, pad) in enumerate([(1, 16, 1), (16, 16, 1), (16, 32, 1), (32, 32, 2),
                                          (32, 64, 1), (64, 64, 1)], start=1):
        layers += [(f"conv{i}", nn.Conv2d(cin, cout, 3, padding=pad)), (f"relu{i}", nn.ReLU())]
        if i % 2 == 0:
            layers.append((f"pool{i // 2}", nn.MaxPool2d(2, 2)))
    layers += [("flatten", nn.Flatten()),
               ("affine1", nn.Linear(64 * 4 * 4, 50)), ("relu7", nn.ReLU()),
               ("dropout1", nn.Dropout(0.5)),
               ("affine2", nn.Linear(50, 10)), ("dropout2", nn.Dropout(0.5))]
    # eval: out = 0.5 * ((0.5 * h) @ W8 + b8) = h @ (0.25 W8) + 0.5 b8
    model = DLFSNet("dlfs_deep_convnet", layers, scales={8: (0.25, 0.5)})
    return _finish(model, params)
