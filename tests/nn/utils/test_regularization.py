"""ember.nn.utils' weight penalties (l1_penalty, l2_penalty), and the coupled (Adam
weight_decay) vs decoupled (AdamW) weight-decay lesson."""
import numpy as np
import pytest
from _parity import import_torch
from nn.utils._common import with_grads

import ember
from ember.nn.utils import l1_penalty, l2_penalty


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
