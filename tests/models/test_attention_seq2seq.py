"""AttentionSeq2seq (DLfS2 ch. 8) against the same model written in PyTorch (float64:
scores, every parameter's gradient, greedy answers and attention weights), for dot-product
and additive attention; finite differences; the input checks."""
import numpy as np
import pytest
from _parity import assert_close, check_grad, copy_from_torch, import_torch

import ember
from ember.models.attention_seq2seq import AdditiveAttention, AttentionSeq2seq, DotAttention

V, D, H = 11, 5, 6
TOL = {"rtol": 1e-9, "atol": 1e-10}


def torch_attention_seq2seq(torch, attention):
    """The model in PyTorch, with ember's submodule names."""
    nn = torch.nn

    class Additive(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Linear(H, H, bias=False)
            self.key = nn.Linear(H, H, bias=False)
            self.v = nn.Linear(H, 1, bias=False)

        def forward(self, q, k):
            mixed = torch.tanh(self.query(q).unsqueeze(2) + self.key(k).unsqueeze(1))
            return torch.softmax(self.v(mixed).squeeze(-1), -1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Module()
            self.encoder.embed, self.encoder.lstm = nn.Embedding(V, D), nn.LSTM(D, H,
                                                                                batch_first=True)
            self.decoder = nn.Module()
            self.decoder.embed = nn.Embedding(V, D)
            self.decoder.lstm = nn.LSTM(D, H, batch_first=True)
            self.decoder.affine = nn.Linear(2 * H, V)
            if attention == "additive":
                self.decoder.attention = Additive()

        def step(self, xs, hs, state):
            out, state = self.decoder.lstm(self.decoder.embed(xs), state)
            if attention == "additive":
                w = self.decoder.attention(out, hs)
            else:
                w = torch.softmax(out @ hs.transpose(1, 2), -1)
            return self.decoder.affine(torch.cat([w @ hs, out], 2)), state, w

        def start(self, xs):
            hs = self.encoder.lstm(self.encoder.embed(xs))[0]
            h = hs[:, -1].unsqueeze(0)
            return hs, (h, torch.zeros_like(h))

        def forward(self, xs, dec_xs):
            hs, state = self.start(xs)
            return self.step(dec_xs, hs, state)[0]

        def generate(self, xs, start_id, length):
            hs, state = self.start(xs)
            sample, out, weights = torch.full((xs.shape[0], 1), start_id), [], []
            for _ in range(length):
                scores, state, w = self.step(sample, hs, state)
                sample = scores.argmax(-1)
                out.append(sample)
                weights.append(w)
            return torch.cat(out, 1), torch.cat(weights, 1)
    return Net().double()


def ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, V, shape)


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_scores_gradients_answers_and_weights_match_pytorch(attention):
    torch = import_torch()
    tm = torch_attention_seq2seq(torch, attention)
    em = AttentionSeq2seq(V, D, H, attention).to(ember.float64)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    xs, dec = ids((4, 7)), ids((4, 3), seed=1)
    es, ts = em(ember.tensor(xs), ember.tensor(dec)), tm(torch.tensor(xs), torch.tensor(dec))
    assert_close(es.detach().numpy(), ts.detach().numpy(), what="scores", **TOL)
    g = np.random.default_rng(2).standard_normal((4, 3, V))
    (es * ember.tensor(g)).sum().backward()
    (ts * torch.tensor(g)).sum().backward()
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), what=f"gradient of {name}", **TOL)
    e_ids, e_w = em.attention_weights(ember.tensor(xs), 2, 5)
    t_ids, t_w = tm.generate(torch.tensor(xs), 2, 5)
    assert np.array_equal(e_ids.numpy(), t_ids.numpy())
    assert np.array_equal(em.generate(ember.tensor(xs), 2, 5).numpy(), t_ids.numpy())
    assert_close(e_w.numpy(), t_w.detach().numpy(), what="attention weights", **TOL)
    assert np.allclose(e_w.numpy().sum(-1), 1)


@pytest.mark.parametrize("cls", [DotAttention, lambda: AdditiveAttention(4)])
def test_attention_by_finite_differences(cls):
    att = cls().to(ember.float64)
    check_grad(lambda q, k: att(q, k)[0], shapes=[(2, 3, 4), (2, 5, 4)])
    check_grad(lambda q, k: att(q, k, need_weights=True)[1], shapes=[(2, 3, 4), (2, 5, 4)])


def test_bad_input_is_refused():
    model = AttentionSeq2seq(V, D, H)
    with pytest.raises(ValueError, match="attention must be one of"):
        AttentionSeq2seq(V, D, H, attention="general")
    with pytest.raises(ValueError, match=r"hs must have shape \(2, S, 6\)"):
        model.decoder(ember.tensor(ids((2, 3))), ember.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="integer ids"):
        model(ember.zeros(2, 3), ember.tensor(ids((2, 3))))


def torch_transformer_seq2seq(torch, d_model=8, nhead=2, layers=1):
    """TransformerSeq2seq in PyTorch (dropout 0), with ember's submodule names."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, d_model)
            self.transformer = nn.Transformer(d_model, nhead, layers, layers, 4 * d_model, 0.0,
                                              activation="gelu", batch_first=True,
                                              norm_first=True)
            self.head = nn.Linear(d_model, V)

        def _embed(self, ids):
            pos = torch.arange(ids.shape[1], dtype=torch.float64)[:, None]
            div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64)
                            * (-np.log(10000.0) / d_model))
            pe = torch.zeros(ids.shape[1], d_model, dtype=torch.float64)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
            # ember's table is built in the default float32, then converted with the model
            return self.embed(ids) + pe.float().double()

        def forward(self, xs, dec):
            mask = nn.Transformer.generate_square_subsequent_mask(dec.shape[1],
                                                                  dtype=torch.float64)
            memory = self.transformer.encoder(self._embed(xs))
            out = self.transformer.decoder(self._embed(dec), memory, tgt_mask=mask,
                                           tgt_is_causal=True)
            return self.head(out)
    return Net().double()


def test_transformer_seq2seq_matches_pytorch_and_decodes_greedily():
    from ember.models.attention_seq2seq import TransformerSeq2seq
    torch = import_torch()
    tm = torch_transformer_seq2seq(torch)
    em = TransformerSeq2seq(V, d_model=8, nhead=2, num_layers=1, dropout=0.0).to(ember.float64)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    xs, dec = ids((3, 7)), ids((3, 4), seed=1)
    es, ts = em(ember.tensor(xs), ember.tensor(dec)), tm(torch.tensor(xs), torch.tensor(dec))
    assert_close(es.detach().numpy(), ts.detach().numpy(), what="scores", **TOL)
    g = np.random.default_rng(2).standard_normal(tuple(es.shape))
    (es * ember.tensor(g)).sum().backward()
    (ts * torch.tensor(g)).sum().backward()
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), what=f"gradient of {name}", **TOL)
    out = em.generate(ember.tensor(xs), 2, 4).numpy()  # each step = arg-max of a full pass
    seq = np.full((3, 1), 2)
    for _ in range(4):
        nxt = tm(torch.tensor(xs), torch.tensor(seq))[:, -1].argmax(-1).numpy()[:, None]
        seq = np.concatenate([seq, nxt], 1)
    assert np.array_equal(out, seq[:, 1:])
