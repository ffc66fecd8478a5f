"""Pooling layers against PyTorch in float64: max (with ceil_mode, padding, dilation, indices
and ties), min (as -max(-x)), average (count_include_pad, divisor_override), adaptive,
global, max-unpooling; the inference path, reprs, errors."""
import numpy as np
import pytest
from _parity import DEVICE, assert_close, check_op, import_torch, random_inputs

import ember
import ember.nn.functional as F
from ember import nn

torch = import_torch()
TF = torch.nn.functional


def layer_parity(name, args, kw, shape, relu=False, ember_name=None, torch_fn=None):
    """The layer ``name`` of both frameworks on the same input (``relu`` makes ties)."""
    em = getattr(nn, ember_name or name)(*args, **kw)
    tm = torch_fn or getattr(torch.nn, name)(*args, **kw)
    x = random_inputs([shape])[0]
    if relu:
        x = np.maximum(x, 0)  # a quarter of the 2x2 windows are all zeros: ties
    check_op(em, tm, inputs=[x])
    with ember.no_grad():  # the inference path (no argmax kept) gives the same values
        y = em(ember.tensor(x))
    y = y[0] if isinstance(y, tuple) else y
    t = tm(torch.tensor(x))
    t = t[0] if isinstance(t, tuple) else t
    assert_close(y.numpy(), t.numpy(), 1e-12, 1e-12, "no_grad output")


MAX_POOL2D = [
    ((2,), {}, (2, 3, 8, 8)),
    ((2,), {}, (2, 3, 9, 7)),  # remainders dropped
    ((3, 2), {}, (1, 2, 7, 9)),
    ((3,), dict(stride=2), (2, 3, 9, 11)),  # overlapping (AlexNet)
    ((3,), dict(stride=2, padding=1, ceil_mode=True), (2, 2, 10, 11)),
    ((2,), dict(ceil_mode=True), (1, 2, 7, 5)),
    ((3,), dict(stride=1, padding=1), (1, 2, 5, 6)),
    (((2, 3),), dict(stride=(1, 2), padding=(1, 1), dilation=(2, 1)), (2, 2, 10, 11)),
    ((2,), dict(stride=3, dilation=2), (1, 2, 9, 9)),  # disjoint windows with gaps
    ((2,), dict(return_indices=True), (2, 3, 6, 6)),
    ((3,), dict(stride=2, padding=1, ceil_mode=True, return_indices=True), (2, 2, 8, 9)),
    ((2,), {}, (3, 6, 6)),  # unbatched
]


@pytest.mark.parametrize("args,kw,shape", MAX_POOL2D, ids=str)
@pytest.mark.parametrize("relu", [False, True], ids=["plain", "ties"])
def test_max_pool2d(args, kw, shape, relu):
    layer_parity("MaxPool2d", args, kw, shape, relu)


@pytest.mark.parametrize("name,args,kw,shape", [
    ("MaxPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True, return_indices=True),
     (2, 3, 10)),
    ("MaxPool1d", (2,), dict(dilation=2), (2, 3, 9)),
    ("MaxPool3d", (2,), dict(return_indices=True), (2, 2, 4, 5, 6)),
    ("MaxPool3d", ((2, 3, 2),), dict(stride=(1, 2, 2), padding=1, ceil_mode=True),
     (1, 2, 5, 6, 5)),
], ids=str)
def test_max_pool_1d_3d(name, args, kw, shape):
    layer_parity(name, args, kw, shape, relu=True)


class TorchMinPool(torch.nn.Module):
    def __init__(self, *args, **kw):
        super().__init__()
        self.pool = torch.nn.MaxPool2d(*args, **kw)

    def forward(self, x):
        out = self.pool(-x)
        return (-out[0], out[1]) if isinstance(out, tuple) else -out


@pytest.mark.parametrize("args,kw,shape", [
    ((2,), {}, (2, 3, 8, 8)),
    ((3,), dict(stride=2, padding=1, ceil_mode=True, return_indices=True), (2, 2, 9, 8)),
], ids=str)
def test_min_pool2d_is_minus_max_of_minus(args, kw, shape):
    layer_parity("MinPool2d", args, kw, shape, torch_fn=TorchMinPool(*args, **kw))
    check_op(lambda x: F.min_pool2d(x, *args, **kw), lambda x: TorchMinPool(*args, **kw)(x),
             shapes=[shape])


AVG_POOL2D = [
    ((2,), {}, (2, 3, 8, 9)),
    ((3,), dict(stride=2, padding=1), (2, 3, 9, 10)),
    ((3,), dict(stride=2, padding=1, ceil_mode=True), (2, 2, 10, 10)),
    ((3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 10, 10)),
    (((2, 3),), dict(stride=(1, 2), padding=(1, 0), count_include_pad=False), (1, 2, 6, 7)),
    ((3,), dict(stride=2, padding=1, divisor_override=5), (1, 2, 7, 8)),
    ((2,), dict(ceil_mode=True), (1, 2, 5, 7)),
    ((4,), {}, (3, 8, 8)),  # unbatched
]


@pytest.mark.parametrize("args,kw,shape", AVG_POOL2D, ids=str)
def test_avg_pool2d(args, kw, shape):
    layer_parity("AvgPool2d", args, kw, shape)


@pytest.mark.parametrize("name,args,kw,shape", [
    ("AvgPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False),
     (2, 3, 10)),
    ("AvgPool1d", (2,), {}, (2, 3, 9)),
    ("AvgPool3d", ((2, 3, 2),), dict(stride=(1, 2, 2), padding=1), (2, 2, 5, 6, 7)),
    ("AvgPool3d", (2,), dict(divisor_override=3), (1, 2, 4, 4, 4)),
], ids=str)
def test_avg_pool_1d_3d(name, args, kw, shape):
    layer_parity(name, args, kw, shape)


@pytest.mark.parametrize("name,args,shape", [
    ("AdaptiveAvgPool2d", (1,), (2, 3, 5, 7)),  # global average pooling
    ("AdaptiveAvgPool2d", ((3, 4),), (2, 3, 5, 7)),  # overlapping windows
    ("AdaptiveAvgPool2d", ((3, None),), (2, 3, 6, 7)),  # divisible: an average pool
    ("AdaptiveAvgPool2d", ((7, 9),), (1, 2, 5, 6)),  # larger than the input
    ("AdaptiveAvgPool1d", (4,), (2, 3, 7)),
    ("AdaptiveAvgPool3d", ((2, 3, 1),), (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool2d", ((3, 4),), (2, 3, 5, 7)),
    ("AdaptiveMaxPool2d", ((3, 4), True), (2, 3, 5, 7)),
    ("AdaptiveMaxPool2d", ((7, 4), True), (2, 3, 5, 7)),
    ("AdaptiveMaxPool2d", ((3, 7), True), (2, 3, 6, 7)),  # divisible: a max pool
    ("AdaptiveMaxPool2d", (1,), (3, 5, 5)),  # unbatched
    ("AdaptiveMaxPool1d", (3, True), (2, 3, 7)),
    ("AdaptiveMaxPool3d", ((2, 2, 3),), (1, 2, 5, 4, 4)),
], ids=str)
def test_adaptive_pools(name, args, shape):
    layer_parity(name, args, {}, shape, relu=name.startswith("AdaptiveMax"))


def test_global_avg_pool2d():
    x = random_inputs([(2, 3, 5, 4)])[0]
    check_op(nn.GlobalAvgPool2d(), lambda t: t.mean((-2, -1)), inputs=[x])
    check_op(nn.GlobalAvgPool2d(keepdim=True), torch.nn.AdaptiveAvgPool2d(1), inputs=[x])


@pytest.mark.parametrize("kernel,kw,shape,size", [
    (2, {}, (2, 3, 8, 8), None),
    (2, {}, (2, 3, 9, 7), (9, 7)),
    (3, dict(stride=2, padding=1), (1, 2, 9, 10), (9, 10)),
], ids=str)
def test_max_unpool2d(kernel, kw, shape, size):
    x = random_inputs([shape])[0]
    _, idx = TF.max_pool2d(torch.tensor(x), kernel, return_indices=True, **kw)
    pooled = random_inputs([tuple(idx.shape)], seed=2)[0]
    em, tm = nn.MaxUnpool2d(kernel, **kw), torch.nn.MaxUnpool2d(kernel, **kw)
    flat = idx.numpy().reshape(-1, idx.shape[-2] * idx.shape[-1])
    if DEVICE != "cpu" and any(len(set(row)) < len(row) for row in flat):
        pytest.skip("overlapping windows repeat an index: which value lands there is "
                    "unspecified on a GPU (as in PyTorch's CUDA MaxUnpool)")
    eidx = ember.tensor(idx.numpy(), device=DEVICE)
    check_op(lambda p: em(p, eidx, size), lambda p: tm(p, idx, size), inputs=[pooled])
    # and with ember's own indices
    _, e_idx = F.max_pool2d(ember.tensor(x), kernel, return_indices=True, **kw)
    assert (e_idx.numpy() == idx.numpy()).all()


@pytest.mark.parametrize("name,args", [
    ("MaxPool2d", (3, 2, 1)), ("MaxPool2d", (2,)), ("AvgPool2d", (3, 2, 1)),
    ("AvgPool1d", (2,)), ("AdaptiveAvgPool2d", ((2, 3),)), ("AdaptiveMaxPool2d", (1,)),
    ("MaxUnpool2d", (2,)), ("MaxUnpool1d", (3, 2)), ("AvgPool3d", (2,)), ("MaxPool1d", (2,)),
    ("LPPool1d", (2, 3)), ("LPPool2d", (1.5, 3, 2)), ("LPPool3d", (2, (1, 2, 2))),
], ids=str)
def test_repr_matches_torch(name, args):
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_errors_name_layer_and_shapes():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2.*4-D input \(N, C, H, W\)"
                                         r".*got shape \(5, 5\)"):
        nn.MaxPool2d(2)(ember.randn(5, 5))
    with pytest.raises(ValueError, match=r"avg_pool1d: expected a 3-D input.*\(1, 2, 3, 4\)"):
        F.avg_pool1d(ember.randn(1, 2, 3, 4), 2)
    with pytest.raises(ValueError, match="at most half"):
        F.max_pool2d(ember.randn(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        nn.AvgPool2d(4)(ember.randn(1, 1, 3, 8))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d.*output_size"):
        nn.AdaptiveAvgPool2d((2, 2, 2))(ember.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"MaxUnpool2d.*indices of shape"):
        nn.MaxUnpool2d(2)(ember.randn(1, 1, 2, 2), ember.zeros(1, 1, 3, 3, dtype=ember.int64))
    with pytest.raises(ValueError, match=r"max_unpool2d: index 16 is out of range.*\(4, 4\)"):
        F.max_unpool2d(ember.randn(1, 1, 2, 2), ember.full((1, 1, 2, 2), 16, dtype=ember.int64), 2)


@pytest.mark.parametrize("name,args,shape", [
    ("LPPool1d", (2, 3), (2, 3, 9)), ("LPPool2d", (1.5, 3, 2), (2, 3, 7, 7)),
    ("LPPool2d", (2, (2, 3)), (3, 6, 6)), ("LPPool3d", (3, 2), (1, 2, 4, 4, 4)),
], ids=str)
def test_lp_pools(name, args, shape):
    x = np.abs(random_inputs([shape])[0]) + 0.1
    check_op(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), inputs=[x])


def test_fractional_max_pool_layers_like_torch():
    samples = np.random.default_rng(0).random((2, 3, 2))
    em = nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6),
                                _random_samples=ember.tensor(samples))
    tm = torch.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.6),
                                      _random_samples=torch.tensor(samples))
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    check_op(em, tm, shapes=[(2, 3, 10, 11)])
    assert nn.FractionalMaxPool3d(2, output_size=3)(ember.randn(1, 2, 5, 5, 5)).shape == \
        (1, 2, 3, 3, 3)
    for bad in (dict(), dict(output_size=3, output_ratio=0.5)):
        with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
            nn.FractionalMaxPool2d(2, **bad)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
