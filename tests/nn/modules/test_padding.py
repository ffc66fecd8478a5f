"""Padding layers against PyTorch: every layer in 1, 2 and 3 dims, batched and unbatched,
int and tuple (asymmetric, negative) paddings: values, gradients, reprs; PyTorch's limits
of the non-constant modes as errors naming the layer."""
import numpy as np
import pytest
from _parity import check_module, import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()

KINDS = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]
PADDINGS = {1: [2, (1, 3), (0, 2), (-1, 2)],
            2: [1, (1, 2, 0, 3), (2, 0, -1, 1)],
            3: [1, (1, 0, 2, 1, 0, 2), (0, 1, -1, 1, 1, 0)]}
SHAPES = {1: [(2, 3, 5), (3, 5)], 2: [(2, 3, 4, 5), (3, 4, 5)], 3: [(1, 2, 3, 4, 5),
                                                                  (2, 3, 4, 5)]}


def _make(module, kind, d, padding):
    args = (padding, 1.5) if kind == "ConstantPad" else (padding,)
    return getattr(module, f"{kind}{d}d")(*args)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_layer_parity_and_repr(kind, d):
    for padding in PADDINGS[d]:
        for shape in SHAPES[d]:
            em, tm = _make(nn, kind, d, padding), _make(torch.nn, kind, d, padding)
            check_module(em, tm, random_inputs([shape]))
            check_module(em, tm, random_inputs([shape]), dtype=np.float32)
        assert repr(em) == repr(tm) and em.padding == tm.padding


def test_constant_pads_any_rank_and_take_lists():
    em, tm = nn.ConstantPad1d([1, 2], -3.0), torch.nn.ConstantPad1d([1, 2], -3.0)
    check_module(em, tm, random_inputs([(2, 1, 2, 3)]))
    assert repr(em) == repr(tm)
    em, tm = nn.ZeroPad2d((1, 1, 2, 0)), torch.nn.ZeroPad2d((1, 1, 2, 0))
    check_module(em, tm, random_inputs([(2, 3)]))
    assert em.value == tm.value == 0.0


@pytest.mark.parametrize("layer,shape,match", [
    (nn.ReflectionPad1d(2), (1, 1, 2, 3),
     r"ReflectionPad1d\(\(2, 2\)\): expected a 2-D or 3-D input, got shape \(1, 1, 2, 3\)"),
    (nn.ReplicationPad2d(1), (3, 3), "expected a 3-D or 4-D input"),
    (nn.CircularPad3d(1), (2, 2, 2), "expected a 4-D or 5-D input"),
    (nn.ReflectionPad1d(3), (1, 2, 3),
     r"padding \(3, 3\) must be smaller than the padded dim 2 of the input \(shape \(1, 2, 3\)\)"),
    (nn.ReflectionPad2d((0, 0, 1, 4)), (1, 4, 5), r"padding \(1, 4\) must be smaller .* dim 1"),
    (nn.CircularPad1d(4), (1, 2, 3), r"padding \(4, 4\) wraps around dim 2 .* more than once"),
])
def test_torchs_limits_are_errors(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer(ember.randn(*shape))
    tm = eval("torch.nn." + repr(layer))
    with pytest.raises((RuntimeError, NotImplementedError, ValueError)):
        tm(torch.randn(*shape))


def test_circular_pad_may_wrap_once():
    em, tm = nn.CircularPad1d(3), torch.nn.CircularPad1d(3)
    check_module(em, tm, random_inputs([(1, 2, 3)]))


def test_bad_padding_argument():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or a tuple "
                                         r"of 4 ints, got \(1, 2\)"):
        nn.ReflectionPad2d((1, 2))
