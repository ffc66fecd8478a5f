"""A character-level LSTM language model and its sampler (Karpathy's char-rnn, 2015).

"The Unreasonable Effectiveness of Recurrent Neural Networks": the text is read one
character at a time; at each step an LSTM takes the current character (one-hot, or a
learned embedding) and its recurrent state, and a linear layer turns the hidden state into
logits over the vocabulary for the next character. Trained with cross-entropy on every
step of a window (teacher forcing), it generates text by feeding its own samples back in:
the one-to-many use of a recurrent network. The recurrent state carries the whole prefix,
so each new character costs one step, never a pass over the prefix again.
"""
from __future__ import annotations

import ember
from ember import nn
from ember.models.sampling import check_generate_args, sample_next
from ember.nn import functional as F

__all__ = ["CharLSTM", "generate"]


class CharLSTM(nn.Module):
    """Next-character logits from an LSTM over characters.

    Args:
        vocab_size: the number of distinct characters (ids ``0 .. vocab_size - 1``).
        embed_dim: the size of a learned embedding of each character (``encoder``, an
            ``nn.Embedding``); ``None`` (default) feeds one-hot vectors, as char-rnn does.
        hidden_size: the LSTM's units per layer (256).
        num_layers: stacked LSTM layers (1).
        dropout: dropout on the outputs of every LSTM layer but the last (``nn.LSTM``'s
            ``dropout``) and on the last layer's output before the decoder (0).

    ``forward(idx, state=None)`` takes int64 ids ``(batch, time)`` and returns
    ``(logits, state)``: logits ``(batch, time, vocab_size)`` and the LSTM state
    ``(h, c)``, each ``(num_layers, batch, hidden_size)``, to pass back in to continue the
    text. Submodules: ``encoder`` (when ``embed_dim``), ``lstm`` (batch first), ``drop``,
    ``decoder`` (``nn.Linear(hidden_size, vocab_size)``).
    """

    def __init__(self, vocab_size, embed_dim=None, hidden_size=256, num_layers=1,
                 dropout=0.0):
        super().__init__()
        for name, value, low in (("vocab_size", vocab_size, 1), ("hidden_size", hidden_size, 1),
                                 ("num_layers", num_layers, 1),
                                 ("embed_dim", 1 if embed_dim is None else embed_dim, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"CharLSTM: {name} must be an int >= {low}, got {value!r}")
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.hidden_size, self.num_layers = hidden_size, num_layers
        if embed_dim is not None:
            self.encoder = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim or vocab_size, hidden_size, num_layers,
                            batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        if idx.dim() != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"CharLSTM: expected int64 character ids of shape (batch, time), "
                             f"got shape {tuple(idx.shape)} and dtype {idx.dtype}")
        if self.embed_dim is not None:
            x = self.encoder(idx)
        else:
            x = F.one_hot(idx, self.vocab_size).to(self.decoder.weight.dtype)
        out, state = self.lstm(x, state)
        return self.decoder(self.drop(out)), state

    def extra_repr(self):
        return (f"vocab_size={self.vocab_size}, embed_dim={self.embed_dim}, "
                f"hidden_size={self.hidden_size}, num_layers={self.num_layers}")


@ember.no_grad()
def generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """Continue ``prompt_ids`` by ``max_new_tokens`` characters sampled from ``model``.

    As nanoGPT's ``generate``: the logits of the last step are divided by ``temperature``
    (below 1: more conservative; above: more diverse), only the ``top_k`` largest are kept
    (the others get probability 0) when ``top_k`` is given, and the next id is drawn from
    their softmax. Unlike a transformer, the model runs the prompt once and then one step
    per new character, carrying the recurrent state (no recomputation of the prefix).

    Args:
        model: a module called as ``model(idx, state) -> (logits, state)`` (a CharLSTM).
        prompt_ids: int ids, ``(time,)`` or ``(batch, time)``, at least one per row.
        max_new_tokens: how many ids to append (>= 0).
        temperature: > 0.
        top_k: None, or an int >= 1 (values above the vocabulary keep every logit).
        generator: None (ember's generator, fixed by ``ember.manual_seed``), an int seed or a
            ``numpy.random.Generator`` that the draws come from.

    Returns the ids, prompt included, with the prompt's shape but ``max_new_tokens`` longer.
    The model is put in eval mode and left so.
    """
    idx = prompt_ids if isinstance(prompt_ids, ember.Tensor) else ember.tensor(prompt_ids)
    rows, rng = check_generate_args("generate", idx, max_new_tokens, temperature, top_k,
                                    generator, name="prompt_ids")
    model.eval()
    out, state, step = [rows], None, rows
    for _ in range(max_new_tokens):
        logits, state = model(step, state)
        step = sample_next(logits[:, -1, :], temperature, top_k, rng)
        out.append(step)
    ids = ember.cat(out, dim=1)
    return ids if idx.dim() == 2 else ids[0]
