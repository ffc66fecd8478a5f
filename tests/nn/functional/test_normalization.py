"""F.batch_norm against PyTorch (running statistics updated in place; with and without weight
and bias; training and evaluation) and its finite-difference gradchecks."""
import numpy as np
import pytest
from _parity import DEVICE, TOL, assert_close, check_grad, check_op, import_torch

import ember
import ember.nn.functional as F
from ember import backend

torch = import_torch()


def _np(t):
    """A torch or ember tensor as a NumPy array."""
    if isinstance(t, ember.Tensor):
        return backend.to_numpy(t.detach().data)
    return t.detach().numpy()


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("params", ["wb", "w", "b", ""])
def test_functional_batch_norm_matches_torch(training, params):
    rng = np.random.default_rng(6)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    em, ev = ember.tensor(mean, device=DEVICE), ember.tensor(var, device=DEVICE)
    tm, tv = torch.tensor(mean), torch.tensor(var)
    shapes = [(4, 3, 2, 5)] + [(3,)] * len(params)

    names = {"wb": ("weight", "bias"), "w": ("weight",), "b": ("bias",), "": ()}[params]

    def fn(stats):
        def run(x, *p):
            mod = F if isinstance(x, ember.Tensor) else torch.nn.functional
            return mod.batch_norm(x, *stats(x), training=training, momentum=0.2, eps=1e-4,
                                  **dict(zip(names, p)))
        return run

    check_op(fn(lambda x: (em, ev) if isinstance(x, ember.Tensor) else (tm, tv)), shapes=shapes)
    assert_close(_np(em), tm.numpy(), **TOL[np.float64])
    assert_close(_np(ev), tv.numpy(), **TOL[np.float64])
    if training:  # batch statistics only, nothing to update
        check_op(fn(lambda x: (None, None)), shapes=shapes)


def test_batchnorm_gradcheck():
    w, b = np.random.default_rng(7).uniform(0.5, 1.5, (2, 3))
    check_grad(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
               inputs=[np.random.default_rng(8).standard_normal((3, 3, 2, 2)), w, b])
    mean = ember.tensor([0.1, -0.2, 0.3], device=DEVICE)
    var = ember.tensor([0.5, 1.0, 2.0], device=DEVICE)
    check_grad(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False),
               inputs=[np.random.default_rng(9).standard_normal((3, 3, 2)), w, b])


@pytest.mark.parametrize("shape,normalized,eps", [((2, 3, 4), 4, None), ((2, 3, 4), (3, 4), 1e-3),
                                                  ((5,), 5, None)], ids=str)
def test_rms_norm_matches_torch(shape, normalized, eps):
    w = (normalized,) if isinstance(normalized, int) else normalized
    check_op(lambda x, g: F.rms_norm(x, normalized, g, eps),
             lambda x, g: torch.nn.functional.rms_norm(x, w, g, eps),
             shapes=[shape, w])
    check_grad(lambda x: F.rms_norm(x, normalized, eps=eps), shapes=[shape])
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape=\(7,\) expects input"):
        F.rms_norm(ember.ones(*shape), 7)


def test_batch_norm_refuses_an_integer_input_as_torch():
    torch = import_torch()
    with pytest.raises(NotImplementedError):
        torch.nn.BatchNorm1d(3)(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(NotImplementedError, match="batch_norm: .*int64"):
        ember.nn.BatchNorm1d(3)(ember.ones(2, 3, dtype=ember.int64))
