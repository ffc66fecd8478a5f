"""PyTorch parity helpers: the same function on ember and torch, compared value by value.

``check_op`` feeds identical random inputs to both frameworks, compares the outputs, then
backpropagates one shared random upstream gradient (an all-ones gradient would hide a
missing ``* gy`` or a wrong transpose) and compares every input's gradient.
"""
from __future__ import annotations

import os
from functools import partial

import numpy as np
import pytest

import ember

# EMBER_TEST_DEVICE=cuda runs every parity check with ember's inputs on the GPU (CuPy):
# ``EMBER_TEST_DEVICE=cuda python -m pytest tests/ops tests/nn``.
DEVICE = os.environ.get("EMBER_TEST_DEVICE", "cpu")
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def import_oracle(*names, pip=None):
    """The modules ``names`` (one module, or a tuple of them), or a skip; under CI (``CI`` set)
    a missing oracle is a failure, not a skip."""
    import importlib
    try:
        modules = [importlib.import_module(name) for name in names]
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{' and '.join(names)} not installed (pip install "
                    f"{pip or ' '.join(names)})")
    return modules[0] if len(modules) == 1 else tuple(modules)


def import_torch():
    """torch, or a skip; under CI (``CI`` set) a missing torch is a failure, not a skip."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    torch.set_num_threads(1)
    return torch


def random_inputs(shapes, dtype=np.float64, low=-2.0, high=2.0, seed=0, away_from=None):
    """Arrays of ``shapes`` uniform in [low, high); ``away_from`` (e.g. 0) keeps values at
    least 0.05 from a kink so that finite differences and ties are unambiguous."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.uniform(low, high, size=s)
        if away_from is not None:
            near = np.abs(a - away_from) < 0.05
            a[near] = away_from + np.sign(a[near] - away_from + 1e-12) * 0.05
        out.append(a.astype(dtype))
    return out


def host(t):
    """A tensor's values as a NumPy array, from whichever device it is on."""
    return t.detach().cpu().numpy()


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_close(actual, expected, rtol, atol, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    if not np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(actual - expected)
        i = np.unravel_index(np.nanargmax(err), err.shape) if err.ndim else ()
        raise AssertionError(f"{what}: max abs error {np.nanmax(err):.3g} at {i}: "
                             f"ember {actual[i]!r} vs torch {expected[i]!r}")


class _EmberOnDevice:
    """``ember`` whose tensor factories default to the test device: for cases written once
    against a framework module (``m.tensor``, ``m.zeros``...) and run with ember and torch."""

    FACTORIES = {"tensor", "zeros", "ones", "full", "empty", "arange", "linspace", "eye",
                 "rand", "randn", "randint"}

    def __getattr__(self, name):
        attr = getattr(ember, name)
        return partial(attr, device=DEVICE) if name in self.FACTORIES else attr


EMBER = _EmberOnDevice()


def on_device(fn):
    """An ember module under test goes to the test device, with its inputs (in place)."""
    if isinstance(fn, ember.nn.Module):
        fn.to(DEVICE)
    return fn


def copy_from_torch(em, tm):
    """Load a torch module's parameters and buffers into the ember module of the same
    architecture, and put it on the test device."""
    em.load_state_dict({k: v.detach().cpu().numpy() for k, v in tm.state_dict().items()})
    return on_device(em)


def check_module(em, tm, inputs, dtype=np.float64, **call):
    """``check_op`` of a layer (``em(x, **call)`` against ``tm(x, **call)``) with torch's
    weights, then every parameter's gradient."""
    copy_from_torch(em, tm)
    check_op(lambda *x: em(*x, **call), lambda *x: tm(*x, **call),
             inputs=[x.astype(dtype) for x in inputs], dtype=dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-4  # summed over the batch: looser in float32
    names = [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in em.named_parameters()] == names
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert_close(host(ep.grad), tp.grad.numpy(), tol, tol, f"gradient of {n}")


def check_op(ember_fn, torch_fn=None, shapes=((3, 4),), inputs=None, dtype=np.float64,
             low=-2.0, high=2.0, grad=True, rtol=None, atol=None, away_from=None,
             requires_grad=None, seed=0):
    """Compare ``ember_fn(*xs)`` with ``torch_fn(*xs)`` (default: the same function) in
    values and in the gradient of every float input."""
    torch = import_torch()
    torch_fn = torch_fn or ember_fn
    on_device(ember_fn)
    arrays = inputs if inputs is not None else random_inputs(shapes, dtype, low, high, seed,
                                                             away_from)
    tol = dict(TOL[np.dtype(dtype).type])
    tol.update({k: v for k, v in (("rtol", rtol), ("atol", atol)) if v is not None})
    needs = requires_grad or [grad and np.asarray(a).dtype.kind == "f" for a in arrays]
    ex = [ember.tensor(a, requires_grad=n, device=DEVICE) for a, n in zip(arrays, needs)]
    tx = [torch.tensor(np.array(a), requires_grad=n) for a, n in zip(arrays, needs)]
    eo, to = _flat(ember_fn(*ex)), _flat(torch_fn(*tx))
    assert len(eo) == len(to), f"{len(eo)} outputs vs torch's {len(to)}"
    for i, (e, t) in enumerate(zip(eo, to)):
        assert_close(host(e), t.detach().numpy(), what=f"output {i}", **tol)
        assert e.dtype == np.dtype(str(t.dtype).replace("torch.", "")), \
            f"output {i}: dtype {e.dtype} vs torch {t.dtype}"
    if not any(needs):
        return
    rng = np.random.default_rng(seed + 1)
    e_loss, t_loss = 0, 0
    for e, t in zip(eo, to):
        if e.requires_grad:
            g = rng.standard_normal(tuple(e.shape)).astype(e.dtype)
            e_loss = e_loss + (e * ember.tensor(g, device=e.device)).sum()
            t_loss = t_loss + (t * torch.tensor(g)).sum()
    e_loss.backward()
    t_loss.backward()
    for i, (e, t, n) in enumerate(zip(ex, tx, needs)):
        if n:
            tg = np.zeros(e.shape) if t.grad is None else t.grad.numpy()
            eg = np.zeros(e.shape) if e.grad is None else host(e.grad)
            assert_close(eg, tg, what=f"gradient of input {i}", **tol)


def check_grad(fn, shapes=((3, 4),), inputs=None, low=-2.0, high=2.0, away_from=None,
               seed=0, **kwargs):
    """Finite-difference gradcheck in float64 of ``fn`` on random inputs."""
    arrays = inputs if inputs is not None else random_inputs(shapes, np.float64, low, high,
                                                             seed, away_from)
    on_device(fn)
    xs = [ember.tensor(a, requires_grad=np.asarray(a).dtype.kind == "f", device=DEVICE)
          for a in arrays]
    assert ember.autograd.gradcheck(fn, xs, **kwargs)
