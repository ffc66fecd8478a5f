"""CharLSTM against a PyTorch twin (values and every gradient), its carried state, and
generate: the prompt kept, the state carried, temperature and top-k as nanoGPT's."""
import numpy as np
import pytest

import ember
from ember.models.charlm import CharLSTM, generate
from tests._parity import assert_close, check_grad, check_op, host, import_torch

V, H = 11, 7


def torch_twin(vocab_size, embed_dim=None, hidden_size=H, num_layers=1):
    import_torch()
    from benchmarks.charlm_torch import TorchCharLSTM
    return TorchCharLSTM(vocab_size, embed_dim, hidden_size, num_layers).double()


def ids(shape, seed=0, vocab=V):
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


@pytest.mark.parametrize("embed_dim,num_layers", [(None, 1), (5, 2)])
def test_matches_torch_values_and_gradients(embed_dim, num_layers):
    tm = torch_twin(V, embed_dim, num_layers=num_layers)
    em = CharLSTM(V, embed_dim, hidden_size=H, num_layers=num_layers).double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert list(em.state_dict()) == list(tm.state_dict())
    x = ids((3, 6))
    rng = np.random.default_rng(1)
    h0, c0 = (rng.standard_normal((num_layers, 3, H)) for _ in range(2))
    def flat(model):
        def run(i, h, c):
            logits, (h, c) = model(i, (h, c))
            return logits, h, c
        return run
    check_op(flat(em), flat(tm), inputs=[x, h0, c0])
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(host(ep.grad), tp.grad.numpy(), 1e-10, 1e-10, f"gradient of {name}")


def test_finite_difference_gradient():
    em = CharLSTM(V, hidden_size=4).double()
    x = ember.tensor(ids((2, 3)))
    check_grad(lambda h, c: em(x, (h, c))[0], shapes=((1, 2, 4), (1, 2, 4)))


def test_state_carries_the_prefix():
    ember.manual_seed(0)
    m = CharLSTM(V, hidden_size=H)
    x = ember.tensor(ids((2, 9)))
    with ember.no_grad():
        whole, (h, c) = m(x)
        first, state = m(x[:, :4])
        rest, (h2, _) = m(x[:, 4:], state)
    assert whole.shape == (2, 9, V) and h.shape == c.shape == (1, 2, H)
    assert_close(ember.cat([first, rest], 1).numpy(), whole.numpy(), 1e-6, 1e-6)
    assert_close(h2.numpy(), h.numpy(), 1e-6, 1e-6)


def test_generate_keeps_prompt_and_carries_state():
    ember.manual_seed(0)
    m = CharLSTM(V, hidden_size=H).double()
    prompt = ember.tensor(ids((2, 5)))
    out = generate(m, prompt, 12, top_k=1)  # greedy: deterministic
    assert out.shape == (2, 17) and out.dtype == np.int64
    assert (out[:, :5].numpy() == prompt.numpy()).all()
    seq = prompt  # the same, recomputing the whole prefix at every step
    for _ in range(12):
        with ember.no_grad():
            logits, _ = m(seq)
        seq = ember.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert (seq.numpy() == out.numpy()).all()
    assert generate(m, ember.tensor(ids(4)), 3).shape == (7,)  # unbatched prompt
    assert (generate(m, prompt, 0).numpy() == prompt.numpy()).all()


class FixedLogits(ember.nn.Module):
    """A stand-in model whose next-step logits are always ``logits``."""

    def __init__(self, logits):
        super().__init__()
        self.logits = ember.tensor(logits)

    def forward(self, idx, state=None):
        n = 0 if state is None else state
        return self.logits.expand(idx.shape[0], idx.shape[1], -1), n + idx.shape[1]


def test_top_k_and_temperature_follow_nanogpt():
    logits = np.array([0.0, 3.0, 2.5, -1.0, 1.0])
    m = FixedLogits(logits)
    start = ember.zeros(1, 1, dtype=ember.int64)
    ember.manual_seed(0)
    drawn = generate(m, start.expand(400, 1), 1, top_k=2).numpy()[:, 1]
    assert set(drawn) == {1, 2}  # only the two largest logits
    frac = (drawn == 1).mean()  # softmax over (3.0, 2.5): 0.622
    assert abs(frac - 1 / (1 + np.exp(-0.5))) < 0.08
    cold = generate(m, start.expand(50, 1), 1, temperature=1e-3).numpy()[:, 1]
    assert (cold == 1).all()
    hot = generate(m, start.expand(2000, 1), 1, temperature=100.0).numpy()[:, 1]
    assert set(hot) == set(range(5))  # nearly uniform
    assert generate(m, start, 3, top_k=99).shape == (1, 4)  # k above the vocabulary: all


def test_generator_seeds_the_draws():
    m = FixedLogits(np.zeros(6))
    start = ember.zeros(3, 1, dtype=ember.int64)
    a = generate(m, start, 20, generator=5).numpy()
    b = generate(m, start, 20, generator=np.random.default_rng(5)).numpy()
    c = generate(m, start, 20, generator=6).numpy()
    assert (a == b).all() and not (a == c).all()
    assert a.min() >= 0 and a.max() <= 5
    one = FixedLogits(np.array([-np.inf, 0.0, -np.inf]))
    assert (generate(one, start, 10, generator=0).numpy()[:, 1:] == 1).all()


def test_errors():
    m = CharLSTM(V, hidden_size=H)
    with pytest.raises(ValueError, match=r"CharLSTM: expected int64 character ids of shape "
                                         r"\(batch, time\), got shape \(2, 3, 4\)"):
        m(ember.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="CharLSTM: expected int64.*dtype float32"):
        m(ember.zeros(2, 3))
    for bad in ({"vocab_size": 0}, {"hidden_size": 2.5}, {"embed_dim": 0},
                {"num_layers": True}):
        with pytest.raises(ValueError, match=f"CharLSTM: {next(iter(bad))} must be an int"):
            CharLSTM(**{"vocab_size": V, **bad})
    p = ember.tensor(ids((1, 3)))
    with pytest.raises(ValueError, match=r"generate: prompt_ids must be int ids.*\(1, 0\)"):
        generate(m, ember.zeros(1, 0, dtype=ember.int64), 2)
    with pytest.raises(ValueError, match="generate: prompt_ids.*float32"):
        generate(m, ember.zeros(1, 3), 2)
    with pytest.raises(ValueError, match="generate: max_new_tokens must be an int >= 0"):
        generate(m, p, -1)
    with pytest.raises(ValueError, match="generate: temperature must be > 0, got 0"):
        generate(m, p, 2, temperature=0)
    with pytest.raises(ValueError, match="generate: top_k must be None or an int >= 1"):
        generate(m, p, 2, top_k=0)


def test_repr_and_dropout_layers():
    m = CharLSTM(V, 8, hidden_size=H, num_layers=2, dropout=0.2)
    assert "vocab_size=11, embed_dim=8, hidden_size=7, num_layers=2" in repr(m)
    assert m.lstm.dropout == 0.2 and m.drop.p == 0.2
    assert CharLSTM(V, hidden_size=H, dropout=0.2).lstm.dropout == 0.0  # one layer: none
