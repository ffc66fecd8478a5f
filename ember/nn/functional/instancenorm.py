"""Instance normalisation: each sample's channels normalised on their own (over the spatial
positions), as batch norm of the (1, N*C, *) view; PyTorch computes it the same way."""
from __future__ import annotations

from ember.autograd.grad_mode import no_grad
from ember.nn.functional.normalization import batch_norm

__all__ = ["instance_norm"]


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise (N, C, *) per sample and channel, then a per-channel ``* weight + bias``.
    With ``use_input_stats`` the statistics are each instance's own (and the running ones,
    if given, move towards their mean over the batch); otherwise the running ones are used.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *) with at least one spatial "
                         f"dimension, got shape {tuple(input.shape)}")
    n, c = input.shape[0], input.shape[1]

    def per_instance(t):  # (C,) -> (N*C,): one copy per sample
        return None if t is None else t.repeat(n)
    rm, rv = per_instance(running_mean), per_instance(running_var)
    y = batch_norm(input.reshape(1, n * c, *input.shape[2:]), rm, rv, per_instance(weight),
                   per_instance(bias), training=use_input_stats, momentum=momentum, eps=eps)
    if use_input_stats and running_mean is not None:
        with no_grad():
            running_mean.copy_(rm.reshape(n, c).mean(0))
            running_var.copy_(rv.reshape(n, c).mean(0))
    return y.reshape(input.shape)
