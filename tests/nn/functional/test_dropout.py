"""Dropout functions: drop rates, scaling, channel-wise masks, alpha dropout's constants and
moments (against PyTorch's), gradients, seeding, in place, errors."""
import math
import warnings

import numpy as np
import pytest
from _parity import assert_close, check_grad, import_torch

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional


def _drop_fraction(y):
    return float((np.asarray(y) == 0).mean())


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_rate_and_scaling(p):
    x = np.random.default_rng(0).uniform(1, 2, size=200_000).astype(np.float32)
    y = F.dropout(ember.tensor(x), p).numpy()
    n = x.size
    assert abs(_drop_fraction(y) - p) < 5 * math.sqrt(p * (1 - p) / n)
    kept = y != 0
    assert np.allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_gradient_is_the_scaled_mask():
    x = ember.tensor(np.random.default_rng(0).uniform(1, 2, (50, 40)), requires_grad=True)
    y = F.dropout(x, 0.3)
    g = np.random.default_rng(1).standard_normal((50, 40))
    (y * ember.tensor(g)).sum().backward()
    mask = (y.detach().numpy() != 0) / 0.7
    assert_close(x.grad.numpy(), g * mask, 1e-12, 1e-12, "dropout grad")


def _seeded(fn):
    def run(x):
        ember.manual_seed(11)  # the same mask on every call, so finite differences apply
        return fn(x)
    return run


@pytest.mark.parametrize("fn,shape", [
    (lambda x: F.dropout(x, 0.4), (3, 4)), (lambda x: F.dropout1d(x, 0.4), (2, 3, 4)),
    (lambda x: F.dropout2d(x, 0.4), (2, 3, 2, 2)), (lambda x: F.dropout3d(x, 0.4), (2, 2, 2, 1, 2)),
    (lambda x: F.alpha_dropout(x, 0.4, training=True), (3, 4))])
def test_gradcheck_with_fixed_mask(fn, shape):
    check_grad(_seeded(fn), shapes=[shape])


def test_eval_and_p0_are_identity_and_p1_zeroes():
    x = ember.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.alpha_dropout(x, 0.5) is x  # training=False by default, as in PyTorch
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    assert np.all(F.dropout2d(ember.randn(2, 3, 4, 4), 1.0).numpy() == 0)
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)
    assert np.all(TF.alpha_dropout(torch.tensor(x.numpy()), 1.0, training=True).numpy() == 0)


def test_manual_seed_reproduces_masks():
    x = ember.ones(1000)
    ember.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    ember.manual_seed(5)
    assert np.array_equal(a, F.dropout(x, 0.5).numpy())
    assert not np.array_equal(a, b)


def _channel_masks(y, lead):
    """Per-channel: all zero or none zero, returned as the channel drop indicators."""
    flat = np.asarray(y).reshape(int(np.prod(y.shape[:lead])), -1)
    zeros = flat == 0
    assert np.all(zeros.all(1) | ~zeros.any(1)), "a channel was partly dropped"
    return zeros.all(1)


@pytest.mark.parametrize("fn,shape,lead", [
    (F.dropout2d, (64, 50, 3, 3), 2), (F.dropout1d, (64, 50, 5), 2), (F.dropout1d, (500, 7), 1),
    (F.dropout3d, (40, 30, 2, 2, 2), 2), (F.dropout3d, (300, 2, 2, 2), 1)])
def test_feature_dropout_drops_whole_channels(fn, shape, lead):
    x = np.random.default_rng(0).uniform(1, 2, shape)
    y = fn(ember.tensor(x), 0.3).numpy()
    dropped = _channel_masks(y, lead)
    n = dropped.size
    assert abs(dropped.mean() - 0.3) < 5 * math.sqrt(0.21 / n)
    kept = y != 0
    assert np.allclose(y[kept], x[kept] / 0.7)


def test_dropout2d_on_3d_input_follows_torch():
    x = np.ones((40, 30, 6))
    with pytest.warns(UserWarning, match="3-D input"):
        y = F.dropout2d(ember.tensor(x), 0.5).numpy()
    _channel_masks(y, 2)  # (N, C, L): per (sample, channel), as torch does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _channel_masks(TF.dropout2d(torch.tensor(x), 0.5).numpy(), 2)


def test_feature_dropout_rank_errors():
    with pytest.raises(ValueError, match=r"dropout1d: expected a 2-D .* got shape \(2, 3, 4, 5\)"):
        F.dropout1d(ember.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="dropout3d"):
        F.dropout3d(ember.randn(2, 3, 4))
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout(ember.randn(2), 1.5)


ALPHA = 1.7580993408473766


def _alpha_affine(p):
    a = 1 / math.sqrt((ALPHA ** 2 * p + 1) * (1 - p))
    return a, ALPHA * a * p, -ALPHA * a * (1 - p)  # kept: a*x + b; dropped: constant


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_matches_torchs_affine_map_and_moments(p):
    x = np.random.default_rng(0).standard_normal(200_000)
    a, b, dropped_value = _alpha_affine(p)
    outputs = {"ember": F.alpha_dropout(ember.tensor(x), p, training=True).numpy(),
               "torch": TF.alpha_dropout(torch.tensor(x), p, training=True).numpy()}
    for name, y in outputs.items():
        dropped = np.isclose(y, dropped_value, rtol=0, atol=1e-12)
        assert abs(dropped.mean() - p) < 0.01, name
        assert np.allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-12), name
        assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01, name  # self-normalising


def test_alpha_dropout_gradient():
    x = ember.tensor(np.random.default_rng(0).standard_normal((30, 20)), requires_grad=True)
    y = F.alpha_dropout(x, 0.3, training=True)
    y.sum().backward()
    a, _, dropped_value = _alpha_affine(0.3)
    kept = ~np.isclose(y.detach().numpy(), dropped_value, rtol=0, atol=1e-12)
    assert_close(x.grad.numpy(), kept * a, 1e-12, 1e-12, "alpha dropout grad")


def test_inplace_dropout_writes_input():
    x = ember.ones(100)
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x and (x.numpy() == 0).any() and (x.numpy() == 2).any()
    h = ember.ones(10, requires_grad=True) * 1.0
    y = F.dropout(h, 0.5, inplace=True)
    assert y is h
    y.sum().backward()


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_feature_alpha_dropout_keeps_or_drops_whole_channels_like_torch(p):
    x = np.random.default_rng(0).standard_normal((400, 50, 6))
    a, b, dropped_value = _alpha_affine(p)
    outputs = {"ember": F.feature_alpha_dropout(ember.tensor(x), p, training=True).numpy(),
               "torch": TF.feature_alpha_dropout(torch.tensor(x), p, training=True).numpy()}
    for name, y in outputs.items():
        dropped = np.isclose(y, dropped_value, rtol=0, atol=1e-12).all(axis=2)
        kept = np.isclose(y, a * x + b, rtol=1e-12, atol=1e-12).all(axis=2)
        assert (dropped ^ kept).all(), name  # each (sample, channel) is one or the other
        assert abs(dropped.mean() - p) < 0.01, name
    y = F.feature_alpha_dropout(ember.tensor(x), p, training=False)
    assert y.numpy() is x or np.array_equal(y.numpy(), x)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(ember.ones(3), 0.5, training=True)
