"""ember.nn.utils: gradient clipping against torch.nn.utils, and the weight penalties,
including the coupled (Adam weight_decay) vs decoupled (AdamW) weight-decay lesson."""
import math

import numpy as np
import pytest
from _parity import assert_close, import_torch

import ember
from ember.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm, l1_penalty, l2_penalty

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def with_grads(m, dtype, scale=1.0):
    """Tensors of SHAPES whose .grad are set from a fixed rng (``m``: ember or torch)."""
    rng = np.random.default_rng(0)
    out = []
    for shape in SHAPES:
        p = m.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        p.grad = m.tensor(scale * rng.standard_normal(shape).astype(dtype))
        out.append(p)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    torch = import_torch()
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-6, atol=1e-7)
    e, t = with_grads(ember, dtype), with_grads(torch, dtype)
    e_norm = clip_grad_norm_(iter(e), max_norm, norm_type)  # generators are accepted
    t_norm = torch.nn.utils.clip_grad_norm_(t, max_norm, norm_type)
    assert e_norm.dtype == dtype and e_norm.shape == ()
    assert_close(e_norm.numpy(), t_norm.numpy(), what="total norm", **tol)
    for i, (ep, tp) in enumerate(zip(e, t)):
        assert_close(ep.grad.numpy(), tp.grad.numpy(), what=f"clipped grad {i}", **tol)


def test_clip_grad_norm_edge_cases():
    torch = import_torch()
    e = with_grads(ember, np.float64)
    e[1].grad = None  # parameters without gradients are skipped
    before = e[0].grad.numpy().copy()
    total = clip_grad_norm_(e, max_norm=1.0)
    expected = math.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in with_grads(
        ember, np.float64) if p.shape != (3,)))
    assert total.item() == pytest.approx(expected)
    np.testing.assert_allclose(e[0].grad.numpy(), before / (expected + 1e-6))
    single = with_grads(ember, np.float64)[0]
    assert clip_grad_norm_(single, 1e9).item() == pytest.approx(
        float(np.linalg.norm(single.grad.numpy())))
    assert clip_grad_norm_([ember.zeros(2, requires_grad=True)], 1.0).item() == 0.0
    bad = with_grads(ember, np.float64)
    bad[0].grad.data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    t_bad = with_grads(torch, np.float64)
    t_bad[0].grad[0, 0] = float("nan")
    assert math.isnan(clip_grad_norm_(bad, 1.0).item())
    assert math.isnan(torch.nn.utils.clip_grad_norm_(t_bad, 1.0).item())
    assert get_total_norm([]).item() == 0.0


@pytest.mark.parametrize("clip_value", [0.1, 0.7, 5.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch = import_torch()
    e, t = with_grads(ember, np.float64, 2.0), with_grads(torch, np.float64, 2.0)
    clip_grad_value_(e, clip_value)
    torch.nn.utils.clip_grad_value_(t, clip_value)
    for ep, tp in zip(e, t):
        np.testing.assert_array_equal(ep.grad.numpy(), tp.grad.numpy())


def test_penalties_values_and_gradients():
    ws = with_grads(ember, np.float64)
    for w in ws:
        w.grad = None
    arrays = [w.detach().numpy() for w in ws]
    l2 = l2_penalty(ws)
    assert l2.item() == pytest.approx(0.5 * sum((a ** 2).sum() for a in arrays))
    l2.backward()
    for w, a in zip(ws, arrays):
        np.testing.assert_allclose(w.grad.numpy(), a)  # d/dw 0.5 w^2 = w
        w.grad = None
    l1 = l1_penalty(iter(ws))
    assert l1.item() == pytest.approx(sum(np.abs(a).sum() for a in arrays))
    l1.backward()
    for w, a in zip(ws, arrays):
        np.testing.assert_allclose(w.grad.numpy(), np.sign(a))
    assert l2_penalty(ws[0]).item() == pytest.approx(0.5 * (arrays[0] ** 2).sum())
    with pytest.raises(ValueError, match="no parameters"):
        l2_penalty([])


# --- weight decay three ways on a linear least-squares model ---------------------------------

def train(m, make_opt, penalty=0.0, steps=40):
    """``penalty``: add ``penalty * l2_penalty`` to the loss (ember only)."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((32, 5)), rng.standard_normal((32, 2))
    w0, b0 = rng.standard_normal((5, 2)), rng.standard_normal(2)
    w, b = (m.tensor(a.copy(), requires_grad=True) for a in (w0, b0))
    opt = make_opt(m.optim, [w, b])
    x, y = m.tensor(x), m.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        if penalty:
            loss = loss + penalty * l2_penalty([w, b])
        loss.backward()
        opt.step()
    return np.concatenate([w.detach().numpy().ravel(), b.detach().numpy().ravel()])


def test_sgd_weight_decay_equals_l2_penalty_in_the_loss():
    lam = 0.1
    decayed = train(ember, lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, weight_decay=lam))
    penalised = train(ember, lambda o, p: o.SGD(p, lr=0.05, momentum=0.9), penalty=lam)
    np.testing.assert_allclose(decayed, penalised, rtol=1e-12, atol=1e-14)


def test_adam_couples_weight_decay_adamw_decouples_it():
    torch = import_torch()
    lam = 0.5
    adam = lambda o, p: o.Adam(p, lr=0.05, weight_decay=lam)
    adamw = lambda o, p: o.AdamW(p, lr=0.05, weight_decay=lam)
    coupled, decoupled = train(ember, adam), train(ember, adamw)
    # Adam's weight_decay is an L2 term in the loss, rescaled by the adaptive denominator ...
    np.testing.assert_allclose(coupled, train(ember, lambda o, p: o.Adam(p, lr=0.05),
                                              penalty=lam), rtol=1e-10, atol=1e-12)
    # ... AdamW's is not, and the two end up in clearly different places
    assert np.abs(coupled - decoupled).max() > 1e-2
    # and each matches PyTorch's own
    np.testing.assert_allclose(coupled, train(torch, adam), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(decoupled, train(torch, adamw), rtol=1e-10, atol=1e-12)
