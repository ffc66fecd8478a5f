"""Normalisation layers: BatchNorm1d/2d/3d, LayerNorm, GroupNorm, LocalResponseNorm.

Parameter and buffer names are PyTorch's (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), so ``state_dict`` keys map 1:1.
"""
from __future__ import annotations

import numpy as np

from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.ops.creation import ones, tensor, zeros
from ember.ops.inplace import increment_version

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm",
           "LocalResponseNorm", "RMSNorm"]


def _affine_params(module, shape, weight, bias, device, dtype):
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None where absent."""
    module.register_parameter(
        "weight", Parameter(ones(shape, dtype=dtype, device=device)) if weight else None)
    module.register_parameter(
        "bias", Parameter(zeros(shape, dtype=dtype, device=device)) if bias else None)


def _reset_affine(module):
    """Weight back to 1 and bias to 0 (where present), as at construction."""
    for p, value in ((module.weight, 1), (getattr(module, "bias", None), 0)):
        if p is not None:
            p.array[...] = value
            increment_version(p)


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d/3d; subclasses name their accepted layouts in ``_layouts``
    (input dimensions -> layout text, ``{c}`` standing for the channel count)."""

    _layouts: dict

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_params(self, num_features, affine, affine and bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype,
                                                       device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype=np.int64, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            for buf, value in ((self.running_mean, 0), (self.running_var, 1),
                               (self.num_batches_tracked, 0)):
                buf.array[...] = value
                increment_version(buf)

    def reset_parameters(self):
        """Reset the running statistics, weight to 1 and bias to 0."""
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input(self, x):
        c = self.num_features
        if x.ndim not in self._layouts or x.shape[1] != c:
            dims = " or ".join(f"{d}-D" for d in self._layouts)
            layouts = " or ".join(s.format(c=c) for s in self._layouts.values())
            raise ValueError(f"expected {dims} input {layouts}, "
                             f"got shape {tuple(x.shape)}")

    def forward(self, input):
        self._check_input(input)
        training = self.training or self.running_mean is None
        counting = self.training and self.track_running_stats
        factor = self.momentum
        if counting and self.momentum is None:  # cumulative moving average
            factor = 1.0 / (float(self.num_batches_tracked.array) + 1)
        # in training without tracking, no running statistics are read or written
        use_running = not self.training or self.track_running_stats
        y = F.batch_norm(input, self.running_mean if use_running else None,
                         self.running_var if use_running else None, self.weight, self.bias,
                         training, factor, self.eps)
        if counting:  # after the call: a rejected input changes nothing
            self.num_batches_tracked.array += 1
            increment_version(self.num_batches_tracked)
        return y

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel.

    Args:
        num_features: C.
        eps: added to the variance for stability.
        momentum: weight of the new batch in the running statistics; None for a
            cumulative moving average.
        affine: learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
        track_running_stats: keep ``running_mean``/``running_var`` for evaluation; if
            False, batch statistics are used in evaluation too.
        bias: (keyword-only) with ``affine``, also learn ``bias``.

    Shape: input (N, C) or (N, C, L), output the same.
    """

    _layouts = {2: "(N, {c})", 3: "(N, {c}, L)"}


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel (arguments as
    :class:`BatchNorm1d`).

    Shape: input (N, C, H, W), output the same.
    """

    _layouts = {4: "(N, {c}, H, W)"}


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs, per channel (arguments as
    :class:`BatchNorm1d`).

    Shape: input (N, C, D, H, W), output the same.
    """

    _layouts = {5: "(N, {c}, D, H, W)"}


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dimensions of each sample.

    Args:
        normalized_shape: int or tuple, the trailing shape normalised over.
        eps: added to the variance for stability.
        elementwise_affine: learn ``weight`` (ones) of shape ``normalized_shape``.
        bias: also learn ``bias`` (zeros) when ``elementwise_affine``.

    Shape: input (*, *normalized_shape), output the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_params(self, self.normalized_shape, elementwise_affine,
                       elementwise_affine and bias, device, dtype)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def reset_parameters(self):
        _reset_affine(self)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions, then
    ``* weight`` (no centring, no bias; Zhang & Sennrich, 2019).

    Args: normalized_shape (int or tuple), eps (default None: the dtype's machine epsilon),
    elementwise_affine (learn ``weight``, ones). Shape: (*, *normalized_shape) -> same.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.register_parameter("weight", Parameter(
            ones(self.normalized_shape, dtype=dtype, device=device)) if elementwise_affine
            else None)

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalise each sample over groups of channels (and all positions), then a
    per-channel affine.

    Args:
        num_groups: groups the channels are split into (must divide ``num_channels``).
        num_channels: C.
        eps: added to the variance for stability.
        affine: learn ``weight`` (ones) and ``bias`` (zeros) of shape (C,).
        bias: (keyword-only) with ``affine``, also learn ``bias``.

    Shape: input (N, C, *), output the same.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible "
                             f"by num_groups ({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        _affine_params(self, num_channels, affine, affine and bias, device, dtype)

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"expected input (N, {self.num_channels}, *), got shape "
                             f"{tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Divide each value by a power of the summed squares of its neighbours across
    channels (AlexNet): ``x / (k + alpha / size * sum(x^2 over size channels)) ** beta``.

    Args:
        size: channels in the window (``size // 2`` before, ``(size - 1) // 2`` after).
        alpha, beta, k: the constants of the formula above.

    Shape: input (N, C, *) with at least 3 dimensions, output the same.
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
