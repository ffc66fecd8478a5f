"""Convolution layers against PyTorch: Conv1d/2d/3d and ConvTranspose1d/2d/3d (weights copied
by load_state_dict; forward, input and parameter gradients in float64), default
initialisation, channel-major memory between layers, reprs, errors."""
import math

import numpy as np
import pytest
from _parity import DEVICE, assert_close, check_module, host, import_torch, random_inputs

import ember
import ember.nn.functional as F
from ember import nn

pytestmark = pytest.mark.usefixtures("conv_route")  # every test on each route: nn/conftest.py

torch = import_torch()


def pair(name, *args, **kwargs):
    """The ember and torch layers of the same name and arguments, in float64."""
    return (getattr(nn, name)(*args, **kwargs).double(),
            getattr(torch.nn, name)(*args, **kwargs).double())


# (in, out, kernel, kwargs, input shape)
CONV2D = [
    (3, 4, 3, {}, (2, 3, 7, 9)),
    (3, 4, 3, dict(padding=1), (1, 3, 6, 6)),
    (3, 6, (3, 2), dict(stride=2, padding=(1, 0)), (2, 3, 9, 8)),
    (2, 4, 3, dict(stride=(2, 1), dilation=2, padding=2), (2, 2, 9, 7)),
    (4, 6, 3, dict(groups=2, padding=1), (2, 4, 5, 6)),  # AlexNet-style groups
    (4, 8, 3, dict(groups=4, padding=1, stride=2), (2, 4, 7, 7)),  # depthwise, multiplier 2
    (3, 5, 4, dict(padding="same"), (2, 3, 6, 7)),  # even kernel: asymmetric padding
    (3, 5, (2, 3), dict(padding="same", dilation=(2, 1)), (1, 3, 5, 6)),
    (3, 5, 3, dict(padding="valid", bias=False), (2, 3, 5, 5)),
    (3, 4, 1, dict(), (2, 3, 4, 5)),  # 1x1: no im2col copy
    (3, 4, 1, dict(stride=2), (2, 3, 5, 5)),
    (3, 4, 5, dict(stride=3), (1, 3, 11, 13)),  # strided backward through col2im
    (2, 3, 3, dict(stride=2, padding=1), (2, 2, 5, 40)),  # col2im with long rows
    (3, 4, 3, dict(padding=1), (3, 6, 5)),  # unbatched
    # the per-offset route's layout: padding wider than the kernel's reach (written out),
    # mixed with implicit padding, and kernels as wide as the image or wider
    (3, 4, 3, dict(padding=(2, 3)), (2, 3, 5, 6)),
    (3, 4, 3, dict(padding=(0, 2)), (2, 3, 5, 6)),
    (3, 4, (3, 5), dict(padding=(1, 2)), (2, 3, 4, 3)),
    (3, 4, (1, 5), dict(padding=(0, 2)), (2, 3, 3, 2)),
]


@pytest.mark.parametrize("cin,cout,k,kw,shape", CONV2D, ids=str)
def test_conv2d_parity(cin, cout, k, kw, shape):
    em, tm = pair("Conv2d", cin, cout, k, **kw)
    check_module(em, tm, random_inputs([shape]))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"], ids=str)
def test_conv2d_padding_modes(mode, padding):
    em, tm = pair("Conv2d", 2, 3, 3, padding=padding, padding_mode=mode)
    check_module(em, tm, random_inputs([(2, 2, 5, 6)]))


@pytest.mark.parametrize("cin,cout,k,kw,shape", [
    (3, 4, 3, {}, (2, 3, 9)),
    (4, 6, 5, dict(stride=2, padding=2, dilation=2, groups=2), (2, 4, 17)),
    (3, 4, 4, dict(padding="same"), (1, 3, 8)),
    (2, 3, 3, dict(padding=1, padding_mode="circular"), (2, 2, 6)),
    (3, 4, 3, dict(padding=1), (3, 7)),
], ids=str)
def test_conv1d_parity(cin, cout, k, kw, shape):
    em, tm = pair("Conv1d", cin, cout, k, **kw)
    check_module(em, tm, random_inputs([shape]))


@pytest.mark.parametrize("cin,cout,k,kw,shape", [
    (2, 3, 2, {}, (2, 2, 4, 5, 3)),
    (4, 4, (3, 2, 3), dict(stride=(1, 2, 2), padding=1, groups=2), (1, 4, 5, 5, 6)),
    (2, 3, 3, dict(padding="same", dilation=(1, 2, 1)), (1, 2, 4, 5, 4)),
], ids=str)
def test_conv3d_parity(cin, cout, k, kw, shape):
    em, tm = pair("Conv3d", cin, cout, k, **kw)
    check_module(em, tm, random_inputs([shape]))


CONV_TRANSPOSE2D = [
    (3, 4, 3, {}, (2, 3, 5, 6)),
    (3, 4, 3, dict(stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    (4, 6, (3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2), groups=2),
     (1, 4, 4, 3)),
    (4, 4, 3, dict(padding=2, dilation=2, groups=4, bias=False), (2, 4, 5, 5)),
    (2, 3, 3, dict(stride=1, padding=1, dilation=2, output_padding=1), (2, 2, 5, 4)),
    (2, 3, 2, dict(stride=2), (2, 6, 7)),  # unbatched, the U-Net upsampling shape
]


@pytest.mark.parametrize("cin,cout,k,kw,shape", CONV_TRANSPOSE2D, ids=str)
def test_conv_transpose2d_parity(cin, cout, k, kw, shape):
    shape = (cin,) + shape[1:] if len(shape) == 3 else shape
    em, tm = pair("ConvTranspose2d", cin, cout, k, **kw)
    check_module(em, tm, random_inputs([shape]))


def test_conv_transpose2d_output_size():
    em, tm = pair("ConvTranspose2d", 3, 2, 3, stride=2, padding=1)
    x = random_inputs([(2, 3, 4, 5)])
    for size in [(7, 9), (8, 10), (2, 1, 8, 9)]:
        check_module(em, tm, x, output_size=size)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 2.*output_size"):
        em(ember.tensor(x[0]), output_size=(9, 9))


@pytest.mark.parametrize("name,kw,shape", [
    ("ConvTranspose1d", dict(stride=3, padding=1, output_padding=2, groups=2), (2, 4, 5)),
    ("ConvTranspose1d", dict(dilation=3, padding=2), (1, 4, 6)),
    ("ConvTranspose3d", dict(stride=2, padding=1, output_padding=(1, 0, 1)), (1, 4, 3, 2, 3)),
], ids=str)
def test_conv_transpose_1d_3d_parity(name, kw, shape):
    em, tm = pair(name, 4, 2, 3, **kw)
    check_module(em, tm, random_inputs([shape]))


def test_conv2d_float32_parity():
    em, tm = nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(3, 8, 3, padding=1)
    check_module(em, tm, random_inputs([(4, 3, 10, 10)], np.float32), dtype=np.float32)


def test_stacked_layers_channel_major_memory():
    """Conv outputs are channel-major views; the next layers (relu, pooling, another conv,
    a transposed conv, a flatten) must read them as plain NCHW tensors."""
    def stack(m):
        return m.Sequential(m.Conv2d(3, 4, 3, padding=1), m.ReLU(), m.Conv2d(4, 4, 1),
                            m.MaxPool2d(2), m.Conv2d(4, 6, 3, stride=2, padding=1),
                            m.ConvTranspose2d(6, 2, 2, stride=2), m.Flatten())
    em, tm = stack(nn).double(), stack(torch.nn).double()
    check_module(em, tm, random_inputs([(2, 3, 8, 8)]))
    x = random_inputs([(2, 3, 8, 8)], seed=3)[0]
    with ember.no_grad():  # the inference paths (no argmax kept) agree too
        y = em.eval()(ember.tensor(x, device=DEVICE))
    assert_close(host(y), tm.eval()(torch.tensor(x)).detach().numpy(), 1e-10, 1e-10)


def test_results_do_not_alias_scratch_buffers():
    # im2col matrices and padded copies are reused between calls; results never are
    conv, pool = nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2)
    first = pool(conv(ember.randn(2, 2, 8, 8)))
    kept = first.detach().numpy().copy()
    pool(conv(ember.randn(4, 2, 6, 6)))
    assert_close(first.detach().numpy(), kept, 0, 0)


def test_empty_batch():
    x = ember.randn(0, 3, 8, 8, requires_grad=True)
    y = nn.ConvTranspose2d(4, 2, 2, stride=2)(nn.MaxPool2d(2)(nn.Conv2d(3, 4, 3, padding=1)(x)))
    assert y.shape == (0, 2, 8, 8)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 8, 8)


def test_default_init_and_state_dict():
    ember.manual_seed(0)
    conv = nn.Conv2d(6, 12, (3, 5), groups=2)
    assert tuple(conv.weight.shape) == (12, 3, 3, 5) and tuple(conv.bias.shape) == (12,)
    bound = 1 / math.sqrt(3 * 3 * 5)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and w.std() > bound / 2
    assert list(conv.state_dict()) == ["weight", "bias"]
    up = nn.ConvTranspose2d(4, 6, 2, groups=2, bias=False)
    assert tuple(up.weight.shape) == (4, 3, 2, 2) and up.bias is None
    assert np.abs(up.weight.detach().numpy()).max() <= 1 / math.sqrt(3 * 4)
    assert conv.weight.dtype == ember.float32


@pytest.mark.parametrize("name,args,kw", [
    ("Conv2d", (3, 16, 5), {}),
    ("Conv2d", (4, 8, (3, 2)), dict(stride=2, padding=(1, 0), dilation=2, groups=2,
                                     bias=False, padding_mode="reflect")),
    ("Conv1d", (3, 4, 3), dict(padding="same")),
    ("ConvTranspose2d", (4, 2, 3), dict(stride=2, padding=1, output_padding=1)),
], ids=str)
def test_repr_matches_torch(name, args, kw):
    assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(torch.nn, name)(*args, **kw))


def test_errors_name_layer_and_shapes():
    conv = nn.Conv2d(3, 16, 5)
    msg = r"Conv2d\(3, 16, kernel_size=\(5, 5\), stride=\(1, 1\)\): conv2d: expected input " \
          r"with 3 channels \(N, 3, H, W\), got shape \(8, 1, 28, 28\)"
    with pytest.raises(ValueError, match=msg):
        conv(ember.randn(8, 1, 28, 28))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 16.*4-D input.*got shape \(28, 28\)"):
        conv(ember.randn(28, 28))
    with pytest.raises(ValueError, match=r"Conv1d\(2, 4.*2 channels \(N, 2, L\).*\(1, 3, 9\)"):
        nn.Conv1d(2, 4, 3)(ember.randn(1, 3, 9))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 2.*4 channels.*\(1, 2, 5, 5\)"):
        nn.ConvTranspose2d(4, 2, 3)(ember.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: expected input with 6 channels"):
        F.conv2d(ember.randn(1, 3, 5, 5), ember.randn(4, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="smaller than the"):
        conv(ember.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(ember.randn(1, 2, 3, 3), ember.randn(2, 2, 3, 3), output_padding=1)
    with pytest.raises(TypeError, match="same dtype"):
        F.conv2d(ember.randn(1, 3, 5, 5, dtype=ember.float64), ember.randn(4, 3, 3, 3))
