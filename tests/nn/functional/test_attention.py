"""scaled_dot_product_attention against torch.nn.functional's, in float64: outputs and the
gradients of query, key, value and a float mask; masks, causality, scale, GQA, dropout."""
import numpy as np
import pytest
from _parity import check_grad, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F

torch = import_torch()

Q, K, V = (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)


def both(fn, **kwargs):
    """check_op of ``fn(m, *xs)`` with m = ember and m = torch."""
    check_op(lambda *x: fn(ember, *x), lambda *x: fn(torch, *x), **kwargs)


def sdpa(m, *args, **kwargs):
    return m.nn.functional.scaled_dot_product_attention(*args, **kwargs)


def _mask(lib, shape, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "bool":
        a = rng.random(shape) > 0.3
        a[..., 0] = True  # every row attends somewhere (fully masked rows: tested apart)
        return lib.tensor(a)
    return lib.tensor(rng.standard_normal(shape))


@pytest.mark.parametrize("case", [
    {}, {"scale": 0.3}, {"is_causal": True}, {"mask": ("bool", (4, 6))},
    {"mask": ("bool", (2, 1, 4, 6))}, {"mask": ("float", (3, 4, 6))},
    {"mask": ("float", (1, 6))}, {"is_causal": True, "scale": 2.0}], ids=str)
def test_matches_torch(case):
    case = dict(case)
    mask = case.pop("mask", None)

    def fn(m, q, k, v):
        if mask is not None:
            case["attn_mask"] = _mask(m, mask[1], 0, mask[0])
        return sdpa(m, q, k, v, **case)

    both(fn, shapes=[Q, K, V])


def test_float_mask_gradient_matches_torch():
    both(lambda m, q, k, v, mask: sdpa(m, q, k, v, attn_mask=mask),
             shapes=[Q, K, V, (3, 4, 6)])


def test_causal_with_more_queries_than_keys_and_unbatched():
    both(lambda m, q, k, v: sdpa(m, q, k, v, is_causal=True), shapes=[(6, 5), (4, 5), (4, 3)])
    both(lambda m, q, k, v: sdpa(m, q, k, v), shapes=[(3, 5), (4, 5), (4, 2)])


def test_grouped_query_attention_matches_torch():
    both(lambda m, q, k, v: sdpa(m, q, k, v, enable_gqa=True),
             shapes=[(2, 6, 4, 5), (2, 2, 6, 5), (2, 2, 6, 7)])


def test_fully_masked_rows_give_zeros_as_torch():
    def fn(m, q, k, v):
        a = np.ones((4, 6), dtype=bool)
        a[1] = False
        return sdpa(m, q, k, v, attn_mask=m.tensor(a))

    both(fn, shapes=[Q, K, V])


def test_gradients_by_finite_differences():
    mask = ember.tensor(np.random.default_rng(1).standard_normal((4, 6)))
    check_grad(lambda q, k, v: sdpa(ember, q, k, v, attn_mask=mask), shapes=[Q, K, V])
    check_grad(lambda q, k, v: sdpa(ember, q, k, v, is_causal=True), shapes=[Q, K, V])


def test_dropout_statistics_and_gradient():
    ember.manual_seed(0)
    q = ember.zeros(1, 1, 200, 8)  # uniform attention: each weight 1/S
    k, v = ember.zeros(1, 1, 50, 8), ember.ones(1, 1, 50, 1, requires_grad=True)
    out = sdpa(ember, q, k, v, dropout_p=0.25)
    # out = mean over keys of keep / (1 - p): about 1, spread sqrt(p / ((1 - p) S))
    assert abs(out.detach().numpy().mean() - 1) < 0.02
    assert out.detach().numpy().std() == pytest.approx(np.sqrt(0.25 / 0.75 / 50), rel=0.2)
    out.sum().backward()
    assert v.grad.numpy().sum() == pytest.approx(out.detach().numpy().sum())  # linear in v
    assert np.allclose(sdpa(ember, q, k, v, dropout_p=0.0).detach().numpy(), 1)


def test_float32_matches_torch():
    both(lambda m, q, k, v: sdpa(m, q, k, v, is_causal=True), shapes=[Q, K, V],
             dtype=np.float32)


def test_bad_input_names_the_argument_and_shapes():
    q, k, v = ember.randn(*Q), ember.randn(*K), ember.randn(*V)
    with pytest.raises(RuntimeError, match="should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=ember.ones(4, 6, dtype=ember.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(5, 6\) does not broadcast "
                                           r"to the scores' shape \(2, 3, 4, 6\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=ember.ones(5, 6, dtype=ember.bool))
    with pytest.raises(RuntimeError, match=r"query \(2, 3, 4, 5\), key \(2, 3, 6, 4\)"):
        F.scaled_dot_product_attention(q, ember.randn(2, 3, 6, 4), v)
    with pytest.raises(RuntimeError, match="same sequence length"):
        F.scaled_dot_product_attention(q, k, ember.randn(2, 3, 5, 7))
    with pytest.raises(RuntimeError, match="attn_mask must be bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=ember.ones(4, 6, dtype=ember.int64))


# ---- multi_head_attention_forward ------------------------------------------------------

E, H, L, S, N = 6, 2, 4, 5, 3


def mha(m, q, k, v, w, b, wo, bo, **kwargs):
    """F.multi_head_attention_forward with packed weights, its outputs minus a None."""
    kwargs.setdefault("training", False)
    out = m.nn.functional.multi_head_attention_forward(
        q, k, v, E, H, w, b, kwargs.pop("bias_k", None), kwargs.pop("bias_v", None),
        kwargs.pop("add_zero_attn", False), kwargs.pop("dropout_p", 0.0), wo, bo, **kwargs)
    return [o for o in out if o is not None]


PACKED = [(L, N, E), (S, N, E), (S, N, E), (3 * E, E), (3 * E,), (E, E), (E,)]


def _bool(m, shape, seed, p=0.3):
    """A bool mask with True (masked) at rate p, never masking a whole row."""
    a = np.random.default_rng(seed).random(shape) < p
    a[..., 0] = False
    return m.tensor(a)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("case", [
    {}, {"attn_mask": ("bool", (L, S))}, {"attn_mask": ("float", (N * H, L, S))},
    {"key_padding_mask": ("bool", (N, S))}, {"key_padding_mask": ("float", (N, S))},
    {"attn_mask": ("bool", (N * H, L, S)), "key_padding_mask": ("bool", (N, S))},
    {"attn_mask": ("float", (L, S)), "key_padding_mask": ("float", (N, S))},
    {"average_attn_weights": False}], ids=str)
def test_mha_forward_matches_torch(case, need_weights):
    def fn(m, *xs):
        kwargs = {k: (_bool(m, spec[1], i) if spec[0] == "bool" else
                      m.tensor(np.random.default_rng(i).standard_normal(spec[1])))
                  if isinstance(spec, tuple) else spec for i, (k, spec) in enumerate(case.items())}
        return mha(m, *xs, need_weights=need_weights, **kwargs)

    both(fn, shapes=PACKED)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_self_attention_and_unbatched(need_weights):
    both(lambda m, x, *w: mha(m, x, x, x, *w, need_weights=need_weights),
         shapes=[(L, N, E)] + PACKED[3:])
    both(lambda m, q, k, v, *w: mha(m, q, k, v, *w, need_weights=need_weights,
                                    key_padding_mask=_bool(m, (S,), 1),
                                    attn_mask=_bool(m, (H, L, S), 2)),
         shapes=[(L, E), (S, E), (S, E)] + PACKED[3:])


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_forward_separate_weights_bias_kv_zero_attn(need_weights):
    def fn(m, q, k, v, wq, wk, wv, b, wo, bo, bk, bv):
        return mha(m, q, k, v, None, b, wo, bo, use_separate_proj_weight=True,
                   q_proj_weight=wq, k_proj_weight=wk, v_proj_weight=wv, bias_k=bk, bias_v=bv,
                   add_zero_attn=True, need_weights=need_weights,
                   attn_mask=_bool(m, (L, S), 3), key_padding_mask=_bool(m, (N, S), 4),
                   average_attn_weights=False)

    both(fn, shapes=[(L, N, E), (S, N, 4), (S, N, 3), (E, E), (E, 4), (E, 3), (3 * E,),
                     (E, E), (E,), (1, 1, E), (1, 1, E)])


def test_mha_forward_static_kv_float_mask_gradient_and_causal_hint():
    hd = E // H
    both(lambda m, q, k, v, w, b, wo, bo, sk, sv: mha(
        m, q, k, v, w, b, wo, bo, static_k=sk, static_v=sv),
        shapes=PACKED + [(N * H, 7, hd), (N * H, 7, hd)])
    both(lambda m, q, k, v, w, b, wo, bo, mask: mha(m, q, k, v, w, b, wo, bo, attn_mask=mask,
                                                    need_weights=False),
         shapes=PACKED + [(L, S)])
    causal = np.triu(np.ones((L, L), bool), 1)
    for nw in (True, False):
        both(lambda m, x, *w, nw=nw: mha(m, x, x, x, *w, attn_mask=m.tensor(causal),
                                         is_causal=True, need_weights=nw),
             shapes=[(L, N, E)] + PACKED[3:])


def test_mha_forward_gradients_by_finite_differences():
    check_grad(lambda *xs: mha(ember, *xs, attn_mask=_bool(ember, (L, S), 0))[0],
               shapes=PACKED)
    check_grad(lambda *xs: mha(ember, *xs, key_padding_mask=_bool(ember, (N, S), 0),
                               need_weights=False)[0], shapes=PACKED)


def test_mha_forward_dropout_in_training_only():
    ember.manual_seed(0)
    xs = [ember.tensor(a) for a in random_inputs(PACKED)]
    ref = mha(ember, *xs, need_weights=False)[0]
    for nw in (True, False):
        assert np.allclose(mha(ember, *xs, dropout_p=0.5, need_weights=nw)[0].numpy(),
                           ref.numpy())  # training=False: no dropout
        out = mha(ember, *xs, dropout_p=0.5, training=True, need_weights=nw)
        assert not np.allclose(out[0].detach().numpy(), ref.numpy())
    weights = mha(ember, *xs, dropout_p=0.5, training=True, average_attn_weights=False)[1]
    w = weights.numpy()
    assert 0.35 < (w == 0).mean() < 0.65  # about half dropped, the rest scaled by 2
    assert np.allclose(w.sum(-1).mean(), 1, atol=0.15)


def test_mha_forward_bad_input_names_the_argument_and_shapes():
    xs = [ember.tensor(a) for a in random_inputs(PACKED)]
    q, k, v, *w = xs
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(5, 5\), but should be \(4, 5\)"):
        mha(ember, *xs, attn_mask=ember.zeros(5, 5))
    with pytest.raises(RuntimeError, match=r"3D attn_mask is \(2, 4, 5\), but should be "
                                           r"\(6, 4, 5\)"):
        mha(ember, *xs, attn_mask=ember.zeros(2, 4, 5))
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask"):
        mha(ember, *xs, attn_mask=ember.zeros(4, 5, dtype=ember.int64))
    with pytest.raises(AssertionError, match=r"key_padding_mask of shape \(3, 5\) \(N, S\), "
                                             r"but got \(3, 4\)"):
        mha(ember, *xs, key_padding_mask=ember.zeros(3, 4, dtype=ember.bool))
    with pytest.raises(AssertionError, match="expected `key_padding_mask` to be `None` or 2-D"):
        mha(ember, *xs, key_padding_mask=ember.zeros(5, dtype=ember.bool))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        mha(ember, q, k[0], v, *w)
    with pytest.raises(AssertionError, match=r"embedding dimension of 6, but got 4 \(query "
                                             r"\(4, 3, 4\)\)"):
        mha(ember, q[..., :4], k, v, *w)
    with pytest.raises(AssertionError, match=r"query \(4, 3, 6\), key \(5, 3, 4\)"):
        mha(ember, q, k[..., :4], v[..., :4], *w)
    with pytest.raises(AssertionError, match=r"key's sequence and batch dims \(5, 3\) do not "
                                             r"match value's \(4, 3\)"):
        mha(ember, q, k, v[:4], *w)
    with pytest.raises(AssertionError, match=r"key's batch size .* query \(4, 3, 6\), key "
                                             r"\(5, 2, 6\)"):
        mha(ember, q, k[:, :2], v[:, :2], *w)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(ember, *xs, is_causal=True)
    with pytest.raises(AssertionError, match=r"key weights shape of \(6, 4\), but got \(6, 6\) "
                                             r"\(key \(5, 3, 4\)"):
        mha(ember, q, k[..., :4], v, None, w[1], *w[2:], use_separate_proj_weight=True,
            q_proj_weight=ember.zeros(6, 6), k_proj_weight=ember.zeros(6, 6),
            v_proj_weight=ember.zeros(6, 6))
