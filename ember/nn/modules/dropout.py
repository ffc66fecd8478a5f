"""Dropout layers: active in ``train()`` mode, the identity in ``eval()`` mode."""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between "
                             f"0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` while training, scaling the rest by
    ``1 / (1 - p)`` (Srivastava et al., 2014).

    Args: p (default 0.5), inplace (default False). Shape: any -> same.
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` inputs while training.

    Args: p (default 0.5), inplace. Shape: ``(N, C, L)`` or ``(C, L)`` -> same.
    """

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels (feature maps) of ``(N, C, H, W)`` inputs while training
    (Tompson et al., 2015), scaling the rest by ``1 / (1 - p)``.

    Args: p (default 0.5), inplace. Shape: ``(N, C, H, W)`` -> same.
    """

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs while training.

    Args: p (default 0.5), inplace. Shape: same as input.
    """

    def forward(self, input):
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU networks' zero mean and unit variance (Klambauer et al.,
    2017): dropped elements take SELU's saturation value, then an affine map rescales.

    Args: p (default 0.5), inplace. Shape: any -> same.
    """

    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (for SELU networks): each (sample, channel) of
    (N, C, *) is kept or dropped as one. Args: p (default 0.5), inplace."""

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)
