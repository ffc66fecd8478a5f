"""Attention: ``softmax(q k^T * scale + mask) v``, as one fused Function.

Composed from matmul, softmax and dropout, attention would keep the scores, the
probabilities, the dropped probabilities and their gradients on the tape: four (L, S)
matrices per head. :class:`Attention` keeps one, the probabilities ``p`` (and a 1-byte
dropout mask when dropping), and its backward is the softmax Jacobian written out:

    dv = p^T g        dp = g v^T        ds = p * (dp - sum(dp * p))        dq = ds k * scale
"""
from __future__ import annotations

import math

from ember import backend
from ember.autograd.function import Function
from ember.ops.creation import random_uniform

__all__ = ["scaled_dot_product_attention"]


class Attention(Function):
    """``softmax(q k^T * scale + mask) v`` over the last two dims, batched over the rest.

    ``mask`` is None, a bool array (True: may attend) or a float array added to the scores,
    broadcastable to (..., L, S); ``keep`` is None or the dropout's 0/1 mask of (..., L, S)
    already divided by 1 - p. A row that may attend to nothing gives zeros (as PyTorch's
    safe softmax), not NaN.
    """

    def forward(self, q, k, v, mask, keep=None, scale=1.0):
        xp = self.xp
        s = q @ k.swapaxes(-1, -2)
        s *= scale
        if mask is not None and mask.dtype == bool:
            s = xp.where(mask, s, -xp.inf)
        elif mask is not None:
            s += mask.astype(s.dtype, copy=False)  # the door checked it broadcasts to s
        top = s.max(axis=-1, keepdims=True)
        top[xp.isneginf(top)] = 0  # a fully masked row: exp gives zeros, not NaN
        s -= top
        p = xp.exp(s, out=s)
        total = p.sum(axis=-1, keepdims=True)
        total[total == 0] = 1
        p /= total
        self.save_for_backward(q, k, v, p, keep)
        self.scale = scale
        return (p if keep is None else p * keep) @ v

    def backward(self, g):
        q, k, v, p, keep = self.saved
        dropped = p if keep is None else p * keep
        dv = dropped.swapaxes(-1, -2) @ g
        dp = g @ v.swapaxes(-1, -2)
        if keep is not None:
            dp *= keep
        ds = dp  # ds = p * (dp - sum(dp * p)), in place
        ds -= (dp * p).sum(axis=-1, keepdims=True)
        ds *= p
        gmask = ds if self.needs_input_grad[3] else None  # a float mask is added to scores
        ds = ds * self.scale
        dq = ds @ k if self.needs_input_grad[0] else None
        dk = ds.swapaxes(-1, -2) @ q if self.needs_input_grad[1] else None
        return dq, dk, dv, gmask, None


def _size_error(what, a, b):
    raise RuntimeError(f"scaled_dot_product_attention: {what}: query {tuple(a.shape)}, "
                       f"{b}")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """Attention of ``query`` (..., L, E) over ``key`` (..., S, E) and ``value`` (..., S, Ev):
    ``softmax(q k^T * scale + mask) v`` -> (..., L, Ev), as ``torch.nn.functional``'s.

    Args:
        attn_mask: bool (True: may attend) or float (added to the scores), broadcastable to
            (..., L, S).
        dropout_p: dropout on the attention weights (always applied when > 0, as PyTorch's:
            pass ``dropout_p=0.0`` in evaluation).
        is_causal: position i attends to positions <= i (the top-left triangle for L != S);
            exclusive with ``attn_mask``.
        scale: the factor of the scores, default ``1 / sqrt(E)``.
        enable_gqa: grouped-query attention: key and value may have fewer heads (dim -3)
            than query, each serving ``heads(q) / heads(k)`` query heads.
    """
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value need at least 2 "
                           f"dims, got {query.dim()}, {key.dim()} and {value.dim()}")
    if key.shape[-1] != query.shape[-1]:
        _size_error("key's last dim must equal query's", query, f"key {tuple(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key {tuple(key.shape)} and value "
                           f"{tuple(value.shape)} must have the same sequence length (dim -2)")
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        if query.shape[-3] % key.shape[-3]:
            _size_error("with enable_gqa, query's heads must be a multiple of key's", query,
                        f"key {tuple(key.shape)}")
        groups = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(groups, dim=-3)
        value = value.repeat_interleave(groups, dim=-3)
    L, S = query.shape[-2], key.shape[-2]
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("scaled_dot_product_attention: Explicit attn_mask should not be "
                               "set when is_causal=True")
        mask = backend.get_array_module(query.array).tri(L, S, dtype=bool)
    elif attn_mask is not None:
        if attn_mask.dtype != bool and attn_mask.dtype != query.dtype \
                and attn_mask.array.dtype.kind != "f":
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask must be bool or float "
                               f"(or query's dtype {query.dtype}), got {attn_mask.dtype}")
        shape = tuple(attn_mask.shape)
        want = (*tuple(query.shape[:-2]), L, S)
        if len(shape) > len(want) or any(a not in (1, b) for a, b in
                                         zip(shape[::-1], want[::-1])):
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape {shape} "
                               f"does not broadcast to the scores' shape {want} (query "
                               f"{tuple(query.shape)}, key {tuple(key.shape)})")
        mask = attn_mask
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got "
                         f"{dropout_p}")
    keep = None
    if dropout_p > 0:
        shape = (*_broadcast(query.shape[:-2], key.shape[:-2]), L, S)
        u = random_uniform(shape, 0, 1, query.dtype, query.device)
        keep = (u >= dropout_p).astype(query.dtype) * (
            0.0 if dropout_p == 1 else 1.0 / (1.0 - dropout_p))
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    return Attention.apply(query, key, value, mask, keep, scale=float(scale))


def _broadcast(a, b):
    """The broadcast of two batch shapes."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))
