"""ShowAttendTell (image captioning) against the same model written in PyTorch (float64:
scores, loss, every parameter's gradient, greedy captions), for additive and dot attention;
beam search against an exhaustive search on a tiny vocabulary; beam 1 = greedy; finite
differences; the vocabulary; the input checks."""
import numpy as np
import pytest
from _parity import assert_close, check_grad, copy_from_torch, import_torch

import ember
from ember.models.captioning import END, PAD, START, CaptionVocab, ShowAttendTell, caption_loss

V, E, H, CH = 9, 5, 6, (3, 4, 5)
TOL = {"rtol": 1e-9, "atol": 1e-10}


def small(attention="additive", vocab=V, seed=0):
    ember.manual_seed(seed)
    return ShowAttendTell(vocab, E, H, attention=attention, attention_size=7 if
                          attention == "additive" else None, channels=CH).to(ember.float64)


def torch_show_attend_tell(torch, attention):
    """The model in PyTorch, with ember's submodule names."""
    nn = torch.nn

    class Additive(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = nn.Linear(H, 7), nn.Linear(H, 7, bias=False)
            self.v = nn.Linear(7, 1, bias=False)

        def scores(self, h, feats):
            return self.v(torch.tanh(self.key(feats) + self.query(h).unsqueeze(1))).squeeze(-1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c = [], 1
            for out in CH:
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                           nn.ReLU(), nn.MaxPool2d(2)]
                c = out
            self.encoder = nn.Sequential(*layers)
            self.project = nn.Linear(c, H)
            if attention == "additive":
                self.attention = Additive()
            self.embed = nn.Embedding(V, E)
            self.init_h, self.init_c = nn.Linear(H, H), nn.Linear(H, H)
            self.lstm = nn.LSTMCell(E + H, H)
            self.out = nn.Linear(2 * H, V)

        def encode(self, images):
            feats = self.project(self.encoder(images).flatten(2).transpose(1, 2))
            mean = feats.mean(1)
            return feats, (torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)))

        def step(self, words, feats, state):
            h, c = state
            s = self.attention.scores(h, feats) if attention == "additive" else \
                (feats @ h.unsqueeze(-1)).squeeze(-1) / np.sqrt(H)
            w = torch.softmax(s, -1)
            ctx = (w.unsqueeze(1) @ feats).squeeze(1)
            h, c = self.lstm(torch.cat([self.embed(words), ctx], 1), (h, c))
            return self.out(torch.cat([h, ctx], 1)), (h, c)

        def forward(self, images, caps):
            feats, state = self.encode(images)
            out = []
            for t in range(caps.shape[1]):
                s, state = self.step(caps[:, t], feats, state)
                out.append(s)
            return torch.stack(out, 1)

        def greedy(self, images, max_len):
            feats, state = self.encode(images)
            words, out = torch.full((images.shape[0],), START), []
            for _ in range(max_len):
                s, state = self.step(words, feats, state)
                s[:, [PAD, START]] = -np.inf
                words = s.argmax(-1)
                out.append(words)
            return torch.stack(out, 1)
    return Net().double()


def images(n=3, size=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 1, size, size))


def caps(n=3, t=4, seed=1):
    return np.random.default_rng(seed).integers(0, V, (n, t))


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_loss_gradients_and_greedy_match_pytorch(attention):
    torch = import_torch()
    tm = torch_show_attend_tell(torch, attention)
    em = small(attention)
    assert list(em.state_dict()) == list(tm.state_dict())
    copy_from_torch(em, tm)
    x, c, tgt = images(), caps(), caps(seed=2)
    tgt[0, -1] = PAD  # an ignored position
    es = em(ember.tensor(x), ember.tensor(c))
    ts = tm(torch.tensor(x), torch.tensor(c))
    assert tuple(es.shape) == (3, 4, V)
    assert_close(es.detach().numpy(), ts.detach().numpy(), what="scores", **TOL)
    el = caption_loss(es, ember.tensor(tgt))
    tl = torch.nn.functional.cross_entropy(ts.flatten(0, 1), torch.tensor(tgt).flatten(),
                                           ignore_index=PAD)
    assert_close(el.item(), tl.item(), what="loss", **TOL)
    el.backward()
    tl.backward()
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), what=f"gradient of {name}", **TOL)
    # greedy decoding in eval mode (BatchNorm's running statistics)
    tm.eval()
    with torch.no_grad():
        t_ids = tm.greedy(torch.tensor(x), 5).numpy()
    e_ids = em.generate(ember.tensor(x), 5).numpy()
    assert em.training  # the mode is restored
    for r in range(3):  # ember pads after <end>
        stop = list(t_ids[r]).index(END) + 1 if END in t_ids[r] else 5
        assert list(e_ids[r, :stop]) == list(t_ids[r, :stop])
        assert (e_ids[r, stop:] == PAD).all()


def test_attention_weights_sum_to_one_over_the_cells():
    em = small()
    s, w = em(ember.tensor(images(2, 24)), ember.tensor(caps(2, 3)), need_weights=True)
    assert tuple(s.shape) == (2, 3, V) and tuple(w.shape) == (2, 3, 9)  # 24/8 = 3x3 cells
    assert np.allclose(w.detach().numpy().sum(-1), 1)


def test_gradients_by_finite_differences():
    em = small("additive").eval()
    c = ember.tensor(caps(2, 3))
    check_grad(lambda x: em(x, c), inputs=[images(2, 8)])


def _exhaustive(model, image, max_len):
    """The best caption of every one ending in <end> (or cut at max_len), by summed
    log-probability, scoring each prefix with the model's own step."""
    with ember.no_grad():
        feats = model.encode(image)
        keys = model.attention.keys(feats)
        best = (-np.inf, None)
        words = [w for w in range(model.vocab_size) if w not in (PAD, START)]

        def grow(seq, logp, state):
            nonlocal best
            word = seq[-1] if seq else START
            scores, new, _ = model.step(ember.tensor([word]), feats, keys, state)
            lp = model._log_probs(scores)[0]
            for w in words:
                total, cand = logp + lp[w], seq + [w]
                if w == END or len(cand) == max_len:
                    if total > best[0]:
                        best = (total, cand)
                else:
                    grow(cand, total, new)
        grow([], 0.0, model.start_state(feats))
    return best


# (seed, <end> bias): the best caption is 4 words long ((0, -2), (3, -3)), or just <end>
# while greedy decoding (and beam 2) read 4 words first ((1, -1)), or <end> at once
@pytest.mark.parametrize("seed, end_bias", [(0, -2.0), (3, -3.0), (1, -1.0), (4, 0.0)])
def test_wide_beam_equals_exhaustive_search(seed, end_bias):
    model = small("additive", vocab=6, seed=seed).eval()
    with ember.no_grad():  # sharper distributions than the initial ones
        model.out.weight.mul_(4.0)
        model.out.bias[END] = end_bias
    x = ember.tensor(images(1, 16, seed=seed))
    want_logp, want = _exhaustive(model, x, 4)
    with ember.no_grad():
        feats = model.encode(x)
        got, logp = model._beam(feats, model.attention.keys(feats), 4, beam_size=64)
    assert got == want
    assert abs(logp - want_logp) < 1e-9
    ids = model.generate(x, 4, beam_size=64).numpy()[0]
    assert list(ids[:len(want)]) == want and (ids[len(want):] == PAD).all()
    if seed == 1:  # the case where the search matters
        assert list(model.generate(x, 4).numpy()[0]) != list(ids)


@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_beam_of_one_is_greedy_exactly(attention):
    model = small(attention, seed=3).eval()
    x = ember.tensor(images(4, 16, seed=4))
    greedy = model.generate(x, 6).numpy()
    with ember.no_grad():
        feats = model.encode(x)
        keys = model.attention.keys(feats)
        for i in range(4):
            ids, _ = model._beam(feats[i:i + 1], None if keys is None else keys[i:i + 1], 6, 1)
            row = list(greedy[i])
            assert ids == row[:len(ids)] and all(v == PAD for v in row[len(ids):])
    assert model.generate(x, 6, beam_size=3).shape == (4, 6)


def test_vocabulary_round_trip_and_batches():
    vocab = CaptionVocab(["a sneaker left of a bag", "an ankle boot"])
    assert vocab.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert vocab.itos[4:] == sorted(["a", "sneaker", "left", "of", "bag", "an", "ankle",
                                     "boot"])
    ids = vocab.encode("A bag left of a hat")
    assert ids[-1] == 3 and vocab.decode(ids + [END, 5]) == "a bag left of a <unk>"
    inputs, targets = vocab.batch(["an ankle boot", "a bag"])
    assert inputs.shape == targets.shape == (2, 4)
    assert list(inputs[1]) == [START] + vocab.encode("a bag") + [PAD]
    assert list(targets[1]) == vocab.encode("a bag") + [END, PAD]
    assert list(targets[0]) == vocab.encode("an ankle boot") + [END]
    assert vocab.batch(["an ankle boot"], max_len=2)[1].tolist() == [vocab.encode("an ankle")]
    again = CaptionVocab.from_state_dict(vocab.state_dict())
    assert again.itos == vocab.itos and again.stoi == vocab.stoi
    assert len(vocab) == 12


def test_bad_input_is_refused():
    model = small()
    x = ember.tensor(images(2))
    with pytest.raises(ValueError, match="attention must be 'additive' or 'dot'"):
        ShowAttendTell(V, attention="general")
    with pytest.raises(ValueError, match="vocab_size must exceed"):
        ShowAttendTell(2)
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        ShowAttendTell(V, hidden_size=0)
    with pytest.raises(ValueError, match=r"images must be \(N, C, H, W\), got shape \(16, 16\)"):
        model(ember.zeros(16, 16, dtype=ember.float64), ember.tensor(caps(1)))
    with pytest.raises(ValueError, match=r"N = 2 images, got shape \(3, 4\)"):
        model(x, ember.tensor(caps(3)))
    with pytest.raises(ValueError, match="int ids"):
        model(x, ember.zeros(2, 3))
    with pytest.raises(ValueError, match=r"caption ids must be in \[0, 9\)"):
        model(x, ember.tensor(np.full((2, 3), 9)))
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        model.generate(x, 0)
    with pytest.raises(ValueError, match="beam_size must be an int >= 1"):
        model.generate(x, 3, beam_size=0)
    vocab = CaptionVocab(["a bag"])
    with pytest.raises(ValueError, match="decode: id 99 out of range"):
        vocab.decode([99])
    with pytest.raises(TypeError, match="a caption must be a str"):
        vocab.encode(3)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        vocab.batch(["a bag"], max_len=0)

