"""Training utilities: gradient clipping, weight penalties, packed sequences (``rnn``)."""
from ember.nn.utils import rnn
from ember.nn.utils.clip_grad import (
                                      clip_grad_norm_,
                                      clip_grad_value_,
                                      clip_grads_with_norm_,
                                      get_total_norm,
)
from ember.nn.utils.regularization import l1_penalty, l2_penalty

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "l1_penalty", "l2_penalty", "rnn"]
