"""Attention: ``softmax(q k^T * scale + mask) v``, as one fused Function, and the
multi-head attention of ``nn.MultiheadAttention`` built on it.

Composed from matmul, softmax and dropout, attention would keep the scores, the
probabilities, the dropped probabilities and their gradients on the tape: four (L, S)
matrices per head. :class:`Attention` keeps one, the probabilities ``p`` (and a 1-byte
dropout mask when dropping), and its backward is the softmax Jacobian written out:

    dv = p^T g        dp = g v^T        ds = p * (dp - sum(dp * p))        dq = ds k * scale
"""
from __future__ import annotations

import math
import warnings

from ember import backend
from ember.autograd.function import Function
from ember.nn.functional.dropout import dropout as _dropout
from ember.nn.functional.linear import linear
from ember.ops import bmm, cat, pad, zeros
from ember.ops.creation import random_uniform
from ember.ops.reduction import softmax

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]


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
            xp.copyto(s, -xp.inf, where=~mask)  # in place: the door checked it broadcasts
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
        if gmask is None:
            ds *= self.scale
        else:
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


# ---------------------------------------------------------------------------------------
# Multi-head attention (torch.nn.functional.multi_head_attention_forward)
# ---------------------------------------------------------------------------------------

_MHA = "multi_head_attention_forward"


def _shape(t):
    return tuple(t.shape)


def _canonical_mask(mask, name, other, other_name, dtype, check_other=True):
    """A bool mask (True: may *not* attend) as a float mask of 0 and -inf in ``dtype``; a
    float mask as it is (PyTorch's ``_canonical_mask``)."""
    if mask is None:
        return None
    if mask.dtype != bool and mask.dtype.kind != "f":
        raise AssertionError(f"{_MHA}: only bool and floating types of {name} are supported, "
                             f"got {mask.dtype}")
    if check_other and other is not None and mask.dtype != other.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use "
                      "same type for both instead.", stacklevel=3)
    if mask.dtype == bool:
        mask = zeros(_shape(mask), dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask


def _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads):
    """PyTorch's ``_mha_shape_check``: whether the input is batched (3-D) or not (2-D)."""
    if query.dim() not in (2, 3):
        raise AssertionError(f"{_MHA}: query should be unbatched 2D or batched 3D tensor but "
                             f"received {query.dim()}-D query tensor of shape {_shape(query)}")
    batched = query.dim() == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise AssertionError(f"{_MHA}: For {kind} `query`, expected `key` and `value` to be "
                             f"{query.dim()}-D but found {key.dim()}-D and {value.dim()}-D "
                             f"tensors respectively (query {_shape(query)}, key {_shape(key)}, "
                             f"value {_shape(value)})")
    want = 2 if batched else 1
    if key_padding_mask is not None and key_padding_mask.dim() != want:
        raise AssertionError(f"{_MHA}: For {kind} `query`, expected `key_padding_mask` to be "
                             f"`None` or {want}-D but found {key_padding_mask.dim()}-D tensor "
                             f"instead (key_padding_mask {_shape(key_padding_mask)}, query "
                             f"{_shape(query)})")
    if attn_mask is not None:
        if attn_mask.dim() not in (2, 3):
            raise AssertionError(f"{_MHA}: For {kind} `query`, expected `attn_mask` to be "
                                 f"`None`, 2-D or 3-D but found {attn_mask.dim()}-D tensor "
                                 f"instead (attn_mask {_shape(attn_mask)})")
        if not batched and attn_mask.dim() == 3:
            expected = (num_heads, query.shape[0], key.shape[0])
            if _shape(attn_mask) != expected:
                raise AssertionError(f"{_MHA}: Expected `attn_mask` shape to be {expected} but "
                                     f"got {_shape(attn_mask)}")
    return batched


def _in_projection(query, key, value, w_q, w_k, w_v, b_q, b_k, b_v):
    """Three linear projections, after PyTorch's checks of the weights' shapes."""
    eq, ek, ev = query.shape[-1], key.shape[-1], value.shape[-1]
    for what, w, e, x in (("query", w_q, eq, query), ("key", w_k, ek, key),
                          ("value", w_v, ev, value)):
        if _shape(w) != (eq, e):
            raise AssertionError(f"{_MHA}: expecting {what} weights shape of {(eq, e)}, but got "
                                 f"{_shape(w)} ({what} {_shape(x)}, query {_shape(query)})")
    for what, b in (("query", b_q), ("key", b_k), ("value", b_v)):
        if b is not None and _shape(b) != (eq,):
            raise AssertionError(f"{_MHA}: expecting {what} bias shape of {(eq,)}, but got "
                                 f"{_shape(b)}")
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def _in_projection_packed(query, key, value, w, b):
    """The q, k, v projections with the packed (3E, E) weight, in q, k, v order."""
    e = query.shape[-1]
    for what, x in (("key", key), ("value", value)):
        if x.shape[-1] != e:
            raise AssertionError(f"{_MHA}: {what}'s embedding dim (last) must equal query's "
                                 f"with a packed in_proj_weight: query {_shape(query)}, {what} "
                                 f"{_shape(x)} (pass kdim/vdim for other sizes)")
    if _shape(w) != (3 * e, e):
        raise AssertionError(f"{_MHA}: expecting in_proj_weight of shape {(3 * e, e)}, got "
                             f"{_shape(w)}")
    if query is key and key is value:  # self-attention: one matmul
        proj = linear(query, w, b)
        return proj[..., :e], proj[..., e:2 * e], proj[..., 2 * e:]
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def _check_static(static, name, bsz, num_heads, head_dim):
    if static is not None and (static.dim() != 3 or static.shape[0] != bsz * num_heads
                               or static.shape[2] != head_dim):
        raise AssertionError(f"{_MHA}: expecting {name} of shape ({bsz * num_heads}, S, "
                             f"{head_dim}) (batch * num_heads, S, head_dim), but got "
                             f"{_shape(static)}")


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention of ``query`` (L, N, E) over ``key`` (S, N, Ek) and ``value``
    (S, N, Ev) (or unbatched (L, E), (S, Ek), (S, Ev)), as ``torch.nn.functional``'s:
    project q, k, v, split E into ``num_heads`` heads, attend, join, project out.

    Args:
        embed_dim_to_check: E, which ``query``'s last dim must equal.
        in_proj_weight, in_proj_bias: the packed (3E, E) q, k, v projection and its (3E,)
            bias; with ``use_separate_proj_weight``, ``q_proj_weight`` (E, E),
            ``k_proj_weight`` (E, Ek) and ``v_proj_weight`` (E, Ev) instead.
        bias_k, bias_v: (1, 1, E) rows appended to the projected keys and values.
        add_zero_attn: append a zero key and value (after ``bias_k``/``bias_v``).
        dropout_p: dropout on the attention weights when ``training``.
        key_padding_mask: (N, S) or (S,): bool (True: ignore that key) or float (added).
        need_weights: also return the attention weights, computed explicitly (as PyTorch's
            math path); otherwise the fused ``scaled_dot_product_attention`` runs and the
            weights are None.
        attn_mask: (L, S) or (N * num_heads, L, S): bool (True: may *not* attend; the
            opposite of ``scaled_dot_product_attention``'s) or float (added to the scores).
        static_k, static_v: (N * num_heads, S, E / num_heads) keys and values used as they
            are instead of the projected ones.
        average_attn_weights: average the returned weights over heads ((N, L, S)) or keep
            them per head ((N, num_heads, L, S)).
        is_causal: a hint that ``attn_mask`` is the causal mask (it is still required).

    Returns:
        ``(output (L, N, E), weights or None)``. A query whose keys are all masked gives NaN
        weights on the explicit path and zeros on the fused one, as PyTorch.
    """
    batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask,
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{_MHA}: Need attn_mask if specifying the is_causal hint. You may "
                           "use the Transformer module method `generate_square_subsequent_mask`"
                           " to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the fused attention applies the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"{_MHA}: was expecting embedding dimension of "
                             f"{embed_dim_to_check}, but got {embed_dim} (query "
                             f"{_shape(query)})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"{_MHA}: embed_dim {embed_dim} not divisible by num_heads "
                             f"{num_heads}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"{_MHA}: key's sequence and batch dims {_shape(key)[:2]} do not "
                             f"match value's {_shape(value)[:2]} (key {_shape(key)}, value "
                             f"{_shape(value)})")
    if key.shape[1] != bsz:
        raise AssertionError(f"{_MHA}: key's batch size (dim 1) must equal query's: query "
                             f"{_shape(query)}, key {_shape(key)}")
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError(f"{_MHA}: use_separate_proj_weight is False but "
                                 "in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        for name, w in (("q_proj_weight", q_proj_weight), ("k_proj_weight", k_proj_weight),
                        ("v_proj_weight", v_proj_weight)):
            if w is None:
                raise AssertionError(f"{_MHA}: use_separate_proj_weight is True but {name} is "
                                     "None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(query, key, value, q_proj_weight, k_proj_weight,
                                 v_proj_weight, b_q, b_k, b_v)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if _shape(attn_mask) != (tgt_len, src_len):
                raise RuntimeError(f"{_MHA}: The shape of the 2D attn_mask is "
                                   f"{_shape(attn_mask)}, but should be {(tgt_len, src_len)} "
                                   "(L, S).")
            attn_mask = attn_mask.unsqueeze(0)
        elif _shape(attn_mask) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(f"{_MHA}: The shape of the 3D attn_mask is {_shape(attn_mask)},"
                               f" but should be {(bsz * num_heads, tgt_len, src_len)} "
                               "(N * num_heads, L, S).")
    if (bias_k is None) != (bias_v is None):
        raise AssertionError(f"{_MHA}: bias_k and bias_v must be given together")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError(f"{_MHA}: bias cannot be added to static key or value.")
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    # heads: (L, N, E) -> (N * heads, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    _check_static(static_k, "static_k", bsz, num_heads, head_dim)
    _check_static(static_v, "static_v", bsz, num_heads, head_dim)
    k = static_k if static_k is not None else \
        k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = static_v if static_v is not None else \
        v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        k = cat([k, zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype, device=k.device)], 1)
        v = cat([v, zeros((bsz * num_heads, 1, head_dim), dtype=v.dtype, device=v.device)], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if _shape(key_padding_mask) != (bsz, src_len):
            raise AssertionError(f"{_MHA}: Expected key_padding_mask of shape {(bsz, src_len)} "
                                 f"(N, S), but got {_shape(key_padding_mask)} (query "
                                 f"{_shape(query)}, key {_shape(key)})")
        key_padding_mask = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(
            -1, num_heads, -1, -1).reshape(bsz * num_heads, 1, src_len)
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    if need_weights:
        if is_causal and attn_mask is None:
            raise AssertionError(f"{_MHA}: is_causal needs attn_mask with need_weights")
        scores = bmm(q * math.sqrt(1.0 / float(q.shape[-1])), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = _dropout(weights, p=dropout_p)
        out = bmm(weights, v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else \
            attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    return (out if batched else out.squeeze(1)), None
