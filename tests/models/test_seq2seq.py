"""Seq2seq and PeekySeq2seq (DLfS2 ch. 7) against the same models written in PyTorch
(float64: scores, every parameter's gradient, greedy answers), the book's initialisation,
finite differences through the decoder, and the input checks."""
import numpy as np
import pytest
from _parity import assert_close, check_grad, copy_from_torch, import_torch

import ember
from ember.models.seq2seq import Decoder, Encoder, PeekyDecoder, PeekySeq2seq, Seq2seq

V, D, H = 13, 5, 7
TOL = {"rtol": 1e-9, "atol": 1e-10}


def torch_seq2seq(torch, peeky):
    """The book's Seq2seq / PeekySeq2seq in PyTorch, with ember's submodule names."""
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, D)
            self.lstm = nn.LSTM(D, H, batch_first=True)

        def forward(self, xs):
            return self.lstm(self.embed(xs))[1][0]

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, D)
            self.lstm = nn.LSTM(D + H * peeky, H, batch_first=True)
            self.affine = nn.Linear(H + H * peeky, V)

        def forward(self, xs, h, state=None):
            out = self.embed(xs)
            hs = h[0].unsqueeze(1).expand(-1, xs.shape[1], -1)
            if peeky:
                out = torch.cat([hs, out], 2)
            out, state = self.lstm(out, (h, torch.zeros_like(h)) if state is None else state)
            if peeky:
                out = torch.cat([hs, out], 2)
            return self.affine(out), state

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, xs, dec_xs):
            return self.decoder(dec_xs, self.encoder(xs))[0]

        def generate(self, xs, start_id, length):
            h = self.encoder(xs)
            sample = torch.full((xs.shape[0], 1), start_id)
            state, out = None, []
            for _ in range(length):
                scores, state = self.decoder(sample, h, state)
                sample = scores.argmax(-1)
                out.append(sample)
            return torch.cat(out, 1)
    return Net().double()


def ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, V, shape)


@pytest.mark.parametrize("cls, peeky", [(Seq2seq, False), (PeekySeq2seq, True)])
def test_scores_gradients_and_answers_match_pytorch(cls, peeky):
    torch = import_torch()
    tm = torch_seq2seq(torch, peeky)
    em = cls(V, D, H).to(ember.float64)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    xs, dec = ids((4, 6)), ids((4, 3), seed=1)
    es, ts = em(ember.tensor(xs), ember.tensor(dec)), tm(torch.tensor(xs), torch.tensor(dec))
    assert tuple(es.shape) == (4, 3, V)
    assert_close(es.detach().numpy(), ts.detach().numpy(), what="scores", **TOL)
    g = np.random.default_rng(2).standard_normal((4, 3, V))
    (es * ember.tensor(g)).sum().backward()
    (ts * torch.tensor(g)).sum().backward()
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), what=f"gradient of {name}", **TOL)
    questions = ids((9, 6), seed=3)
    ours = em.generate(ember.tensor(questions), start_id=6, length=4)
    assert ours.dtype == ember.int64 and not ours.requires_grad
    with torch.no_grad():
        theirs = tm.generate(torch.tensor(questions), 6, 4)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_generate_is_teacher_forcing_on_its_own_answers():
    m = PeekySeq2seq(V, D, H)
    xs = ember.tensor(ids((5, 6)))
    answers = m.generate(xs, start_id=2, length=4)
    dec = ember.cat([ember.full((5, 1), 2, dtype=ember.int64), answers[:, :-1]], 1)
    with ember.no_grad():
        np.testing.assert_array_equal(m(xs, dec).argmax(-1).numpy(), answers.numpy())


def test_the_books_initialisation():
    ember.manual_seed(0)
    m = PeekySeq2seq(13, 16, 128)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    assert abs(sd["encoder.embed.weight"].std() - 0.01) < 0.002
    for key, fan_in in [("encoder.lstm.weight_ih_l0", 16), ("encoder.lstm.weight_hh_l0", 128),
                        ("decoder.lstm.weight_ih_l0", 16 + 128), ("decoder.affine.weight", 256)]:
        assert abs(sd[key].std() * np.sqrt(fan_in) - 1) < 0.05, key
    for key in ("encoder.lstm.bias_ih_l0", "encoder.lstm.bias_hh_l0", "decoder.affine.bias"):
        assert not sd[key].any(), key
    assert sd["decoder.lstm.weight_ih_l0"].shape == (512, 144)
    assert sd["decoder.affine.weight"].shape == (13, 256)


@pytest.mark.parametrize("decoder", [Decoder, PeekyDecoder])
def test_finite_differences_through_the_decoder(decoder):
    m = decoder(V, 3, 4).to(ember.float64)
    dec = ember.tensor(ids((2, 3)))
    check_grad(lambda h: m(dec, h), shapes=[(1, 2, 4)])
    check_grad(lambda e: m.lstm(e, None)[0], shapes=[(2, 3, 3 + 4 * m.peeky)])


def test_bad_inputs_name_the_shapes():
    m = Seq2seq(V, D, H)
    with pytest.raises(ValueError, match=r"Encoder: the question must be a \(N, T\) tensor of "
                                         r"integer ids, got \(2, 3, 1\) float32"):
        m(ember.zeros(2, 3, 1), ember.zeros(2, 3, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"Decoder: the decoder input must be a \(N, T\) "
                                         r"tensor of integer ids, got list"):
        m.decoder([[1]], ember.zeros(1, 1, H))
    with pytest.raises(ValueError, match=r"PeekyDecoder: h must have shape \(1, 2, 7\) for "
                                         r"\(2, 3\) inputs, got \(1, 3, 7\)"):
        PeekyDecoder(V, D, H)(ember.zeros(2, 3, dtype=ember.int64), ember.zeros(1, 3, H))
    with pytest.raises(ValueError, match="Encoder: hidden_size must be a positive integer"):
        Encoder(V, D, 0)
    with pytest.raises(ValueError, match="Seq2seq.generate: length must be a positive"):
        m.generate(ember.zeros(2, 3, dtype=ember.int64), 0, 0)
