"""ember.nn.init: gains and fans equal PyTorch's; samples of large tensors match each
formula's bounds, mean and standard deviation (and PyTorch's own samples); in-place,
seeded, graph-free."""
import math

import numpy as np
import pytest
from _parity import import_torch

import ember
from ember import nn
from ember.nn import init

torch = import_torch()
TI = torch.nn.init

N = 200_000  # samples: the standard error of a std estimate is about 0.16%


@pytest.mark.parametrize("name,param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", 1), ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_calculate_gain_equals_torch(name, param):
    assert init.calculate_gain(name, param) == TI.calculate_gain(name, param)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("softmax")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5, 5), (2, 3, 4, 5, 6), (7, 1)], ids=str)
def test_fans_equal_torch(shape):
    got = init._calculate_fan_in_and_fan_out(ember.empty(*shape))
    assert got == TI._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ember.empty(5))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(ember.empty(5))


def _stats(t):
    v = np.asarray(t.detach().numpy() if hasattr(t, "detach") else t, dtype=np.float64).ravel()
    return v.min(), v.max(), v.mean(), v.std()


def assert_uniform(t, low, high):
    lo, hi, mean, sd = _stats(t)
    width = high - low
    assert low <= lo and hi <= high
    assert lo < low + 0.01 * width and hi > high - 0.01 * width
    want_sd = width / math.sqrt(12)
    assert abs(mean - (low + high) / 2) < 5 * want_sd / math.sqrt(t.numel())
    assert abs(sd - want_sd) < 0.01 * want_sd


def assert_normal(t, mean, std):
    _, _, m, s = _stats(t)
    assert abs(m - mean) < 5 * std / math.sqrt(t.numel())
    assert abs(s - std) < 0.01 * std


# shape (fan_out, fan_in * receptive) large enough for tight statistics
SHAPE = (400, 50, 2, 5)  # fan_in = 500, fan_out = 4000


def test_uniform_and_normal():
    assert_uniform(init.uniform_(ember.empty(N)), 0.0, 1.0)
    assert_uniform(init.uniform_(ember.empty(N), -3.0, 0.5), -3.0, 0.5)
    assert_normal(init.normal_(ember.empty(N)), 0.0, 1.0)
    assert_normal(init.normal_(ember.empty(N, dtype=ember.float64), 2.0, 0.3), 2.0, 0.3)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    fan_in, fan_out = 500, 4000
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    assert_uniform(init.xavier_uniform_(ember.empty(*SHAPE), gain), -bound, bound)
    assert_uniform(TI.xavier_uniform_(torch.empty(*SHAPE), gain), -bound, bound)
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    assert_normal(init.xavier_normal_(ember.empty(*SHAPE), gain), 0.0, std)
    assert_normal(TI.xavier_normal_(torch.empty(*SHAPE), gain), 0.0, std)


@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_out", "relu"), (0.2, "fan_out", "leaky_relu"), (0, "fan_in", "tanh"),
    (0, "fan_in", "linear")])
def test_kaiming(a, mode, nonlinearity):
    fan = 500 if mode == "fan_in" else 4000
    std = TI.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3) * std
    kw = {"a": a, "mode": mode, "nonlinearity": nonlinearity}
    assert_uniform(init.kaiming_uniform_(ember.empty(*SHAPE), **kw), -bound, bound)
    assert_uniform(TI.kaiming_uniform_(torch.empty(*SHAPE), **kw), -bound, bound)
    assert_normal(init.kaiming_normal_(ember.empty(*SHAPE), **kw), 0.0, std)
    assert_normal(TI.kaiming_normal_(torch.empty(*SHAPE), **kw), 0.0, std)


def test_kaiming_errors_and_empty():
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_uniform_(ember.empty(3, 4), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_normal_(ember.empty(0, 4))


def _truncated_moments(mean, std, a, b):
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    cdf = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2
    z = cdf(be) - cdf(al)
    m = (pdf(al) - pdf(be)) / z
    var = 1 + (al * pdf(al) - be * pdf(be)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04),
                                          (1.0, 2.0, 0.0, 1.5), (0.0, 1.0, 2.0, 2.5)])
def test_trunc_normal(mean, std, a, b):
    want_mean, want_std = _truncated_moments(mean, std, a, b)
    for t in (init.trunc_normal_(ember.empty(N), mean, std, a, b),
              TI.trunc_normal_(torch.empty(N, dtype=torch.float64), mean, std, a, b)):
        lo, hi, m, s = _stats(t)
        assert a <= lo and hi <= b
        assert abs(m - want_mean) < 5 * want_std / math.sqrt(N)
        assert abs(s - want_std) < 0.01 * want_std


def test_trunc_normal_shape_and_dtype():
    t = init.trunc_normal_(ember.empty(3, 4, 5), std=0.02)
    assert tuple(t.shape) == (3, 4, 5) and t.dtype == np.float32
    assert np.abs(t.numpy()).max() <= 2.0


@pytest.mark.parametrize("shape", [(30, 10), (10, 30), (12, 3, 2, 2), (7, 7)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    t = init.orthogonal_(ember.empty(*shape, dtype=ember.float64), gain)
    q = t.numpy().reshape(shape[0], -1) / gain
    small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    assert np.allclose(small, np.eye(small.shape[0]), atol=1e-12)
    assert tuple(t.shape) == shape


def test_orthogonal_is_haar_distributed():
    # with the sign fix, the entries of a random orthogonal 2x2's first column are
    # uniform on the circle: the angle's mean is ~0 and a sign bias would show
    angles = []
    for _ in range(2000):
        q = init.orthogonal_(ember.empty(2, 2, dtype=ember.float64)).numpy()
        angles.append(math.atan2(q[1, 0], q[0, 0]))
    angles = np.array(angles)
    assert abs(angles.mean()) < 0.2 and abs(np.cos(angles).mean()) < 0.1


def test_orthogonal_needs_two_dims():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(ember.empty(4))


def test_constant_ones_zeros_eye():
    assert np.all(init.constant_(ember.empty(3, 2), 0.7).numpy() == np.float32(0.7))
    assert np.all(init.ones_(ember.empty(4)).numpy() == 1)
    assert np.all(init.zeros_(ember.empty(2, 2)).numpy() == 0)
    assert np.array_equal(init.eye_(ember.empty(2, 3)).numpy(), np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(ember.empty(2, 2, 2))


def test_inits_work_in_place_on_parameters_without_graph():
    p = nn.Parameter(ember.zeros(20, 30))
    data = p.array
    version = p._version[0]
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_,
               init.orthogonal_, init.trunc_normal_, init.ones_, init.eye_):
        out = fn(p)
        assert out is p and p.array is data and p.grad_fn is None and p.requires_grad
    assert p._version[0] > version
    assert p.dtype == np.float32


def test_inits_are_seeded():
    def draw():
        ember.manual_seed(7)
        return [fn(ember.empty(5, 6)).numpy().copy() for fn in
                (init.uniform_, init.normal_, init.trunc_normal_, init.orthogonal_,
                 init.kaiming_uniform_)]
    for a, b in zip(draw(), draw()):
        assert np.array_equal(a, b)
