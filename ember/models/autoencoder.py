"""Autoencoders: a network that copies its input through a narrow code.

An encoder maps an image to a code, a decoder maps the code back to an image, and the pair
is trained to reproduce its input (mean squared error or binary cross-entropy on pixels in
[0, 1]). What the code keeps is what the network found most important: it compresses, it
gives a low-dimensional picture of the data (a 2-D code can be plotted directly), and its
reconstruction error flags images unlike the training set (anomaly scores).

- :class:`MLPAutoencoder`: fully connected, ``784-128-32-128-784`` by default.
- :class:`ConvAutoencoder`: strided down with convolutions and max pooling, up with
  stride-2 ``ConvTranspose2d`` (Keras's denoising autoencoder: Conv 1->32 3x3 + ReLU +
  max-pool, twice; two stride-2 transposed convs 32->32 + ReLU; Conv 32->1 3x3 + sigmoid).
- :class:`DenoisingAutoencoder`: the convolutional one trained to map noisy images to clean
  ones; the noise is a data transform (:class:`ember.data.noise.GaussianNoise`) that
  ``ember train`` applies to the inputs only, with the strength ``noise`` stored here.

The variational autoencoders are in :mod:`ember.models.vae`. Every model has
``encode(x)``, ``decode(z)`` and ``forward(x) = decode(encode(x))`` (the VAEs return more),
``code_shape`` (the shape of one code) and ``loss_function()`` (the task's loss, as the
``ember train`` reconstruction task uses it). Wrong input or code shapes raise a ValueError
naming the model and both shapes.
"""
from __future__ import annotations

import itertools
import math

from ember import nn

__all__ = ["Autoencoder", "ConvAutoencoder", "DenoisingAutoencoder", "MLPAutoencoder",
           "conv_autoencoder", "denoising_autoencoder", "mlp_autoencoder"]


def _shape(t):
    return tuple(int(s) for s in t.shape)


class Autoencoder(nn.Module):
    """Base class: input and code shape checks, ``forward = decode(encode(x))``.

    Subclasses set ``input_shape`` (C, H, W), ``code_shape`` (one code's shape), the
    ``loss`` name (``"mse"`` or ``"bce"``) and the ``encoder`` / ``decoder`` modules.
    """

    task = "reconstruction"  # what `ember train` does with it (see ember.train.autoencode)
    loss = "mse"

    def _check(self, t, expected, what, method):
        if t.ndim != len(expected) + 1 or _shape(t)[1:] != tuple(expected):
            want = ", ".join(["N", *map(str, expected)])
            raise ValueError(f"{self._name()}.{method}: expected {what} of shape ({want}), "
                             f"got {_shape(t)}")

    def _name(self):
        return type(self).__name__

    def encode(self, x):
        """The code of images ``x`` of shape (N, *input_shape): (N, *code_shape)."""
        self._check(x, self.input_shape, "an input", "encode")
        return self.encoder(x)

    def decode(self, z):
        """Images (N, *input_shape) decoded from codes ``z`` of shape (N, *code_shape)."""
        self._check(z, self.code_shape, "a code", "decode")
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))

    def anomaly_score(self, x):
        """Per image, the mean squared error of its reconstruction, shape (N,): large for
        images unlike the training data."""
        return (self(x) - x).pow(2).flatten(1).mean(1)

    def loss_function(self):
        """The training loss: mean squared error or binary cross-entropy per pixel."""
        return nn.MSELoss() if self.loss == "mse" else nn.BCELoss()

    def extra_repr(self):
        return f"input_shape={self.input_shape}, code_shape={self.code_shape}, loss={self.loss!r}"


def _check_args(name, in_channels, input_size, loss, losses=("mse", "bce")):
    if in_channels < 1 or input_size < 1:
        raise ValueError(f"{name}: in_channels and input_size must be >= 1, got "
                         f"{in_channels} and {input_size}")
    if loss not in losses:
        raise ValueError(f"{name}: loss must be one of {', '.join(map(repr, losses))}, "
                         f"got {loss!r}")


class MLPAutoencoder(Autoencoder):
    """A fully connected autoencoder: flatten, ``hidden_sizes`` with ReLU, a linear code of
    ``code_size``; the mirror image back with ReLU, a sigmoid out and the input's shape.

    Args:
        in_channels, input_size: the image shape (C, H, W) = (in_channels, input_size,
            input_size).
        code_size: the code's width.
        hidden_sizes: the encoder's hidden widths (the decoder uses them reversed).
        loss: ``"mse"`` (default) or ``"bce"``.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``; ``encode``: ``(N, code_size)``.
    """

    def __init__(self, in_channels=1, input_size=28, code_size=32, hidden_sizes=(128,),
                 loss="mse"):
        super().__init__()
        _check_args("MLPAutoencoder", in_channels, input_size, loss)
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        if code_size < 1 or any(h < 1 for h in hidden_sizes):
            raise ValueError(f"MLPAutoencoder: code_size and hidden_sizes must be >= 1, got "
                             f"{code_size} and {hidden_sizes}")
        self.input_shape = (in_channels, input_size, input_size)
        self.code_shape = (code_size,)
        self.loss = loss
        features = math.prod(self.input_shape)
        widths = (features, *hidden_sizes, code_size)
        enc = [nn.Flatten()]
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            enc += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
        self.encoder = nn.Sequential(*enc)
        back = widths[::-1]
        dec = []
        for i, (a, b) in enumerate(itertools.pairwise(back)):
            dec += [nn.Linear(a, b), nn.ReLU() if i < len(back) - 2 else nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec, nn.Unflatten(1, self.input_shape))


class ConvAutoencoder(Autoencoder):
    """A convolutional autoencoder: per width in ``channels``, Conv 3x3 (padding 1) + ReLU +
    2x2 max-pool down; per width reversed, a stride-2 ``ConvTranspose2d`` 3x3 + ReLU up; a
    Conv 3x3 to ``in_channels`` + sigmoid out.

    With the defaults it is Keras's denoising autoencoder: 1x28x28 -> 32x7x7 -> 1x28x28
    (28,353 parameters).

    Args:
        in_channels, input_size: the image shape; ``input_size`` must be divisible by
            2 ** len(channels).
        channels: the encoder's widths; the code is ``channels[-1]`` maps of
            ``input_size / 2 ** len(channels)`` squared.
        loss: ``"bce"`` (default) or ``"mse"``.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``; ``encode``: ``(N, channels[-1], H/4, W/4)``.
    """

    def __init__(self, in_channels=1, input_size=28, channels=(32, 32), loss="bce"):
        super().__init__()
        name = type(self).__name__
        _check_args(name, in_channels, input_size, loss)
        channels = tuple(int(c) for c in channels)
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"{name}: channels must be one or more widths >= 1, got "
                             f"{channels}")
        if input_size % 2 ** len(channels):
            raise ValueError(f"{name}: input_size {input_size} is not divisible by "
                             f"{2 ** len(channels)} (2 ** len(channels), one halving per "
                             "width)")
        side = input_size // 2 ** len(channels)
        self.input_shape = (in_channels, input_size, input_size)
        self.code_shape = (channels[-1], side, side)
        self.loss = loss
        enc, c_in = [], in_channels
        for c in channels:
            enc += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        dec = []
        for c in channels[::-1]:
            dec += [nn.ConvTranspose2d(c_in, c, 3, stride=2, padding=1, output_padding=1),
                    nn.ReLU()]
            c_in = c
        dec += [nn.Conv2d(c_in, in_channels, 3, padding=1), nn.Sigmoid()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)


class DenoisingAutoencoder(ConvAutoencoder):
    """:class:`ConvAutoencoder` meant to be trained on noisy inputs against clean targets.

    The model itself is the convolutional autoencoder (same layers, same state_dict keys);
    ``noise`` is the standard deviation of the Gaussian noise that ``ember train`` adds to
    its inputs (clipped to [0, 1]) with :class:`ember.data.noise.GaussianNoise`, in training
    and, drawn once from a seeded generator, on the test set.
    """

    def __init__(self, in_channels=1, input_size=28, channels=(32, 32), loss="bce", noise=0.4):
        if not noise > 0:
            raise ValueError(f"DenoisingAutoencoder: noise must be > 0, got {noise}")
        super().__init__(in_channels, input_size, channels, loss)
        self.noise = float(noise)

    def extra_repr(self):
        return f"{super().extra_repr()}, noise={self.noise}"


def mlp_autoencoder(num_classes=10, in_channels=1, input_size=28, code_size=32,
                    hidden_sizes=(128,), loss="mse"):
    """:class:`MLPAutoencoder` (784-128-32-128-784 by default; ``num_classes`` is unused)."""
    return MLPAutoencoder(in_channels, input_size, code_size, hidden_sizes, loss)


def conv_autoencoder(num_classes=10, in_channels=1, input_size=28, channels=(32, 32),
                     loss="bce"):
    """:class:`ConvAutoencoder` (``num_classes`` is unused)."""
    return ConvAutoencoder(in_channels, input_size, channels, loss)


def denoising_autoencoder(num_classes=10, in_channels=1, input_size=28, channels=(32, 32),
                          loss="bce", noise=0.4):
    """:class:`DenoisingAutoencoder` (``num_classes`` is unused)."""
    return DenoisingAutoencoder(in_channels, input_size, channels, loss, noise)


for _builder in (mlp_autoencoder, conv_autoencoder, denoising_autoencoder):
    _builder.task = "reconstruction"  # read by ember.train.autoencode.task_of
