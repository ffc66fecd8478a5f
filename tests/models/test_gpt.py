"""ember.models.gpt against nanoGPT's model written in plain PyTorch here (weights copied),
in float64: logits, loss and every parameter's gradient; the key/value cache against the
uncached generation, token for token."""
import math

import numpy as np
import pytest
from _parity import assert_close, check_grad, import_torch

import ember
from ember.models.gpt import GPT, GPTConfig, KVCache

TOL = {"rtol": 1e-9, "atol": 1e-10}


def torch_gpt(torch, cfg):
    """nanoGPT's GPT (model.py), in plain PyTorch, same names."""
    nn, F = torch.nn, torch.nn.functional

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
            self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(cfg.n_embd, dim=2)
            q, k, v = (t.view(B, T, cfg.n_head, C // cfg.n_head).transpose(1, 2)
                       for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
            self.attn = Attn()
            self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict({
                "wte": nn.Embedding(cfg.vocab_size, cfg.n_embd),
                "wpe": nn.Embedding(cfg.block_size, cfg.n_embd),
                "drop": nn.Dropout(cfg.dropout),
                "h": nn.ModuleList([Block() for _ in range(cfg.n_layer)]),
                "ln_f": nn.LayerNorm(cfg.n_embd, bias=cfg.bias)})
            self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight

        def forward(self, idx, targets=None):
            t = idx.shape[1]
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is None:
                return self.lm_head(x[:, [-1], :]), None
            logits = self.lm_head(x)
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1),
                                           ignore_index=-1)

    return Net()


def small(bias=True, **kw):
    cfg = {"block_size": 8, "vocab_size": 11, "n_layer": 2, "n_head": 2, "n_embd": 8, "dropout": 0.0,
               "bias": bias}
    cfg.update(kw)
    return GPTConfig(**cfg)


def twins(cfg, seed=0):
    torch = import_torch()
    ember.manual_seed(seed)
    em = GPT(cfg).double()
    tm = torch_gpt(torch, cfg).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in em.state_dict().items()})
    return em, tm, torch


@pytest.mark.parametrize("bias", [True, False])
def test_logits_loss_and_gradients_match_pytorch(bias):
    cfg = small(bias)
    em, tm, torch = twins(cfg)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg.vocab_size, (3, 7))
    targets = rng.integers(0, cfg.vocab_size, (3, 7))
    targets[0, :3] = -1  # ignored positions
    e_logits, e_loss = em(ember.tensor(idx), ember.tensor(targets))
    t_logits, t_loss = tm(torch.tensor(idx), torch.tensor(targets))
    assert tuple(e_logits.shape) == (3, 7, cfg.vocab_size)
    assert_close(e_logits.detach().numpy(), t_logits.detach().numpy(), **TOL)
    assert_close(e_loss.item(), t_loss.item(), **TOL)
    e_loss.backward()
    t_loss.backward()
    t_params = dict(tm.named_parameters())
    assert [n for n, _ in em.named_parameters()] == list(t_params)
    for name, p in em.named_parameters():
        assert_close(p.grad.numpy(), t_params[name].grad.numpy(), what=name, **TOL)
    # without targets: the last position only
    e_last, none = em(ember.tensor(idx))
    t_last, _ = tm(torch.tensor(idx))
    assert none is None and tuple(e_last.shape) == (3, 1, cfg.vocab_size)
    assert_close(e_last.detach().numpy(), t_last.detach().numpy(), **TOL)


def test_state_dict_keys_are_nanogpts_and_weights_are_tied():
    em = GPT(small())
    keys = list(em.state_dict())
    block = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
             "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
             "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
    assert keys == (["transformer.wte.weight", "transformer.wpe.weight"]
                    + [f"transformer.h.{i}.{k}" for i in range(2) for k in block]
                    + ["transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"])
    assert em.lm_head.weight is em.transformer.wte.weight
    assert "lm_head.weight" not in dict(em.named_parameters())
    no_bias = list(GPT(small(bias=False)).state_dict())
    assert not [k for k in no_bias if k.endswith(".bias")]
    # nanoGPT's parameter count for its config: 12 n_embd^2 per layer + embeddings + norms
    n, c = em.get_num_params(), 8
    assert n == 11 * c + 2 * (12 * c * c + 13 * c) + 2 * c
    assert em.get_num_params(non_embedding=False) == n + 8 * c


def test_init_is_nanogpts():
    ember.manual_seed(0)
    cfg = GPTConfig(block_size=64, vocab_size=512, n_layer=4, n_head=4, n_embd=128)
    m = GPT(cfg)
    assert abs(m.transformer.wte.weight.detach().numpy().std() - 0.02) < 1e-3
    assert abs(m.transformer.h[0].mlp.c_fc.weight.detach().numpy().std() - 0.02) < 1e-3
    proj = np.concatenate([m.transformer.h[i].mlp.c_proj.weight.detach().numpy().ravel()
                           for i in range(4)])
    assert abs(proj.std() - 0.02 / math.sqrt(8)) < 5e-4
    assert not m.transformer.h[0].attn.c_attn.bias.detach().numpy().any()
    assert (m.transformer.ln_f.weight.detach().numpy() == 1).all()


def test_finite_differences_through_a_block():
    ember.manual_seed(0)
    m = GPT(small(n_layer=1)).double()
    m.transformer.h[0].ln_1.bias.data.normal_()  # no symmetric special case

    def fn(x):
        return m.lm_head(m.transformer.ln_f(m.transformer.h[0](x)))
    check_grad(fn, shapes=((2, 5, 8),))


def test_configure_optimizers_decays_only_matrices():
    m = GPT(small())
    opt = m.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cpu")
    assert isinstance(opt, ember.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and len(decay["params"]) == 2 + 2 * 4
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert decay["lr"] == 6e-4 and decay["betas"] == (0.9, 0.95)
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == m.get_num_params(non_embedding=False)


def test_cached_forward_equals_the_full_forward():
    ember.manual_seed(1)
    cfg = small()
    m = GPT(cfg).double().eval()
    idx = ember.tensor(np.random.default_rng(1).integers(0, 11, (2, 7)))
    full, _ = m(idx, idx)  # every position's logits
    cache = KVCache(cfg)
    with ember.no_grad():
        first, _ = m(idx[:, :3], kv_cache=cache)      # a prompt of 3
        two, _ = m(idx[:, 3:5], kv_cache=cache)       # two at once: the bottom-right mask
        last, _ = m(idx[:, 5:6], kv_cache=cache)      # one
    assert cache.length == 6
    for got, pos in ((first, 2), (two, 4), (last, 5)):
        assert_close(got.numpy()[:, 0], full.detach().numpy()[:, pos], **TOL)


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 3), (1.5, 1)])
def test_cached_and_uncached_sampling_agree_token_for_token(temperature, top_k):
    ember.manual_seed(2)
    m = GPT(small()).double()
    prompt = ember.tensor([[1, 2, 3], [4, 5, 6]])
    # 20 new tokens from 3: the sequence outgrows block_size 8, so both paths crop
    a = m.generate(prompt, 20, temperature, top_k, generator=7, use_cache=True)
    b = m.generate(prompt, 20, temperature, top_k, generator=7, use_cache=False)
    assert tuple(a.shape) == (2, 23) and m.training  # the module's mode is restored
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy()[:, :3], prompt.numpy())
    # ember's own generator, reseeded: also the same tokens
    ember.manual_seed(5)
    c = m.generate(prompt[0], 6, temperature, top_k)
    ember.manual_seed(5)
    d = m.generate(prompt[0], 6, temperature, top_k, use_cache=False)
    assert tuple(c.shape) == (9,)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_top_k_one_is_greedy_and_float32_agrees():
    ember.manual_seed(3)
    m = GPT(small())  # float32
    prompt = ember.tensor([[0, 1]])
    out = m.generate(prompt, 12, top_k=1, generator=0)
    seq = prompt
    for _ in range(12):
        logits, _ = m(seq[:, -8:])
        seq = ember.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
    np.testing.assert_array_equal(out.numpy(), seq.numpy())


def test_errors_name_the_model_and_shapes():
    m = GPT(small())
    with pytest.raises(ValueError, match=r"GPT: cannot forward a sequence of length 9.*"
                                         r"block_size is only 8 \(idx \(1, 9\)\)"):
        m(ember.zeros(1, 9, dtype=ember.int64))
    cache = KVCache(m.config)
    with ember.no_grad():
        m(ember.zeros(1, 6, dtype=ember.int64), kv_cache=cache)
    with pytest.raises(ValueError, match="length 3 after 6 cached positions"):
        m(ember.zeros(1, 3, dtype=ember.int64), kv_cache=cache)
    with pytest.raises(ValueError, match=r"GPT: idx must be int token ids.*\(2, 3, 4\)"):
        m(ember.zeros(2, 3, 4, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"GPT: idx must be int.*float32"):
        m(ember.zeros(2, 3))
    with pytest.raises(ValueError, match=r"targets must have idx's shape \(2, 3\), got \(2, 4\)"):
        m(ember.zeros(2, 3, dtype=ember.int64), ember.zeros(2, 4, dtype=ember.int64))
    with pytest.raises(ValueError, match="n_embd \\(8\\) must be divisible by n_head \\(3\\)"):
        GPT(small(n_head=3))
    with pytest.raises(ValueError, match="config.n_layer must be an int >= 1"):
        GPT(small(n_layer=0))
    with pytest.raises(ValueError, match="dropout must be in"):
        GPT(small(dropout=1.0))
    prompt = ember.tensor([[1]])
    for kwargs, err in (({"temperature": 0}, "temperature must be > 0"),
                        ({"top_k": 0}, "top_k must be None or an int >= 1"),
                        ({"max_new_tokens": -1}, "max_new_tokens must be an int >= 0")):
        args = {"max_new_tokens": 2, **kwargs}
        with pytest.raises(ValueError, match=f"GPT.generate: {err}"):
            m.generate(prompt, **args)
    with pytest.raises(ValueError, match="GPT.generate: idx must be int ids"):
        m.generate(ember.zeros(1, 0, dtype=ember.int64), 2)
    with pytest.raises(ValueError, match="crop_block_size"):
        m.crop_block_size(9)


def test_crop_block_size_and_dropout_training():
    ember.manual_seed(4)
    m = GPT(small(dropout=0.2))
    m.crop_block_size(4)
    assert tuple(m.transformer.wpe.weight.shape) == (4, 8) and m.config.block_size == 4
    idx = ember.zeros(2, 4, dtype=ember.int64)
    _, loss = m(idx, idx)
    loss.backward()
    assert np.isfinite(loss.item()) and m.transformer.wte.weight.grad is not None
    m.eval()
    a, _ = m(idx)
    b, _ = m(idx)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())  # no dropout in eval
