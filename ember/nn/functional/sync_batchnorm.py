"""Batch normalisation over the batch of every process in a group (what ``nn.SyncBatchNorm``
computes in training; PyTorch keeps it in ``torch.nn.modules._functions``).

Composed of ember ops and the differentiable all-reduce of ``ember.distributed.nn``: the
per-channel sums and counts of all ranks give the mean, the summed squared deviations from it
the variance, and autograd sends the statistics' gradients back through the same all-reduces,
so every rank's input gets the gradient of the sum of all ranks' losses, exactly as if one
process had normalised the concatenated batch.
"""
from __future__ import annotations

from ember.distributed.nn.functional import all_reduce
from ember.ops.creation import full
from ember.ops.inplace import increment_version
from ember.ops.shape import cat

__all__ = ["sync_batch_norm"]


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                    eps=1e-5, process_group=None):
    """Training-mode batch norm of (N, C, *) ``input`` with statistics over every rank's
    batch; ``running_mean``/``running_var`` (if given) are updated in place with the global
    mean and the unbiased global variance; ``momentum`` weighs the new batch."""
    if input.ndim < 2:
        raise ValueError(f"sync_batch_norm: expected input of shape (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"sync_batch_norm: {name} must have shape ({c},) for input of "
                             f"shape {tuple(input.shape)}, got {tuple(t.shape)}")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, c) + (1,) * (input.ndim - 2)
    count = input.numel() // max(c, 1)
    local = cat([input.sum(dims), full((1,), float(count), dtype=input.dtype,
                                       device=input.device)])
    total = all_reduce(local, group=process_group)
    n = float(total.array[c])
    if n <= 1:
        raise ValueError(f"sync_batch_norm: expected more than 1 value per channel when "
                         f"training, got {int(n)} over the group (input of shape "
                         f"{tuple(input.shape)} here)")
    mean = total[:c] / n
    centred = input - mean.reshape(shape)
    var = all_reduce((centred * centred).sum(dims), group=process_group) / n
    y = centred * (var + eps).rsqrt().reshape(shape)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    if running_mean is not None:
        running_mean.array[...] = (1 - momentum) * running_mean.array + momentum * mean.array
        running_var.array[...] = ((1 - momentum) * running_var.array
                                  + momentum * var.array * (n / (n - 1)))
        increment_version(running_mean, running_var)
    return y
