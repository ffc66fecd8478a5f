"""Image captioning with visual attention ("Show, Attend and Tell", Xu et al. 2015) for the
Fashion-MNIST scenes (``ember.data.datasets.FashionScenes``: "a sneaker left of a bag").

- :class:`CaptionVocab`: a word-level tokeniser (split on spaces) with ``<pad>`` (0),
  ``<start>`` (1), ``<end>`` (2) and ``<unk>`` (3) before the words, sorted.
- :class:`CaptionEncoder`: a small CNN, three conv-BN-ReLU-maxpool stages, giving a feature map
  (N, 64, 8, 8) for 64x64 scenes, read as 64 cells of 64 features.
- :class:`ShowAttendTell`: an ``LSTMCell`` decoder that, at every step, attends over the cells
  with the previous hidden state (additive (Bahdanau) or dot-product scores), reads the
  context, feeds ``cat([embed(word), context])`` to the cell and scores the next word with a
  linear layer on ``cat([h, context])``. The state starts from the mean cell (two linear
  layers + tanh, as in the paper). ``forward(images, captions)`` is teacher forcing;
  ``generate(images, max_len, beam_size=1)`` is greedy decoding (beam 1) or beam search.

Beam search ranks hypotheses by their **summed log-probability, not length-normalised**: a
hypothesis ends when it emits ``<end>`` (or at ``max_len``); at every step the ``beam_size``
best extensions of the live hypotheses are kept, those ending in ``<end>`` leave the beam
(which therefore shrinks), and the search stops when no hypothesis is live or the best finished
one outscores every live one (log-probabilities only decrease, so it cannot be overtaken). With
``beam_size=1`` this is greedy decoding exactly.
"""
from __future__ import annotations

import numpy as np

import ember
import ember.nn.functional as F
from ember import nn

__all__ = ["CaptionEncoder", "CaptionVocab", "ShowAttendTell", "caption_loss", "show_attend_tell"]

PAD, START, END, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<start>", "<end>", "<unk>")


class CaptionVocab:
    """Word-level vocabulary: ``CaptionVocab(captions)`` collects every word of ``captions``
    (strings, split on whitespace, lower-cased); ids 0..3 are ``<pad>``, ``<start>``,
    ``<end>``, ``<unk>``, then the words in sorted order."""

    def __init__(self, captions=()):
        words = sorted({w for c in captions for w in self.tokenize(c)})
        self.itos = list(SPECIALS) + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def tokenize(caption):
        """The words of ``caption``: lower-cased, split on whitespace."""
        if not isinstance(caption, str):
            raise TypeError(f"CaptionVocab: a caption must be a str, got "
                            f"{type(caption).__name__}")
        return caption.lower().split()

    def __len__(self):
        return len(self.itos)

    def encode(self, caption):
        """The ids of ``caption``'s words (unknown words -> ``<unk>``), without start/end."""
        return [self.stoi.get(w, UNK) for w in self.tokenize(caption)]

    def decode(self, ids):
        """The caption of ``ids`` (a sequence or 1-d Tensor): words up to the first ``<end>``,
        skipping ``<pad>`` and ``<start>``."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        words = []
        for i in ids:
            i = int(i)
            if i == END:
                break
            if i in (PAD, START):
                continue
            if not 0 <= i < len(self.itos):
                raise ValueError(f"CaptionVocab.decode: id {i} out of range for a vocabulary "
                                 f"of {len(self.itos)}")
            words.append(self.itos[i])
        return " ".join(words)

    def batch(self, captions, max_len=None):
        """Teacher-forcing arrays for ``captions``: ``(inputs, targets)``, int64 (N, T), where
        inputs are ``<start> w1 .. wn`` and targets ``w1 .. wn <end>``, padded with ``<pad>``
        (0); T = the longest caption + 1, or ``max_len`` (longer captions are cut, losing
        their ``<end>``)."""
        encoded = [self.encode(c) for c in captions]
        T = max_len if max_len is not None else max((len(e) for e in encoded), default=0) + 1
        if T < 1:
            raise ValueError(f"CaptionVocab.batch: max_len must be >= 1, got {max_len}")
        inputs = np.zeros((len(encoded), T), dtype=np.int64)
        targets = np.zeros((len(encoded), T), dtype=np.int64)
        for n, e in enumerate(encoded):
            seq_in, seq_out = ([START] + e)[:T], (e + [END])[:T]
            inputs[n, :len(seq_in)] = seq_in
            targets[n, :len(seq_out)] = seq_out
        return inputs, targets

    def state_dict(self):
        return {"itos": list(self.itos)}

    @classmethod
    def from_state_dict(cls, state):
        vocab = cls()
        vocab.itos = list(state["itos"])
        vocab.stoi = {w: i for i, w in enumerate(vocab.itos)}
        return vocab


def caption_loss(scores, targets, ignore_index=PAD):
    """Mean cross-entropy over the non-padding target words: scores (N, T, V), targets (N, T)."""
    return F.cross_entropy(scores.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)


class CaptionEncoder(nn.Sequential):
    """Three stages of Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(2): an
    (N, in_channels, 64, 64) scene -> (N, channels[-1], 8, 8) feature map."""

    def __init__(self, in_channels=1, channels=(32, 64, 64)):
        layers, c = [], in_channels
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = out
        super().__init__(*layers)
        self.out_channels = c


class _Additive(nn.Module):
    """Bahdanau scores ``v . tanh(W_q h + W_k cell)`` over the cells (keys pre-projected)."""

    def __init__(self, hidden_size, attention_size):
        super().__init__()
        self.query = nn.Linear(hidden_size, attention_size)
        self.key = nn.Linear(hidden_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def keys(self, feats):
        return self.key(feats)

    def scores(self, h, feats, keys):
        return self.v(ember.tanh(keys + self.query(h).unsqueeze(1))).squeeze(-1)


class _Dot(nn.Module):
    """Luong dot-product scores ``h . cell / sqrt(hidden)``."""

    def keys(self, feats):
        return None

    def scores(self, h, feats, keys):
        return (feats @ h.unsqueeze(-1)).squeeze(-1) / float(np.sqrt(h.shape[-1]))


class ShowAttendTell(nn.Module):
    """CNN encoder + LSTM decoder with attention over the feature-map cells.

    Args:
        vocab_size: words in the vocabulary (with the four specials).
        embed_size: word vector size (32).
        hidden_size: LSTM state size and the size cells are projected to (128).
        attention: ``"additive"`` (default) or ``"dot"``.
        attention_size: the additive tanh layer's size (default hidden_size).
        in_channels, channels: the encoder's (1; (32, 64, 64)).

    ``forward(images, captions)`` -> scores (N, T, vocab_size) for the next word after each
    of ``captions`` (N, T) (teacher forcing: ``<start> w1 .. wn``);
    ``generate(images, max_len, beam_size=1)`` -> ids (N, max_len), ``<pad>`` after ``<end>``.
    """

    def __init__(self, vocab_size, embed_size=32, hidden_size=128, attention="additive",
                 attention_size=None, in_channels=1, channels=(32, 64, 64)):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("embed_size", embed_size),
                        ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ShowAttendTell: {name} must be a positive int, got {v!r}")
        if vocab_size <= END:
            raise ValueError(f"ShowAttendTell: vocab_size must exceed the {len(SPECIALS)} "
                             f"special tokens' ids, got {vocab_size}")
        if attention not in ("additive", "dot"):
            raise ValueError(f"ShowAttendTell: attention must be 'additive' or 'dot', got "
                             f"{attention!r}")
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.encoder = CaptionEncoder(in_channels, channels)
        self.project = nn.Linear(self.encoder.out_channels, hidden_size)
        self.attention = _Additive(hidden_size, attention_size or hidden_size) \
            if attention == "additive" else _Dot()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.init_h = nn.Linear(hidden_size, hidden_size)
        self.init_c = nn.Linear(hidden_size, hidden_size)
        self.lstm = nn.LSTMCell(embed_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size, vocab_size)

    # ---- pieces
    def encode(self, images):
        """images (N, C, H, W) -> cells (N, H/8 * W/8, hidden_size)."""
        if images.dim() != 4:
            raise ValueError(f"ShowAttendTell: images must be (N, C, H, W), got shape "
                             f"{tuple(images.shape)}")
        fmap = self.encoder(images)
        return self.project(fmap.flatten(2).transpose(1, 2))

    def start_state(self, feats):
        mean = feats.mean(1)
        return ember.tanh(self.init_h(mean)), ember.tanh(self.init_c(mean))

    def step(self, words, feats, keys, state):
        """One decoder step: ``words`` (N,) ids -> (log-free scores (N, V), new state,
        attention weights (N, cells))."""
        h, c = state
        weights = F.softmax(self.attention.scores(h, feats, keys), dim=-1)
        context = (weights.unsqueeze(1) @ feats).squeeze(1)
        h, c = self.lstm(ember.cat([self.embed(words), context], 1), (h, c))
        return self.out(ember.cat([h, context], 1)), (h, c), weights

    def _check_captions(self, captions, n):
        if captions.dim() != 2 or captions.dtype.kind not in "iu" or captions.shape[0] != n:
            raise ValueError(f"ShowAttendTell: captions must be int ids (N, T) with N = {n} "
                             f"images, got shape {tuple(captions.shape)} and dtype "
                             f"{captions.dtype}")
        if captions.numel() and (int(captions.min()) < 0 or
                                 int(captions.max()) >= self.vocab_size):
            raise ValueError(f"ShowAttendTell: caption ids must be in [0, {self.vocab_size}),"
                             f" got [{int(captions.min())}, {int(captions.max())}]")

    def forward(self, images, captions, need_weights=False):
        """Teacher forcing: scores (N, T, vocab_size) (and the weights (N, T, cells))."""
        feats = self.encode(images)
        self._check_captions(captions, feats.shape[0])
        keys = self.attention.keys(feats)
        state, scores, weights = self.start_state(feats), [], []
        for t in range(captions.shape[1]):
            s, state, w = self.step(captions[:, t], feats, keys, state)
            scores.append(s)
            weights.append(w)
        scores = ember.stack(scores, 1)
        return (scores, ember.stack(weights, 1)) if need_weights else scores

    # ---- decoding
    def generate(self, images, max_len=16, beam_size=1):
        """Captions for ``images`` as ids (N, max_len) int64, ``<end>`` included and
        ``<pad>`` after it: greedy for ``beam_size=1``, else beam search on summed
        log-probabilities (not length-normalised; see the module docstring). Runs in eval
        mode without gradients; the training mode is restored."""
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"ShowAttendTell.generate: max_len must be an int >= 1, got "
                             f"{max_len!r}")
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"ShowAttendTell.generate: beam_size must be an int >= 1, got "
                             f"{beam_size!r}")
        was_training = self.training
        self.eval()
        try:
            with ember.no_grad():
                feats = self.encode(images)
                keys = self.attention.keys(feats)
                if beam_size == 1:
                    return self._greedy(feats, keys, max_len)
                rows = [self._beam(feats[i:i + 1], None if keys is None else keys[i:i + 1],
                                   max_len, beam_size)[0] for i in range(feats.shape[0])]
        finally:
            self.train(was_training)
        out = np.full((len(rows), max_len), PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return ember.tensor(out, device=feats.device)

    def _log_probs(self, scores):
        # never propose <pad> or <start>
        logp = F.log_softmax(scores, dim=-1).cpu().numpy().astype(np.float64)
        logp[:, [PAD, START]] = -np.inf
        return logp

    def _greedy(self, feats, keys, max_len):
        n = feats.shape[0]
        words = ember.full((n,), START, dtype=ember.int64, device=feats.device)
        state = self.start_state(feats)
        out = np.full((n, max_len), PAD, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        for t in range(max_len):
            scores, state, _ = self.step(words, feats, keys, state)
            best = self._log_probs(scores).argmax(-1)
            out[:, t] = np.where(done, PAD, best)
            done |= best == END
            if done.all():
                break
            words = ember.tensor(best, device=feats.device)
        return ember.tensor(out, device=feats.device)

    def _beam(self, feats, keys, max_len, beam_size):
        """Beam search for one image (feats (1, cells, H)): (best ids, its summed
        log-probability)."""
        seqs, logps = [[]], np.zeros(1)  # live hypotheses
        h, c = self.start_state(feats)
        finished = []  # (logp, ids)
        for _ in range(max_len):
            k = len(seqs)
            words = ember.tensor([s[-1] if s else START for s in seqs], dtype=ember.int64,
                                 device=feats.device)
            fk = feats.expand(k, *feats.shape[1:])
            kk = None if keys is None else keys.expand(k, *keys.shape[1:])
            scores, (h, c), _ = self.step(words, fk, kk, (h, c))
            total = logps[:, None] + self._log_probs(scores)
            flat = total.ravel()
            # the beam_size best extensions (stable: ties go to the lower hypothesis, word)
            order = np.argsort(-flat, kind="stable")[:beam_size]
            order = order[np.isfinite(flat[order])]
            keep, new_seqs, new_logps = [], [], []
            for idx in order:
                b, w = divmod(int(idx), total.shape[1])
                if w == END:
                    finished.append((float(flat[idx]), seqs[b] + [w]))
                else:
                    keep.append(b)
                    new_seqs.append(seqs[b] + [w])
                    new_logps.append(flat[idx])
            if not keep:
                seqs = []
                break
            seqs, logps = new_seqs, np.array(new_logps)
            sel = ember.tensor(np.array(keep), dtype=ember.int64, device=feats.device)
            h, c = h[sel], c[sel]
            if finished and max(f[0] for f in finished) >= logps.max():
                seqs = []
                break
        finished += [(float(lp), s) for lp, s in zip(logps, seqs)]  # cut at max_len
        best = max(finished, key=lambda f: f[0])  # first of equals: the earliest found
        return best[1], best[0]


def show_attend_tell(vocab, attention="additive", embed_size=32, hidden_size=128,
                     in_channels=1):
    """The scenes' captioner for the words ``vocab`` (a :class:`CaptionVocab` or its ``itos``
    list, specials first), which it keeps as ``model.vocab`` to decode ``generate``'s ids; a
    checkpoint's config stores the list, so ``ember.models.from_checkpoint`` rebuilds both."""
    if not isinstance(vocab, CaptionVocab):
        vocab = CaptionVocab.from_state_dict({"itos": list(vocab)})
    if tuple(vocab.itos[:len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"show_attend_tell: vocab must start with {SPECIALS}, got "
                         f"{tuple(vocab.itos[:len(SPECIALS)])}")
    model = ShowAttendTell(len(vocab), embed_size=embed_size, hidden_size=hidden_size,
                           attention=attention, in_channels=in_channels)
    model.vocab = vocab
    return model


show_attend_tell.task = "captioning"  # read by ember.train.autoencode.task_of
