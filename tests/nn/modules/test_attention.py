"""nn.MultiheadAttention against torch.nn's in float64: outputs, attention weights, the
inputs' and every parameter's gradient, for each constructor and call argument; its
parameters, initialisation, dropout and errors."""
import numpy as np
import pytest
from _parity import assert_close, check_op, copy_from_torch, host, import_torch

import ember

torch = import_torch()

E, H, L, S, N = 8, 2, 4, 5, 3


def pair(*args, **kwargs):
    return (ember.nn.MultiheadAttention(*args, **kwargs).double(),
            torch.nn.MultiheadAttention(*args, **kwargs).double())


def check_layer(em, tm, fn, shapes, **kwargs):
    """check_op of ``fn(layer, m, *xs)`` (its non-None outputs) with torch's weights, then
    every parameter's gradient."""
    copy_from_torch(em, tm)
    check_op(lambda *x: [o for o in fn(em, ember, *x) if o is not None],
             lambda *x: [o for o in fn(tm, torch, *x) if o is not None], shapes=shapes,
             **kwargs)
    names = [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_parameters()] == names
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        tg = np.zeros(tuple(tp.shape)) if tp.grad is None else tp.grad.numpy()
        eg = np.zeros(tuple(ep.shape)) if ep.grad is None else host(ep.grad)
        assert_close(eg, tg, 1e-10, 1e-10, f"gradient of {n}")


def mask(m, shape, kind, seed=0):
    """A bool mask (True: masked, never a whole row) or a float one, of either library."""
    rng = np.random.default_rng(seed)
    if kind == "bool":
        a = rng.random(shape) < 0.3
        a[..., 0] = False
        return m.tensor(a)
    return m.tensor(rng.standard_normal(shape))


CALLS = [{}, {"need_weights": False}, {"average_attn_weights": False},
         {"attn_mask": ("bool", (L, S))}, {"attn_mask": ("float", (N * H, L, S))},
         {"key_padding_mask": ("bool", (N, S))},
         {"attn_mask": ("bool", (L, S)), "key_padding_mask": ("bool", (N, S)),
          "need_weights": False},
         {"attn_mask": ("float", (L, S)), "key_padding_mask": ("float", (N, S)),
          "average_attn_weights": False},
         {"attn_mask": ("float", (N * H, L, S)), "key_padding_mask": ("bool", (N, S))}]


def _call(m, case):
    return {k: mask(m, v[1], v[0], i) if isinstance(v, tuple) else v
            for i, (k, v) in enumerate(case.items())}


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("case", CALLS, ids=str)
def test_call_arguments_match_torch(case):
    check_layer(*pair(E, H), lambda a, m, q, k, v: a(q, k, v, **_call(m, case)),
                shapes=[(L, N, E), (S, N, E), (S, N, E)])


@pytest.mark.parametrize("config", [
    {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True}, {"kdim": 3, "vdim": 5},
    {"kdim": 3, "vdim": 5, "add_bias_kv": True, "add_zero_attn": True, "bias": False},
    {"batch_first": True}, {"num_heads": 1}, {"num_heads": 4}], ids=str)
@pytest.mark.parametrize("need_weights", [True, False])
def test_constructor_arguments_match_torch(config, need_weights):
    config = dict(config)
    heads = config.pop("num_heads", H)
    kd, vd = config.get("kdim", E), config.get("vdim", E)
    bf = config.get("batch_first", False)
    shapes = [(N, L, E), (N, S, kd), (N, S, vd)] if bf else [(L, N, E), (S, N, kd), (S, N, vd)]
    check_layer(*pair(E, heads, **config), lambda a, m, q, k, v: a(
        q, k, v, need_weights=need_weights, attn_mask=mask(m, (L, S), "bool", 1),
        key_padding_mask=mask(m, (N, S), "bool", 2), average_attn_weights=False),
        shapes=shapes)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [True, False])
def test_self_attention_unbatched_and_causal(need_weights, batch_first):
    causal = np.triu(np.ones((L, L), bool), 1)
    check_layer(*pair(E, H, batch_first=batch_first), lambda a, m, x: a(
        x, x, x, need_weights=need_weights, attn_mask=m.tensor(causal), is_causal=True),
        shapes=[(N, L, E) if batch_first else (L, N, E)])
    check_layer(*pair(E, H, batch_first=batch_first), lambda a, m, q, k, v: a(
        q, k, v, need_weights=need_weights, key_padding_mask=mask(m, (S,), "bool", 3),
        attn_mask=mask(m, (H, L, S), "float", 4)), shapes=[(L, E), (S, E), (S, E)])


def test_cross_attention_key_is_value_and_float_mask_gradient():
    check_layer(*pair(E, H, batch_first=True), lambda a, m, q, kv: a(q, kv, kv),
                shapes=[(N, L, E), (N, S, E)])
    check_layer(*pair(E, H), lambda a, m, q, k, v, am: a(q, k, v, attn_mask=am,
                                                         need_weights=False),
                shapes=[(L, N, E), (S, N, E), (S, N, E), (L, S)])


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_fully_masked_queries_as_torch():
    """All keys of one batch element masked: NaN weights and outputs with need_weights (the
    explicit softmax), zeros from the fused attention, as PyTorch."""
    kpm = np.zeros((N, S), bool)
    kpm[1] = True
    for nw in (True, False):
        check_layer(*pair(E, H), lambda a, m, x, nw=nw: a(
            x, x, x, key_padding_mask=m.tensor(kpm[:, :L]), need_weights=nw),
            shapes=[(L, N, E)], grad=not nw)


def test_parameters_state_dict_and_init():
    em = ember.nn.MultiheadAttention(E, H)
    assert list(em.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                     "out_proj.bias"]
    assert em.in_proj_weight.shape == (3 * E, E) and em.q_proj_weight is None
    assert em._qkv_same_embed_dim and em.head_dim == E // H
    assert not em.in_proj_bias.detach().numpy().any()
    assert not em.out_proj.bias.detach().numpy().any()
    assert np.abs(em.in_proj_weight.detach().numpy()).max() <= np.sqrt(6 / (4 * E))
    assert type(em.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(em.out_proj, ember.nn.Linear)
    em = ember.nn.MultiheadAttention(64, 4, add_bias_kv=True, kdim=3, vdim=5)
    tm = torch.nn.MultiheadAttention(64, 4, add_bias_kv=True, kdim=3, vdim=5)
    assert list(em.state_dict()) == list(tm.state_dict())
    for n, p in tm.state_dict().items():
        assert tuple(em.state_dict()[n].shape) == tuple(p.shape), n
    assert em.in_proj_weight is None and not em._qkv_same_embed_dim
    assert em.k_proj_weight.shape == (64, 3)
    bias_k = em.bias_k.detach().numpy()  # xavier_normal_ of (1, 1, 64): fans 64 and 64
    assert bias_k.std() == pytest.approx(np.sqrt(2 / 128), rel=0.3)
    assert repr(em) == repr(tm)
    assert ember.nn.MultiheadAttention(E, H, dtype=ember.float64).in_proj_weight.dtype == \
        ember.float64


def test_dropout_statistics_and_eval_identity():
    em = ember.nn.MultiheadAttention(E, H, dropout=0.5)
    x = ember.randn(L, N, E)
    em.eval()
    ref, _ = em(x, x, x)
    again, _ = em(x, x, x)
    assert np.array_equal(ref.detach().numpy(), again.detach().numpy())
    em.train()
    ember.manual_seed(0)
    _, w = em(ember.zeros(50, 4, E), ember.zeros(60, 4, E), ember.zeros(60, 4, E),
              average_attn_weights=False)
    w = w.detach().numpy()  # uniform weights 1/60, half dropped, the rest doubled
    assert (w == 0).mean() == pytest.approx(0.5, abs=0.02)
    assert np.allclose(w[w > 0], 2 / 60)
    out, none = em(x, x, x, need_weights=False)
    assert none is None and not np.allclose(out.detach().numpy(), ref.detach().numpy())


def test_bad_arguments_name_the_argument_and_shapes():
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        ember.nn.MultiheadAttention(0, 2)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        ember.nn.MultiheadAttention(8, 3)
    em = ember.nn.MultiheadAttention(E, H)
    x = ember.randn(L, N, E)
    with pytest.raises(RuntimeError, match=r"MultiheadAttention.*2D attn_mask is \(4, 5\), "
                                           r"but should be \(4, 4\)"):
        em(x, x, x, attn_mask=ember.zeros(4, 5, dtype=ember.bool))
    with pytest.raises(AssertionError, match="only bool and floating types of key_padding_mask"):
        em(x, x, x, key_padding_mask=ember.zeros(N, L, dtype=ember.int64))
    with pytest.raises(AssertionError, match=r"query \(4, 3, 8\), key \(4, 3, 5\)"):
        em(x, ember.randn(L, N, 5), ember.randn(L, N, 5))
    with pytest.raises(AssertionError, match=r"key_padding_mask of shape \(3, 4\) \(N, S\), "
                                             r"but got \(3, 5\)"):
        em(x, x, x, key_padding_mask=ember.zeros(N, 5, dtype=ember.bool))
    with pytest.raises(AssertionError, match=r"Expected `attn_mask` shape to be \(2, 4, 4\) "
                                             r"but got \(6, 4, 4\)"):
        em(x[:, 0], x[:, 0], x[:, 0], attn_mask=ember.zeros(6, 4, 4))


def test_merge_masks_as_torch():
    em, tm = pair(E, H, batch_first=True)
    rng = np.random.default_rng(0)
    q, am3 = rng.standard_normal((N, L, E)), rng.standard_normal((N * H, L, L))
    am2, kpm = rng.standard_normal((L, L)), rng.standard_normal((N, L))
    for a, k in ((None, None), (None, kpm), (am2, None), (am2, kpm), (am3, kpm)):
        def run(layer, m, a=a, k=k):
            return layer.merge_masks(None if a is None else m.tensor(a),
                                     None if k is None else m.tensor(k), m.tensor(q))
        (e, et), (t, tt) = run(em, ember), run(tm, torch)
        assert et == tt and (e is None) == (t is None)
        if t is not None:
            assert_close(e.numpy(), t.numpy(), 0, 0, "merged mask")


@pytest.mark.parametrize("need_weights", [True, False])
def test_float32_matches_torch(need_weights):
    em, tm = pair(E, H)
    em, tm = em.float(), tm.float()
    copy_from_torch(em, tm)
    check_op(lambda q, k, v: [o for o in em(q, k, v, need_weights=need_weights,
                                            key_padding_mask=mask(ember, (N, S), "bool", 1),
                                            attn_mask=mask(ember, (L, S), "bool", 2))
                              if o is not None],
             lambda q, k, v: [o for o in tm(q, k, v, need_weights=need_weights,
                                            key_padding_mask=mask(torch, (N, S), "bool", 1),
                                            attn_mask=mask(torch, (L, S), "bool", 2))
                              if o is not None],
             shapes=[(L, N, E), (S, N, E), (S, N, E)], dtype=np.float32)
