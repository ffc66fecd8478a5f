"""ember.amp: autocast leaves dtypes alone; GradScaler follows torch.amp.GradScaler step for
step (scale, unscale_, skipped steps, growth and backoff, state_dict)."""
import warnings

import numpy as np
import pytest
from _parity import import_torch

import ember


def _run(m, steps, inf_at=(), **kwargs):
    """A linear model trained with a GradScaler; returns its weights, the scales and the
    scaler's state_dict. ``inf_at``: steps whose gradient gets an inf."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    model = m.nn.Linear(4, 3, bias=False)
    with m.no_grad():
        model.weight.copy_(m.tensor(w0))
    opt = m.optim.SGD(model.parameters(), lr=0.1)
    scaler = m.amp.GradScaler("cpu", **kwargs)
    scales = []
    for step in range(steps):
        x = m.tensor(rng.standard_normal((5, 4)).astype(np.float32))
        opt.zero_grad()
        scaler.scale((model(x) ** 2).mean()).backward()
        if step in inf_at:
            with m.no_grad():
                model.weight.grad[0, 0] = float("inf")
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    return model.weight.detach().numpy().copy(), scales, scaler.state_dict()


@pytest.mark.parametrize("kwargs, inf_at", [
    ({}, ()), ({"growth_interval": 2}, (3,)), ({"init_scale": 1024.0, "growth_interval": 1},
                                               (0, 1, 4)),
    ({"backoff_factor": 0.25, "growth_factor": 4.0, "growth_interval": 2}, (2,)),
])
def test_grad_scaler_matches_torch(kwargs, inf_at):
    torch = import_torch()
    we, se, de = _run(ember, 6, inf_at, **kwargs)
    wt, st, dt = _run(torch, 6, inf_at, **kwargs)
    np.testing.assert_allclose(we, wt, rtol=1e-5, atol=1e-6)
    assert se == st and de == dt


def test_enabled_scaler_changes_nothing_without_overflow():
    w_plain = _run(ember, 4, enabled=False)[0]
    w_scaled = _run(ember, 4)[0]
    np.testing.assert_array_equal(w_plain, w_scaled)


def test_disabled_scaler_is_the_identity_as_torch():
    torch = import_torch()
    for m in (ember, torch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = m.amp.GradScaler("cuda") if not m.cuda.is_available() else \
                m.amp.GradScaler(enabled=False)
        assert not s.is_enabled() and s.get_scale() == 1.0 and s.state_dict() == {}
        loss = m.ones(())
        assert s.scale(loss) is loss
        s.update()
        s.load_state_dict({})


def test_cuda_scaler_without_a_gpu_warns_and_disables():
    if ember.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        assert not ember.amp.GradScaler().is_enabled()


def test_state_dict_round_trip_and_errors_as_torch():
    torch = import_torch()
    for m in (ember, torch):
        a, b = m.amp.GradScaler("cpu", growth_interval=7), m.amp.GradScaler("cpu")
        a.scale(m.ones(()))
        a.update(new_scale=512.0)
        b.load_state_dict(a.state_dict())
        assert b.get_scale() == 512.0 and b.state_dict() == a.state_dict()
        with pytest.raises(RuntimeError, match="empty"):
            b.load_state_dict({})
        fresh = m.amp.GradScaler("cpu")
        fresh.scale(m.ones(()))
        with pytest.raises(AssertionError, match="No inf checks"):
            fresh.update()
        p = m.nn.Parameter(m.ones(2))
        opt = m.optim.SGD([p], lr=0.1)
        scaler = m.amp.GradScaler("cpu")
        scaler.scale(p.sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="after step"):
            scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="Closure"):
            m.amp.GradScaler("cpu").step(opt, closure=lambda: 0)


def test_scale_of_lists_and_tuples_and_bad_input():
    s = ember.amp.GradScaler("cpu", init_scale=4.0)
    a, b = s.scale((ember.ones(1), ember.ones(2)))
    assert a.tolist() == [4.0] and b.tolist() == [4.0, 4.0]
    assert isinstance(s.scale([ember.ones(1)]), list)
    with pytest.raises(ValueError, match="Tensor"):
        s.scale(3.0)


def test_autocast_is_a_no_op_context_manager_and_decorator():
    torch = import_torch()
    assert ember.autocast is ember.amp.autocast and torch.autocast is torch.amp.autocast
    x = ember.ones(2, 2, dtype=ember.float64)
    with ember.autocast("cpu"), ember.amp.autocast("cuda", dtype=ember.float16, enabled=False):
        assert (x @ x).dtype == ember.float64

    @ember.autocast(device_type="cpu")
    def f(t):
        return t * 2
    assert f(x).dtype == ember.float64
    for m in (ember, torch):
        with pytest.raises(RuntimeError, match="device"):
            m.autocast("nonsense")
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'mps'"):
        ember.autocast("mps")
