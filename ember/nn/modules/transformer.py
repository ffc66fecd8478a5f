"""The Transformer (Vaswani et al., 2017) as ``torch.nn``'s: encoder and decoder layers,
their stacks and the whole model, with PyTorch's signatures, submodule names (so
``state_dict`` keys map 1:1: ``encoder.layers.0.self_attn.in_proj_weight``, ``linear1``,
``norm1``, ...) and initialisation; and two positional encodings PyTorch lacks (ember
extras): :class:`SinusoidalPositionalEncoding` and :class:`LearnedPositionalEncoding`.

PyTorch's inference fast paths (``_transformer_encoder_layer_fwd``, nested tensors) are not
reproduced: ``enable_nested_tensor`` and ``mask_check`` are accepted and change nothing, and
every call takes the route that also serves training, with the same results.
"""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np

from ember.backend import get_default_dtype
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.activation import GELU, ReLU
from ember.nn.modules.attention import MultiheadAttention
from ember.nn.modules.container import ModuleList
from ember.nn.modules.dropout import Dropout
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.modules.normalization import LayerNorm
from ember.nn.modules.sparse import Embedding
from ember.ops.creation import arange, full, tensor, zeros
from ember.ops.structure import triu

__all__ = ["LearnedPositionalEncoding", "SinusoidalPositionalEncoding", "Transformer",
           "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer"]


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    return triu(full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


def _float_mask(mask, name, other=None, other_name="", dtype=None):
    """A bool mask (True: masked) as 0 / -inf in ``dtype``; a float mask as it is."""
    if mask is None:
        return None
    if mask.dtype != bool and mask.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported, got "
                             f"{mask.dtype}")
    if other is not None and mask.dtype != other.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use "
                      "same type for both instead.", stacklevel=3)
    if mask.dtype == bool:
        mask = zeros(tuple(mask.shape), dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask


def _seq_len(src, batch_first):
    return src.shape[0] if src.dim() == 2 else src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """``is_causal`` if given, else whether ``mask`` is the square causal mask (PyTorch's
    ``_detect_is_causal_mask``)."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        causal = _generate_square_subsequent_mask(sz, device=mask.device, dtype=mask.dtype)
        make_causal = tuple(mask.shape) == tuple(causal.shape) and bool((mask == causal).all())
    return make_causal


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and a
    LayerNorm: after the residual (post-norm, the paper's, default) or before the block
    (``norm_first=True``, pre-norm).

    Args:
        d_model: the features of the input; nhead: attention heads.
        dim_feedforward: the hidden size of the feed-forward block (default 2048).
        dropout: on the attention weights, inside and after each block (default 0.1).
        activation: "relu" (default), "gelu" or a callable.
        layer_norm_eps: LayerNorm's eps (default 1e-5).
        batch_first: (N, S, E) instead of (S, N, E).
        norm_first: pre-norm instead of post-norm.
        bias: biases in the Linear and LayerNorm layers (default True).

    Shape: src (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E) -> same.
    Submodules: ``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        self.activation_relu_or_gelu = 1 if activation is F.relu or isinstance(
            activation, ReLU) else 2 if activation is F.gelu or isinstance(activation, GELU) else 0
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """Args: src_mask (S, S) or (N * nhead, S, S) and src_key_padding_mask (N, S), each
        bool (True: masked) or float (added); is_causal: a hint that src_mask is causal."""
        src_key_padding_mask = _float_mask(src_key_padding_mask, "src_key_padding_mask",
                                           src_mask, "src_mask", src.dtype)
        src_mask = _float_mask(src_mask, "src_mask", dtype=src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Masked self-attention, attention over the encoder's output (``memory``), then a
    feed-forward block; each with a residual connection and a LayerNorm, post-norm (default)
    or pre-norm (``norm_first=True``).

    Args: as :class:`TransformerEncoderLayer`.

    Shape: tgt (T, N, E) and memory (S, N, E) ((N, T, E), (N, S, E) with ``batch_first``;
    unbatched (T, E), (S, E)) -> like tgt. Submodules: ``self_attn``, ``multihead_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``-``norm3``, ``dropout1``-``dropout3``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, **factory)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, **factory)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **factory)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **factory)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _get_activation_fn(activation) if isinstance(activation, str) \
            else activation

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        """Args: tgt_mask (T, T), memory_mask (T, S) (or per head, (N * nhead, ., .)),
        tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S): bool (True: masked) or
        float (added); tgt_is_causal / memory_is_causal: hints that the masks are causal."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                   tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...),
    then ``norm`` if given.

    Args:
        encoder_layer: the layer to copy (the copies share no parameters with it).
        num_layers: how many; norm: a final layer (e.g. LayerNorm) or None.
        enable_nested_tensor, mask_check: accepted for PyTorch's signature; they drive
            PyTorch's nested-tensor inference path, which ember does not have, and change
            nothing (``use_nested_tensor`` is always False).
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """Args: mask (S, S) or (N * nhead, S, S), src_key_padding_mask (N, S): bool (True:
        masked) or float; is_causal: None detects whether ``mask`` is the causal mask."""
        src_key_padding_mask = _float_mask(src_key_padding_mask, "src_key_padding_mask",
                                           mask, "mask", src.dtype)
        mask = _float_mask(mask, "mask", dtype=src.dtype)
        batch_first = self.layers[0].self_attn.batch_first
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        return self.norm(output) if self.norm is not None else output


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers.0``, ...), then ``norm``
    if given."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        """Masks as :meth:`TransformerDecoderLayer.forward`; ``tgt_is_causal=None`` detects
        whether ``tgt_mask`` is the causal mask."""
        batch_first = self.layers[0].self_attn.batch_first
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal,
                                               _seq_len(tgt, batch_first))
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return self.norm(output) if self.norm is not None else output


class Transformer(Module):
    """The encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, each stack ending in
    a LayerNorm (``encoder.norm``, ``decoder.norm``); every parameter of 2 or more dims is
    re-initialised with xavier_uniform_, as PyTorch.

    Args:
        d_model (512), nhead (8), num_encoder_layers (6), num_decoder_layers (6),
        dim_feedforward (2048), dropout (0.1), activation (relu), layer_norm_eps (1e-5),
        batch_first, norm_first, bias: as :class:`TransformerEncoderLayer`.
        custom_encoder, custom_decoder: modules used in place of the stacks.

    Shape: src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) with ``batch_first``;
    unbatched without N) -> (T, N, E).
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **factory), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **factory), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        """Masks: src_mask (S, S), tgt_mask (T, T), memory_mask (T, S) (or per head,
        (N * nhead, ., .)); src/tgt/memory_key_padding_mask (N, S), (N, T), (N, S): bool
        (True: masked) or float (added). ``*_is_causal``: hints that a mask is causal."""
        batched = src.dim() == 3
        b = 0 if self.batch_first else 1
        if batched and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"the batch number of src and tgt must be equal: src "
                               f"{tuple(src.shape)}, tgt {tuple(tgt.shape)}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}): src {tuple(src.shape)}, tgt "
                               f"{tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The (sz, sz) causal mask: 0 on and below the diagonal, -inf above (float; dtype
        defaults to ember's default float type)."""
        return _generate_square_subsequent_mask(sz, dtype=dtype, device=device)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)


def _add_positions(module, x, table):
    """``x + table[:seq]`` broadcast over the batch dim, checking the sizes."""
    if x.dim() not in (2, 3) or x.shape[-1] != module.d_model:
        raise ValueError(f"{type(module).__name__}: expected input of shape (S, N, "
                         f"{module.d_model}), (N, S, {module.d_model}) with batch_first or "
                         f"(S, {module.d_model}), got {tuple(x.shape)}")
    seq = _seq_len(x, module.batch_first)
    if seq > module.max_len:
        raise ValueError(f"{type(module).__name__}: sequence length {seq} of input "
                         f"{tuple(x.shape)} exceeds max_len {module.max_len}")
    pos = table(seq)
    if x.dim() == 3 and not module.batch_first:
        pos = pos.unsqueeze(1)
    return module.dropout(x + pos)


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal position table of "Attention Is All You Need" (and of the
    PyTorch Transformer tutorial), then dropout. *An ember extra: PyTorch has no such
    layer.*

    ``pe[pos, 2i] = sin(pos / 10000^(2i / d_model))``,
    ``pe[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))``.

    Args:
        d_model: the features; max_len: the longest sequence (default 5000).
        dropout: after the addition (default 0.0); batch_first: (N, S, E) inputs.

    Shape: (S, N, E), (N, S, E) with ``batch_first``, or (S, E) -> same. The table is the
    buffer ``pe`` (max_len, d_model), not persistent: it is rebuilt, never saved.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        position = np.arange(max_len, dtype=np.float64)[:, None]
        div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float64)
                          * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(position * div_term)
        pe[:, 1::2] = np.cos(position * div_term[:d_model // 2])
        self.register_buffer("pe", tensor(pe, dtype=dtype or get_default_dtype(),
                                          device=device), persistent=False)

    def forward(self, x):
        return _add_positions(self, x, lambda seq: self.pe[:seq])

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position (an Embedding of positions ``0..S-1``, as GPT and
    BERT), then dropout. *An ember extra: PyTorch has no such layer.*

    Args:
        max_len: the longest sequence; d_model: the features.
        dropout: after the addition (default 0.0); batch_first: (N, S, E) inputs.

    Shape: (S, N, E), (N, S, E) with ``batch_first``, or (S, E) -> same. Parameter:
    ``embedding.weight`` (max_len, d_model), initialised N(0, 1) as an Embedding's (GPT-2
    uses ``nn.init.normal_(layer.embedding.weight, std=0.02)``).
    """

    def __init__(self, max_len, d_model, dropout=0.0, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.embedding = Embedding(max_len, d_model, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return _add_positions(self, x, lambda seq: self.embedding(
            arange(seq, device=x.device)))

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"
