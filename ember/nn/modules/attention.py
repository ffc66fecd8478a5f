"""Multi-head attention (``nn.MultiheadAttention``; PyTorch keeps it in activation.py).

Parameter names are PyTorch's (``in_proj_weight``, ``in_proj_bias``, ``q_proj_weight``,
``k_proj_weight``, ``v_proj_weight``, ``bias_k``, ``bias_v``, ``out_proj.weight``,
``out_proj.bias``), so ``state_dict`` keys map 1:1.
"""
from __future__ import annotations

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.ops.creation import empty

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under PyTorch's name for ``MultiheadAttention.out_proj`` (PyTorch uses the
    class to keep quantisation away from it; here it is a plain Linear)."""


class MultiheadAttention(Module):
    """Attention from ``num_heads`` heads of size ``embed_dim // num_heads`` in parallel
    (Vaswani et al., 2017): ``concat(head_1, ..., head_h) W_o`` with
    ``head_i = softmax(q W_q^i (k W_k^i)^T / sqrt(d)) v W_v^i``.

    Args:
        embed_dim: E, the model's (and the query's) feature size.
        num_heads: heads; must divide ``embed_dim``.
        dropout: dropout on the attention weights while training (default 0.0).
        bias: in- and out-projection biases (default True).
        add_bias_kv: learn a bias row appended to the keys and values (``bias_k``,
            ``bias_v`` of (1, 1, E)).
        add_zero_attn: append a zero key and value.
        kdim, vdim: the keys' and values' feature sizes (default E); if either differs from
            E, the projections are three parameters (``q_proj_weight`` (E, E),
            ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim)) instead of the packed
            ``in_proj_weight`` (3E, E).
        batch_first: inputs and output are (N, L, E) rather than (L, N, E).

    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim), or unbatched (L, E),
    (S, kdim), (S, vdim) -> output like query, weights (N, L, S) (averaged over heads) or
    (N, num_heads, L, S) (``average_attn_weights=False``); unbatched without N.

    Initialisation is PyTorch's: xavier_uniform_ on the in-projection, zero biases,
    xavier_normal_ on ``bias_k``/``bias_v``, the out-projection as a Linear's weight.
    PyTorch's inference fast path (``_native_multi_head_attention``) is not reproduced: every
    call takes the route that also serves training, with the same results.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater "
                             f"than 0, got embed_dim={embed_dim} and num_heads={num_heads} "
                             "instead")
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads, self.dropout, self.batch_first = num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f"MultiheadAttention: embed_dim must be divisible by "
                                 f"num_heads, got embed_dim={embed_dim} and "
                                 f"num_heads={num_heads}")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty((embed_dim, embed_dim), **factory))
            self.k_proj_weight = Parameter(empty((embed_dim, self.kdim), **factory))
            self.v_proj_weight = Parameter(empty((embed_dim, self.vdim), **factory))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(empty((3 * embed_dim, embed_dim), **factory))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        self.register_parameter(
            "in_proj_bias", Parameter(empty(3 * embed_dim, **factory)) if bias else None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        **factory)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, embed_dim), **factory))
            self.bias_v = Parameter(empty((1, 1, embed_dim), **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        """Attend from ``query`` over ``key``/``value``; returns ``(output, weights)``,
        weights None unless ``need_weights``.

        Args:
            key_padding_mask: (N, S) or (S,): bool (True: ignore that key) or float (added).
            need_weights: return the attention weights (computed explicitly; without them
                the fused ``F.scaled_dot_product_attention`` runs).
            attn_mask: (L, S) or (N * num_heads, L, S): bool (True: may *not* attend) or
                float (added to the scores).
            average_attn_weights: weights averaged over heads, or per head.
            is_causal: a hint that ``attn_mask`` is the causal mask (which is still needed).
        """
        batched = query.dim() == 3
        if self.batch_first and batched:
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = (x.transpose(1, 0) for x in (query, key))
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = {"use_separate_proj_weight": True, "q_proj_weight": self.q_proj_weight,
                    "k_proj_weight": self.k_proj_weight, "v_proj_weight": self.v_proj_weight}
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            **({} if self._qkv_same_embed_dim else separate))
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights

    def merge_masks(self, attn_mask, key_padding_mask, query):
        """PyTorch's helper for its fast path: ``attn_mask`` ((L, L) or (N * num_heads, L,
        L)) and ``key_padding_mask`` ((N, L)), float masks of a batch-first ``query`` (N, L,
        E), as one (N, num_heads, L, L) mask (or the padding mask alone) and its type: 2
        with an attention mask, 1 with the padding mask only, None with neither."""
        mask_type, merged = None, None
        if key_padding_mask is not None:
            mask_type, merged = 1, key_padding_mask
        if attn_mask is not None:
            batch_size, seq_len, _ = query.shape
            mask_type = 2
            if attn_mask.dim() == 3:
                merged = attn_mask.view(batch_size, -1, seq_len, seq_len)
            else:
                merged = attn_mask.view(1, 1, seq_len, seq_len).expand(
                    batch_size, self.num_heads, -1, -1)
            if key_padding_mask is not None:
                merged = merged + key_padding_mask.view(batch_size, 1, 1, seq_len).expand(
                    -1, self.num_heads, -1, -1)
        return merged, mask_type
