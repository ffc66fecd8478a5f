"""ember.nn.utils' gradient clipping (clip_grad_norm_, clip_grad_value_, get_total_norm)
against torch.nn.utils."""
import math

import numpy as np
import pytest
from _parity import assert_close, import_torch
from nn.utils._common import with_grads

import ember
from ember.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm


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
