"""A decoder-only Transformer (GPT-2 style) after Karpathy's nanoGPT ``model.py``, with a
key/value cache for generation.

Same architecture, names and initialisation as nanoGPT, so a state_dict maps 1:1:
token and learned position embeddings (``transformer.wte``, ``transformer.wpe``), dropout,
``n_layer`` pre-norm blocks (``transformer.h.N``: ``ln_1``, causal self-attention ``attn``
with one fused q/k/v projection ``c_attn`` and an output projection ``c_proj``, ``ln_2``,
an MLP ``mlp.c_fc`` (4x wide) -> GELU -> ``mlp.c_proj``), a final LayerNorm
``transformer.ln_f`` and ``lm_head``, whose weight *is* ``transformer.wte.weight`` (tied;
both keys appear in the state_dict, the parameter once in ``parameters()``). Weights are
drawn from N(0, 0.02), biases zero, and the two residual projections (``c_proj``) from
N(0, 0.02 / sqrt(2 * n_layer)) (GPT-2's scaling).

The key/value cache (:class:`KVCache`) holds, per layer, the keys and values of every
position seen so far, so a generation step feeds only the new token: ``model(idx[:, -1:],
kv_cache=cache)`` attends over the cached prefix instead of recomputing it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import ember
from ember import nn
from ember.models.sampling import check_generate_args, sample_next
from ember.nn import functional as F

__all__ = ["GPT", "GPTConfig", "KVCache"]


@dataclass
class GPTConfig:
    """nanoGPT's configuration (its defaults: GPT-2 small's sizes)."""
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in the Linears and LayerNorms (False: a bit better, faster)


class KVCache:
    """The keys and values of the positions a :class:`GPT` has seen, per layer.

    Arrays of ``(batch, n_head, block_size, head_dim)`` are allocated at the first write and
    filled in place; ``length`` is how many positions they hold. :meth:`GPT.forward` with
    ``kv_cache=`` places its tokens at positions ``length, length + 1, ...``.
    """

    def __init__(self, config: GPTConfig):
        self.config = config
        self.length = 0
        self.keys = [None] * config.n_layer
        self.values = [None] * config.n_layer

    def update(self, layer, k, v):
        """Append ``k``, ``v`` (batch, n_head, T, head_dim) at the current length (the
        caller advances ``length`` after the last layer); return the keys and values of
        every position so far."""
        start, stop = self.length, self.length + k.shape[2]
        if self.keys[layer] is None:
            shape = (k.shape[0], k.shape[1], self.config.block_size, k.shape[3])
            self.keys[layer] = ember.zeros(shape, dtype=k.dtype, device=k.device)
            self.values[layer] = ember.zeros(shape, dtype=v.dtype, device=v.device)
        self.keys[layer][:, :, start:stop] = k
        self.values[layer][:, :, start:stop] = v
        return self.keys[layer][:, :, :stop], self.values[layer][:, :, :stop]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: ``c_attn`` projects to q, k, v at once, the heads
    attend through ``F.scaled_dot_product_attention(is_causal=True)``, ``c_proj`` joins."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd ({config.n_embd}) must be divisible by n_head "
                             f"({config.n_head})")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x, kv_cache=None, layer=0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for t in (q, k, v))
        dropout_p = self.dropout if self.training else 0.0
        if kv_cache is None or kv_cache.length == 0:
            if kv_cache is not None:
                kv_cache.update(layer, k, v)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:  # new positions start at kv_cache.length: they see the whole prefix
            k, v = kv_cache.update(layer, k, v)
            mask = None
            if T > 1:  # the bottom-right causal triangle
                S = k.shape[2]
                mask = ember.tensor(np.tri(T, S, S - T, dtype=bool), device=x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """``c_fc`` (n_embd -> 4 n_embd), GELU, ``c_proj`` back, dropout."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-norm Transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), kv_cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """nanoGPT's GPT: ``forward(idx, targets=None) -> (logits, loss)``.

    Args:
        config: a :class:`GPTConfig`.

    Shape: ``idx`` (B, T) int64 token ids with T <= block_size. With ``targets`` (B, T)
    (-1: ignored), the logits of every position (B, T, vocab_size) and their mean
    cross-entropy; without, the logits of the last position only (B, 1, vocab_size) and
    None (what generation needs, as nanoGPT).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPT: config.{name} must be an int >= 1, got {value!r}")
        if not 0.0 <= config.dropout < 1.0:
            raise ValueError(f"GPT: config.dropout must be in [0, 1), got {config.dropout!r}")
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "drop": nn.Dropout(config.dropout),
            "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def get_num_params(self, non_embedding=True):
        """The number of parameters (the tied lm_head counted once); without the position
        embeddings by default, as nanoGPT."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache=None):
        """Logits (and the loss with ``targets``); with ``kv_cache`` (a :class:`KVCache`),
        ``idx`` holds the positions after the cached ones and the cache grows by them."""
        if idx.dim() != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"GPT: idx must be int token ids of shape (batch, time), got "
                             f"shape {tuple(idx.shape)} and dtype {idx.dtype}")
        b, t = idx.shape
        start = 0 if kv_cache is None else kv_cache.length
        if start + t > self.config.block_size:
            where = f" after {start} cached positions" if start else ""
            raise ValueError(f"GPT: cannot forward a sequence of length {t}{where}: "
                             f"block_size is only {self.config.block_size} (idx "
                             f"{tuple(idx.shape)})")
        if targets is not None and tuple(targets.shape) != (b, t):
            raise ValueError(f"GPT: targets must have idx's shape {(b, t)}, got "
                             f"{tuple(targets.shape)}")
        pos = ember.arange(start, start + t, dtype=ember.int64, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, kv_cache, i)
        if kv_cache is not None:
            kv_cache.length += t
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1),
                                   ignore_index=-1)
            return logits, loss
        return self.lm_head(x[:, -1:, :]), None

    def crop_block_size(self, block_size):
        """Shrink the context to ``block_size`` positions (keeps the first position
        embeddings), as nanoGPT's surgery."""
        if not 1 <= block_size <= self.config.block_size:
            raise ValueError(f"GPT.crop_block_size: block_size must be in [1, "
                             f"{self.config.block_size}], got {block_size}")
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(
            self.transformer.wpe.weight.detach()[:block_size].clone())
        self.transformer.wpe.num_embeddings = block_size

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type=None):
        """AdamW with two groups, as nanoGPT: weight decay for the parameters of >= 2 dims
        (the matmul weights and embeddings), none for biases and LayerNorm weights.
        ``device_type`` is accepted for nanoGPT's signature and changes nothing."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return ember.optim.AdamW(groups, lr=learning_rate, betas=betas)

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None,
                 use_cache=True):
        """Continue ``idx`` by ``max_new_tokens`` sampled tokens, as nanoGPT's generate.

        Each step divides the last position's logits by ``temperature``, keeps the ``top_k``
        largest when given (the others get probability 0) and draws the next token from
        their softmax. While the sequence is longer than ``block_size``, the model sees its
        last ``block_size`` tokens (nanoGPT's crop).

        With ``use_cache`` (the default), the prompt runs once and each step then feeds only
        the new token, attending over a :class:`KVCache` of the earlier keys and values.
        When the sequence outgrows ``block_size``, the cache cannot be shifted: the position
        embeddings are absolute, so cropping the first token moves every other to a new
        position and changes all their keys and values. From then on each step runs the
        model over the last ``block_size`` tokens into a fresh cache, exactly what the
        uncached path computes: both give the same tokens throughout, and the cache saves
        work only up to ``block_size`` tokens.

        Args:
            idx: int ids, (batch, time) or (time,), time >= 1.
            max_new_tokens: how many tokens to append (>= 0).
            temperature: > 0.
            top_k: None or an int >= 1.
            generator: None (ember's seeded generator), an int seed or a
                ``numpy.random.Generator`` that the draws come from.
            use_cache: use the key/value cache (False: recompute the context each step).

        Returns the ids with the prompt first, shape of ``idx`` but ``max_new_tokens``
        longer. Runs without gradients and in eval mode (the module's mode is restored).
        """
        idx = idx if isinstance(idx, ember.Tensor) else ember.tensor(idx)
        rows, rng = check_generate_args("GPT.generate", idx, max_new_tokens, temperature,
                                        top_k, generator)
        block_size, was_training = self.config.block_size, self.training
        self.eval()
        out, cache = [rows], None
        try:
            with ember.no_grad():
                seq = rows
                for _ in range(max_new_tokens):
                    if not use_cache:
                        logits, _ = self(seq[:, -block_size:])
                    elif cache is None or cache.length >= block_size:
                        cache = KVCache(self.config)  # the prompt, or a crop: fill afresh
                        logits, _ = self(seq[:, -block_size:], kv_cache=cache)
                    else:
                        logits, _ = self(seq[:, -1:], kv_cache=cache)
                    step = sample_next(logits[:, -1, :], temperature, top_k, rng)
                    out.append(step)
                    seq = ember.cat([seq, step], dim=1)
        finally:
            self.train(was_training)
        ids = ember.cat(out, dim=1) if len(out) > 1 else rows
        return ids if idx.dim() == 2 else ids[0]
