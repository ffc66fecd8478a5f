"""Sequence to sequence with LSTMs, as chapter 7 of "Deep Learning from Scratch 2" (Koki
Saitoh, O'Reilly Japan, 2018) builds it for the addition and date data sets.

The **encoder** embeds the question's characters (``Embedding(V, 16)``), runs an
``LSTM(16, 128)`` over them and hands the decoder its last hidden state ``h``: the whole
question compressed into one vector. The **decoder** embeds the answer's characters, runs its
own LSTM starting from ``h`` (and a zero cell state) and maps each output to scores over the
vocabulary with an affine layer. Training uses teacher forcing: the decoder reads the correct
answer shifted by one (``"_189"`` to predict ``"189 "``, ``'_'`` being the start symbol).
Generation is greedy: from the start symbol, each step's arg-max is the next step's input.

**Peeky** (``PeekySeq2seq``) lets every step of the decoder see ``h``: it is concatenated to
the embedded character at the LSTM's input and to the LSTM's output at the affine's input, so
the encoder's summary is not only an initial state that the decoder has to carry.

Parameters are initialised as the book does (embedding N(0, 0.01^2), LSTM and affine weights
N(0, 1/fan_in), biases zero); the layers are ember's (PyTorch's) ``Embedding``, ``LSTM``
(``batch_first``) and ``Linear``, so the state_dict keys are those of the same model written
in PyTorch (``encoder.embed.weight``, ``encoder.lstm.weight_ih_l0``, ...,
``decoder.affine.bias``).
"""
from __future__ import annotations

import math

import ember
from ember import nn

__all__ = ["Decoder", "Encoder", "PeekyDecoder", "PeekySeq2seq", "Seq2seq"]


def _positive(owner, **values):
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")


def _book_init(module):
    """The book's initialisation: embeddings N(0, 0.01^2), weights N(0, 1/fan_in), biases
    zero (PyTorch's LSTM has two biases where the book has one: both start at zero)."""
    with ember.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("embed.weight"):
                nn.init.normal_(p, 0.0, 0.01)
            elif "weight" in name:
                nn.init.normal_(p, 0.0, 1.0 / math.sqrt(p.shape[1]))
            else:
                nn.init.zeros_(p)


def _check_ids(owner, ids, what):
    if not isinstance(ids, ember.Tensor) or ids.dim() != 2 or ids.dtype.kind not in "iu":
        shape = tuple(ids.shape) if isinstance(ids, ember.Tensor) else type(ids).__name__
        dtype = f" {ids.dtype}" if isinstance(ids, ember.Tensor) else ""
        raise ValueError(f"{owner}: {what} must be a (N, T) tensor of integer ids, got "
                         f"{shape}{dtype}")


class Encoder(nn.Module):
    """Embedding -> LSTM; returns the last hidden state ``h`` (1, N, hidden_size).

    Args: vocab_size, wordvec_size (16 in the book), hidden_size (128 in the book).
    """

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128):
        super().__init__()
        _positive("Encoder", vocab_size=vocab_size, wordvec_size=wordvec_size,
                  hidden_size=hidden_size)
        self.embed = nn.Embedding(vocab_size, wordvec_size)
        self.lstm = nn.LSTM(wordvec_size, hidden_size, batch_first=True)
        _book_init(self)

    def forward(self, xs):
        _check_ids("Encoder", xs, "the question")
        _, (h, _) = self.lstm(self.embed(xs))
        return h


class Decoder(nn.Module):
    """Embedding -> LSTM (from the encoder's ``h``) -> Linear: scores (N, T, vocab_size).

    Args: vocab_size, wordvec_size, hidden_size (as :class:`Encoder`).
    """

    peeky = False

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128):
        super().__init__()
        _positive(type(self).__name__, vocab_size=vocab_size, wordvec_size=wordvec_size,
                  hidden_size=hidden_size)
        extra = hidden_size if self.peeky else 0
        self.embed = nn.Embedding(vocab_size, wordvec_size)
        self.lstm = nn.LSTM(wordvec_size + extra, hidden_size, batch_first=True)
        self.affine = nn.Linear(hidden_size + extra, vocab_size)
        _book_init(self)

    def _step(self, xs, h, state):
        """Scores of ``xs`` (N, T) and the LSTM's final (h, c), from ``state``."""
        out = self.embed(xs)
        if self.peeky:
            hs = h[0].unsqueeze(1).expand(xs.shape[0], xs.shape[1], h.shape[-1])
            out = ember.cat([hs, out], 2)
        out, state = self.lstm(out, state)
        if self.peeky:
            out = ember.cat([hs, out], 2)
        return self.affine(out), state

    def forward(self, xs, h):
        """Teacher forcing: ``xs`` (N, T) ids (the answer without its last character),
        ``h`` (1, N, hidden_size) the encoder's state -> scores (N, T, vocab_size)."""
        _check_ids(type(self).__name__, xs, "the decoder input")
        expected = (1, xs.shape[0], self.lstm.hidden_size)
        if tuple(h.shape) != expected:
            raise ValueError(f"{type(self).__name__}: h must have shape {expected} for "
                             f"{tuple(xs.shape)} inputs, got {tuple(h.shape)}")
        return self._step(xs, h, (h, ember.zeros_like(h)))[0]

    def generate(self, h, start_id, length):
        """Greedy decoding: ``length`` ids (N, length) from the start symbol, each step's
        arg-max fed back as the next input."""
        n = h.shape[1]
        sample = ember.full((n, 1), start_id, dtype=ember.int64, device=h.device)
        state, out = (h, ember.zeros_like(h)), []
        for _ in range(length):
            scores, state = self._step(sample, h, state)
            sample = scores.argmax(-1)
            out.append(sample)
        return ember.cat(out, 1)


class PeekyDecoder(Decoder):
    """:class:`Decoder` whose LSTM input and affine input both carry the encoder's ``h``
    (``cat([h, embedded])`` and ``cat([h, lstm_out])``, h first as in the book)."""

    peeky = True


class Seq2seq(nn.Module):
    """The book's Seq2seq: :class:`Encoder` then :class:`Decoder`.

    Args:
        vocab_size: characters in the vocabulary (13 for the addition set).
        wordvec_size, hidden_size: 16 and 128 in the book.

    ``forward(xs, decoder_xs)``: question ids (N, T_in) and the answer's first T_out ids
    (teacher forcing) -> scores (N, T_out, vocab_size) for the answer's next characters.
    ``generate(xs, start_id, length)``: greedy answers (N, length).

    Example:
        >>> model = Seq2seq(13)
        >>> scores = model(xs, ts[:, :-1])            # loss against ts[:, 1:]
        >>> guesses = model.generate(xs, start_id=6, length=4)
    """

    decoder_class = Decoder

    def __init__(self, vocab_size, wordvec_size=16, hidden_size=128):
        super().__init__()
        self.encoder = Encoder(vocab_size, wordvec_size, hidden_size)
        self.decoder = self.decoder_class(vocab_size, wordvec_size, hidden_size)

    def forward(self, xs, decoder_xs):
        return self.decoder(decoder_xs, self.encoder(xs))

    def generate(self, xs, start_id, length):
        """Greedy decoding of ``length`` characters after ``start_id`` for each question."""
        _positive(type(self).__name__ + ".generate", length=length)
        with ember.no_grad():
            return self.decoder.generate(self.encoder(xs), start_id, length)


class PeekySeq2seq(Seq2seq):
    """The book's PeekySeq2seq: :class:`Encoder` then :class:`PeekyDecoder` (same arguments
    as :class:`Seq2seq`)."""

    decoder_class = PeekyDecoder
