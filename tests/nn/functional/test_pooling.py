"""Pooling functions against PyTorch in float64: max-unpooling in 1-D and 3-D, PyTorch's
positional order, channel-major memory, ceil_mode windows on 1x1 maps; gradchecks."""
import numpy as np
import pytest
from _parity import DEVICE, assert_close, check_op, import_torch, random_inputs
from _table import Op

import ember
import ember.nn.functional as F

torch = import_torch()
TF = torch.nn.functional


def test_max_unpool_1d_3d():
    x1 = random_inputs([(2, 3, 8)])[0]
    _, i1 = TF.max_pool1d(torch.tensor(x1), 2, return_indices=True)
    check_op(lambda p: F.max_unpool1d(p, ember.tensor(i1.numpy(), device=DEVICE), 2),
             lambda p: TF.max_unpool1d(p, i1, 2), inputs=[random_inputs([(2, 3, 4)])[0]])
    x3 = random_inputs([(1, 2, 4, 4, 6)])[0]
    _, i3 = TF.max_pool3d(torch.tensor(x3), 2, return_indices=True)
    check_op(lambda p: F.max_unpool3d(p, ember.tensor(i3.numpy(), device=DEVICE), 2),
             lambda p: TF.max_unpool3d(p, i3, 2), inputs=[random_inputs([(1, 2, 2, 2, 3)])[0]])


def _f(name, *args, **kwargs):
    """``m.nn.functional.<name>(x, *args, **kwargs)``: the same call on ember and on torch."""
    return lambda m, x: getattr(m.nn.functional, name)(x, *args, **kwargs)


GRADCHECKS = {  # ember only: min_pool2d is not torch's
    "max": Op(_f("max_pool2d", 3, 2, 1, ceil_mode=True)),
    "max-dilated": Op(_f("max_pool2d", 2, dilation=2)),
    "avg": Op(_f("avg_pool2d", 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    "avg-tiled": Op(_f("avg_pool2d", 2)),
    "adaptive-avg": Op(_f("adaptive_avg_pool2d", (2, 3))),
    "adaptive-max": Op(_f("adaptive_max_pool2d", (2, 3))),
    "min": Op(_f("min_pool2d", 2, 1)),
    "max1d": Op(lambda m, x: m.nn.functional.max_pool1d(x.flatten(2), 3, 2)),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradcheck(name):
    # distinct values (a permutation) keep max pooling away from ties
    x = np.random.default_rng(0).permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0
    GRADCHECKS[name].gradcheck(inputs=[x])


def test_functional_defaults_and_memory_order():
    x = random_inputs([(2, 3, 6, 6)])[0]
    check_op(lambda t: F.max_pool2d(t, (2, 3), None, 0, 1, False, True),
             lambda t: TF.max_pool2d(t, (2, 3), None, 0, 1, False, True), inputs=[x])
    check_op(lambda t: F.avg_pool2d(t, 2, 1, 1, True, False, None),
             lambda t: TF.avg_pool2d(t, 2, 1, 1, True, False, None), inputs=[x])
    # a channel-major input (as a conv produces) gives a channel-major result
    cm = ember.tensor(np.ascontiguousarray(x.transpose(1, 0, 2, 3))).permute(1, 0, 2, 3)
    y = F.max_pool2d(cm, 2)
    assert y.array.swapaxes(0, 1).flags.c_contiguous
    assert_close(y.numpy(), TF.max_pool2d(torch.tensor(x), 2).numpy(), 0, 0)


def test_ceil_mode_window_hanging_off_a_1x1_map_matches_torch():
    # GoogLeNet's pools meet 1x1 maps at 28x28 input; torch returns a 1x1 output there
    for name in ("max_pool2d", "avg_pool2d"):
        Op(_f(name, 2, 2, ceil_mode=True)).parity(shapes=[(2, 3, 1, 1)])


LP_POOLS = {  # positive inputs: x**p of a negative number is nan for a fractional p
    "lp1d-p2": Op(_f("lp_pool1d", 2, 3), shapes=((2, 3, 9),), low=0.1, high=2.0),
    "lp2d-p1": Op(_f("lp_pool2d", 1, 2), shapes=((2, 3, 6, 5),), low=0.1, high=2.0),
    "lp2d-p3-stride": Op(_f("lp_pool2d", 3.0, (3, 2), 2, ceil_mode=True),
                         shapes=((1, 2, 7, 8),), low=0.1, high=2.0),
    "lp3d-p2": Op(_f("lp_pool3d", 2, 2), shapes=((1, 2, 4, 4, 6),), low=0.1, high=2.0),
}


@pytest.mark.parametrize("name", list(LP_POOLS))
def test_lp_pool_matches_torch(name):
    LP_POOLS[name].parity()
    LP_POOLS[name].gradcheck()


@pytest.mark.parametrize("name,args", [
    ("max_pool1d_with_indices", (3, 2)), ("max_pool2d_with_indices", (2,)),
    ("max_pool3d_with_indices", (2,)), ("adaptive_max_pool1d_with_indices", (3,)),
    ("adaptive_max_pool2d_with_indices", ((2, 3),)),
    ("adaptive_max_pool3d_with_indices", ((1, 2, 2),)),
])
def test_with_indices_variants_match_torch(name, args):
    d = int(name.split("pool")[1][0])
    x = np.random.default_rng(1).permutation(2 * 3 * 4 ** d).reshape(2, 3, *(4,) * d) / 7.0
    values, indices = getattr(F, name)(ember.tensor(x), *args)
    t_values, t_indices = getattr(TF, name)(torch.tensor(x), *args)
    assert_close(values.numpy(), t_values.numpy(), rtol=1e-12, atol=1e-12, what=name)
    assert indices.dtype == ember.int64 and (indices.numpy() == t_indices.numpy()).all()


FRACTIONAL = [(2, (2, 3, 9, 11), 3, dict(output_size=(5, 6))),
              (2, (2, 3, 9, 11), (2, 3), dict(output_size=(7, 4))),
              (2, (3, 10, 10), 2, dict(output_ratio=(0.5, 0.5))),  # unbatched
              (3, (1, 2, 7, 8, 9), 2, dict(output_size=(3, 4, 5))),
              (3, (1, 2, 6, 6, 6), (2, 3, 2), dict(output_ratio=(0.5, 0.6, 0.7)))]


@pytest.mark.parametrize("d,shape,kernel,kw", FRACTIONAL, ids=str)
def test_fractional_max_pool_matches_torch_given_the_samples(d, shape, kernel, kw):
    batch = shape[:2] if len(shape) == d + 2 else (1, shape[0])
    samples = np.random.default_rng(3).random((*batch, d))
    name = f"fractional_max_pool{d}d"
    e_samples, t_samples = ember.tensor(samples, device=DEVICE), torch.tensor(samples)
    check_op(lambda x: getattr(F, name)(x, kernel, _random_samples=e_samples, **kw),
             lambda x: getattr(TF, name)(x, kernel, _random_samples=t_samples, **kw),
             shapes=[shape])
    _, ie = getattr(F, f"{name}_with_indices")(ember.tensor(np.random.default_rng(4).random(
        shape)), kernel, _random_samples=e_samples, **kw)
    _, it = getattr(TF, f"{name}_with_indices")(torch.tensor(np.random.default_rng(4).random(
        shape)), kernel, _random_samples=t_samples, **kw)
    assert ie.dtype == ember.int64 and (ie.numpy() == it.numpy()).all()


def test_fractional_max_pool_draws_from_the_seeded_generator():
    x = ember.randn(2, 3, 12, 12)
    ember.manual_seed(7)
    a = F.fractional_max_pool2d(x, 2, output_size=5)
    ember.manual_seed(7)
    b = F.fractional_max_pool2d(x, 2, output_size=5)
    c = F.fractional_max_pool2d(x, 2, output_size=5)
    assert (a.numpy() == b.numpy()).all() and not (a.numpy() == c.numpy()).all()
    with pytest.raises(ValueError, match=r"needs an input of at least"):
        F.fractional_max_pool2d(x, 3, output_size=11)
