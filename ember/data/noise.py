"""Noise as a transform: :class:`GaussianNoise` (``torchvision.transforms.v2.GaussianNoise``),
the corruption a denoising autoencoder learns to undo.

(A file of its own beside ``transforms.py``, which is near the 600-line limit; it is the same
kind of transform: ``t(x)`` on one image, ``t.apply_batch(x)`` on a batch, random numbers
from ember's data generator, so a DataLoader draws fresh noise every batch and every epoch,
reproducibly under ``ember.manual_seed``.)
"""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.data._rng import current_generator
from ember.data.transforms import Transform

__all__ = ["GaussianNoise"]


class GaussianNoise(Transform):
    """Add Gaussian noise ``mean + sigma * N(0, 1)`` to a float image (each pixel its own
    draw), then clip to [0, 1] if ``clip`` (images scaled to [0, 1], as ``ToTensor`` makes
    them). torchvision's ``v2.GaussianNoise(mean=0.0, sigma=0.1, clip=True)``.
    """

    def __init__(self, mean=0.0, sigma=0.1, clip=True):
        if not sigma >= 0:
            raise ValueError(f"GaussianNoise: sigma must be >= 0, got {sigma}")
        self.mean, self.sigma, self.clip = float(mean), float(sigma), bool(clip)

    def _apply(self, x):
        if x.dtype.kind != "f":
            raise TypeError(f"GaussianNoise expects a floating image, got {x.dtype} of shape "
                            f"{tuple(x.shape)}; scale it to [0, 1] first (ToTensor)")
        xp = backend.get_array_module(x)
        noise = current_generator().standard_normal(x.shape)  # on the CPU: one stream
        out = x + xp.asarray(self.mean + self.sigma * noise, dtype=x.dtype)
        return xp.clip(out, 0.0, 1.0) if self.clip else out


def noisy_copy(x, sigma, seed, clip=True):
    """``x`` (a float array) with Gaussian noise from a generator of its own, seeded by
    ``seed``: the fixed corruption of a test set (the same whatever ran before)."""
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    out = x + (sigma * noise).astype(x.dtype)
    return np.clip(out, 0.0, 1.0) if clip else out
