"""InstanceNorm1d/2d/3d: per-sample, per-channel normalisation (style transfer, GANs),
PyTorch's arguments, defaults (no affine, no running statistics) and state_dict keys."""
from __future__ import annotations

import warnings

from ember.nn import functional as F
from ember.nn.modules.normalization import _BatchNorm

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


class _InstanceNorm(_BatchNorm):
    _spatial = 2  # spatial dimensions of the batched input

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)

    def forward(self, input):
        d = self._spatial
        if input.ndim not in (d + 1, d + 2):
            raise ValueError(f"expected {d + 1}-D (unbatched) or {d + 2}-D input, got shape "
                             f"{tuple(input.shape)}")
        if input.ndim == d + 1:
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.shape[1] != self.num_features and not self.affine:
            warnings.warn(f"input's size at dim=1 does not match num_features. You can silence "
                          "this warning by not passing in num_features, which is not used "
                          "because affine=False", stacklevel=3)
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, self.training or not self.track_running_stats,
                               0.0 if self.momentum is None else self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Normalise each (sample, channel) of (N, C, L) or (C, L) over L.

    Args: num_features (C), eps, momentum, affine (default False), track_running_stats
    (default False: the instance's own statistics also in evaluation)."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Normalise each (sample, channel) of (N, C, H, W) or (C, H, W) over H and W; arguments
    as :class:`InstanceNorm1d`."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Normalise each (sample, channel) of (N, C, D, H, W) over D, H and W; arguments as
    :class:`InstanceNorm1d`."""

    _spatial = 3
