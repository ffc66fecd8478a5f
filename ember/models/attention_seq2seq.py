"""Sequence to sequence with attention, as chapter 8 of "Deep Learning from Scratch 2"
builds it for the date-format set (after Bahdanau et al. 2015 and Luong et al. 2015).

The plain :class:`~ember.models.seq2seq.Seq2seq` squeezes the whole question into the
encoder's last state. Here the encoder hands over **all** its hidden states ``hs`` (N, S, H)
and, at every step, the decoder looks back at them: it scores each encoder state against its
own hidden state ``h_t``, turns the scores into weights with a softmax over the S positions,
and reads the weighted sum of ``hs`` (the context ``c_t``). The affine layer sees
``cat([c_t, h_t])``. The weights say which input characters each output character looked at:
:meth:`AttentionSeq2seq.attention_weights` returns them for a heat map.

Scores are the dot product ``h_t . hs_s`` (Luong's "dot", the book's) or additive,
``v . tanh(W_q h_t + W_k hs_s)`` (Bahdanau's). The dot form is exactly scaled dot-product
attention with scale 1, so training runs through the fused
``F.scaled_dot_product_attention``.
"""
from __future__ import annotations

import ember
import ember.nn.functional as F
from ember import nn
from ember.models.seq2seq import Encoder, Seq2seq, _book_init, _check_ids, _positive

__all__ = ["AdditiveAttention", "AttentionDecoder", "AttentionEncoder", "AttentionSeq2seq",
           "DotAttention", "TransformerSeq2seq"]


class DotAttention(nn.Module):
    """Luong's dot-product attention: weights ``softmax(q . k_s)`` over the S keys."""

    def forward(self, query, keys, need_weights=False):
        """``query`` (N, T, H) over ``keys`` (N, S, H) -> context (N, T, H) (and the weights
        (N, T, S) when ``need_weights``)."""
        if not need_weights:
            return F.scaled_dot_product_attention(query, keys, keys, scale=1.0), None
        weights = F.softmax(query @ keys.transpose(1, 2), dim=-1)
        return weights @ keys, weights


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: scores ``v . tanh(W_q q + W_k k_s)``.

    Args: hidden_size (of query and keys), attention_size (of the tanh layer; default
    hidden_size).
    """

    def __init__(self, hidden_size, attention_size=None):
        super().__init__()
        attention_size = attention_size or hidden_size
        self.query = nn.Linear(hidden_size, attention_size, bias=False)
        self.key = nn.Linear(hidden_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def forward(self, query, keys, need_weights=False):
        """As :meth:`DotAttention.forward`."""
        # (N, T, 1, A) + (N, 1, S, A): every query against every key
        mixed = ember.tanh(self.query(query).unsqueeze(2) + self.key(keys).unsqueeze(1))
        weights = F.softmax(self.v(mixed).squeeze(-1), dim=-1)
        return weights @ keys, weights if need_weights else None


ATTENTIONS = {"dot": DotAttention, "additive": AdditiveAttention}


class AttentionEncoder(Encoder):
    """:class:`~ember.models.seq2seq.Encoder` that returns every hidden state ``hs``
    (N, S, hidden_size), not only the last."""

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256):
        super().__init__(vocab_size, wordvec_size, hidden_size)

    def forward(self, xs):
        _check_ids(type(self).__name__, xs, "the question")
        return self.lstm(self.embed(xs))[0]


class AttentionDecoder(nn.Module):
    """Embedding -> LSTM (from the encoder's last state) -> attention over ``hs`` ->
    Linear on ``cat([context, h_t])``: scores (N, T, vocab_size)."""

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, attention="dot"):
        super().__init__()
        _positive("AttentionDecoder", vocab_size=vocab_size, wordvec_size=wordvec_size,
                  hidden_size=hidden_size)
        if attention not in ATTENTIONS:
            raise ValueError(f"AttentionDecoder: attention must be one of "
                             f"{sorted(ATTENTIONS)}, got {attention!r}")
        self.embed = nn.Embedding(vocab_size, wordvec_size)
        self.lstm = nn.LSTM(wordvec_size, hidden_size, batch_first=True)
        self.affine = nn.Linear(2 * hidden_size, vocab_size)
        _book_init(self)
        self.attention = ATTENTIONS[attention](hidden_size) if attention == "additive" \
            else DotAttention()

    def _step(self, xs, hs, state, need_weights=False):
        out, state = self.lstm(self.embed(xs), state)
        context, weights = self.attention(out, hs, need_weights)
        return self.affine(ember.cat([context, out], 2)), state, weights

    def _start(self, hs):
        h = hs[:, -1].unsqueeze(0).contiguous()
        return h, ember.zeros_like(h)

    def forward(self, xs, hs):
        """Teacher forcing: ``xs`` (N, T) ids, ``hs`` (N, S, hidden_size) -> scores."""
        _check_ids("AttentionDecoder", xs, "the decoder input")
        if hs.dim() != 3 or hs.shape[0] != xs.shape[0] or \
                hs.shape[2] != self.lstm.hidden_size:
            raise ValueError(f"AttentionDecoder: hs must have shape ({xs.shape[0]}, S, "
                             f"{self.lstm.hidden_size}) for {tuple(xs.shape)} inputs, got "
                             f"{tuple(hs.shape)}")
        return self._step(xs, hs, self._start(hs))[0]

    def generate(self, hs, start_id, length, need_weights=False):
        """Greedy decoding: (N, length) ids (and the (N, length, S) attention weights)."""
        n = hs.shape[0]
        sample = ember.full((n, 1), start_id, dtype=ember.int64, device=hs.device)
        state, out, weights = self._start(hs), [], []
        for _ in range(length):
            scores, state, w = self._step(sample, hs, state, need_weights)
            sample = scores.argmax(-1)
            out.append(sample)
            weights.append(w)
        ids = ember.cat(out, 1)
        return (ids, ember.cat(weights, 1)) if need_weights else ids


class AttentionSeq2seq(Seq2seq):
    """The book's AttentionSeq2seq: :class:`AttentionEncoder` then :class:`AttentionDecoder`.

    Args:
        vocab_size: characters in the vocabulary (59 for the date set).
        wordvec_size, hidden_size: 16 and 256 in the book.
        attention: ``"dot"`` (Luong, the book's) or ``"additive"`` (Bahdanau).

    ``forward(xs, decoder_xs)`` and ``generate(xs, start_id, length)`` as
    :class:`~ember.models.seq2seq.Seq2seq`; :meth:`attention_weights` for heat maps.
    """

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=256, attention="dot"):
        nn.Module.__init__(self)
        self.encoder = AttentionEncoder(vocab_size, wordvec_size, hidden_size)
        self.decoder = AttentionDecoder(vocab_size, wordvec_size, hidden_size, attention)

    def attention_weights(self, xs, start_id, length):
        """Greedy answers (N, length) and the weights (N, length, S) each output character
        gave the question's characters."""
        _positive("AttentionSeq2seq.attention_weights", length=length)
        with ember.no_grad():
            return self.decoder.generate(self.encoder(xs), start_id, length, need_weights=True)


class TransformerSeq2seq(nn.Module):
    """An encoder-decoder Transformer ("Attention Is All You Need") for the same tasks as
    :class:`~ember.models.seq2seq.Seq2seq`: embeddings plus sinusoidal positions into
    :class:`ember.nn.Transformer` (pre-norm, GELU), a causal mask on the decoder, a linear
    head; ``forward(xs, decoder_xs)`` and greedy ``generate(xs, start_id, length)`` as
    :class:`~ember.models.seq2seq.Seq2seq`.

    Args: vocab_size; d_model (128), nhead (4), num_layers (2 encoder and 2 decoder layers),
    dim_feedforward (4 * d_model), dropout (0.1).
    """

    def __init__(self, vocab_size, d_model=128, nhead=4, num_layers=2, dim_feedforward=None,
                 dropout=0.1):
        super().__init__()
        _positive("TransformerSeq2seq", vocab_size=vocab_size, d_model=d_model, nhead=nhead,
                  num_layers=num_layers)
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.SinusoidalPositionalEncoding(d_model, max_len=512, batch_first=True)
        self.transformer = nn.Transformer(d_model, nhead, num_layers, num_layers,
                                          dim_feedforward or 4 * d_model, dropout,
                                          activation="gelu", batch_first=True, norm_first=True)
        self.head = nn.Linear(d_model, vocab_size)

    def _embed(self, ids):
        # No sqrt(d_model) factor: the paper's is for embeddings drawn with std d^-1/2; ours
        # are N(0, 1), and scaling them would drown the positions (addition: 6% -> 95%).
        return self.position(self.embed(ids))

    def encode(self, xs):
        _check_ids("TransformerSeq2seq", xs, "the question")
        return self.transformer.encoder(self._embed(xs))

    def decode(self, dec_xs, memory):
        T = dec_xs.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=dec_xs.device,
                                                              dtype=memory.dtype)
        out = self.transformer.decoder(self._embed(dec_xs), memory, tgt_mask=mask,
                                       tgt_is_causal=True)
        return self.head(out)

    def forward(self, xs, decoder_xs):
        _check_ids("TransformerSeq2seq", decoder_xs, "the decoder input")
        return self.decode(decoder_xs, self.encode(xs))

    def generate(self, xs, start_id, length):
        """Greedy decoding of ``length`` ids after ``start_id`` (N, length)."""
        _positive("TransformerSeq2seq.generate", length=length)
        was_training = self.training
        self.eval()
        try:
            with ember.no_grad():
                memory = self.encode(xs)
                seq = ember.full((xs.shape[0], 1), start_id, dtype=ember.int64,
                                 device=xs.device)
                for _ in range(length):
                    nxt = self.decode(seq, memory)[:, -1:].argmax(-1)
                    seq = ember.cat([seq, nxt], 1)
        finally:
            self.train(was_training)
        return seq[:, 1:]
