"""Drawing the next token from a language model's logits, as nanoGPT's ``generate`` does:
logits divided by ``temperature``, all but the ``top_k`` largest masked, one draw from the
softmax. Shared by the character LSTM and GPT."""
from __future__ import annotations

import numpy as np

import ember
from ember.nn import functional as F

__all__ = ["check_generate_args", "sample_next"]


def check_generate_args(who, idx, max_new_tokens, temperature, top_k, generator, name="idx"):
    """The prompt as (batch, time) int ids and the random generator (None: ember's), after
    checking every argument of a ``generate``; errors start with ``who`` and call the prompt
    argument ``name``."""
    idx = idx if isinstance(idx, ember.Tensor) else ember.tensor(idx)
    if idx.dim() not in (1, 2) or idx.dtype.kind not in "iu" or idx.shape[-1] < 1:
        raise ValueError(f"{who}: {name} must be int ids of shape (time,) or (batch, "
                         f"time) with time >= 1, got shape {tuple(idx.shape)} and dtype "
                         f"{idx.dtype}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 0:
        raise ValueError(f"{who}: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if not temperature > 0:
        raise ValueError(f"{who}: temperature must be > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                              or top_k < 1):
        raise ValueError(f"{who}: top_k must be None or an int >= 1, got {top_k!r}")
    rng = None if generator is None else (
        generator if isinstance(generator, np.random.Generator)
        else np.random.default_rng(generator))
    return (idx if idx.dim() == 2 else idx.unsqueeze(0)), rng


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    """One id per row of ``logits`` (batch, vocab) -> (batch, 1), drawn from ember's seeded
    generator or, when given, from the NumPy generator ``rng``."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = ember.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if rng is None:
        return ember.multinomial(probs, num_samples=1)
    # inverse CDF with the caller's generator; u in (0, 1] skips zero weights
    u = ember.tensor(1.0 - rng.random((probs.shape[0], 1)), dtype=probs.dtype,
                     device=probs.device)
    cdf = probs.cumsum(-1)
    return (cdf < u * cdf[:, -1:]).sum(-1, keepdim=True).clamp(max=probs.shape[-1] - 1)
