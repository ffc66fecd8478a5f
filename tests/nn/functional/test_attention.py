"""scaled_dot_product_attention against torch.nn.functional's, in float64: outputs and the
gradients of query, key, value and a float mask; masks, causality, scale, GQA, dropout."""
import numpy as np
import pytest
from _parity import check_grad, check_op, import_torch

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
