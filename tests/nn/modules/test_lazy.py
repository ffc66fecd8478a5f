"""Lazy layers against PyTorch's: sized by the first input, they become the plain layer with
PyTorch's parameter shapes, state_dict keys and repr, initialised within PyTorch's bounds, and
compute what PyTorch computes with the same weights."""
import math

import numpy as np
import pytest
from _parity import check_op, copy_from_torch, import_torch, random_inputs

import ember
from ember import nn

torch = import_torch()

CASES = [
    ("LazyLinear", (3,), {}, (2, 5)),
    ("LazyLinear", (4,), dict(bias=False), (2, 3, 6)),
    ("LazyConv1d", (4, 3), dict(padding=1), (2, 3, 7)),
    ("LazyConv2d", (4, 3), dict(stride=2, groups=2), (2, 6, 7, 7)),
    ("LazyConv3d", (2, 2), {}, (1, 3, 4, 4, 4)),
    ("LazyConv2d", (4, 3), {}, (3, 6, 6)),  # unbatched
    ("LazyConvTranspose1d", (3, 2), dict(stride=2), (2, 4, 5)),
    ("LazyConvTranspose2d", (4, 2), dict(stride=2, groups=2), (2, 6, 5, 5)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (4, 7)),
    ("LazyBatchNorm1d", (), dict(affine=False), (4, 3, 5)),
    ("LazyBatchNorm2d", (), {}, (2, 3, 4, 4)),
    ("LazyBatchNorm3d", (), dict(track_running_stats=False), (2, 3, 2, 3, 3)),
    ("LazyInstanceNorm1d", (), dict(affine=True), (2, 3, 6)),
    ("LazyInstanceNorm2d", (), dict(track_running_stats=False), (2, 3, 4, 5)),
    ("LazyInstanceNorm3d", (), {}, (1, 2, 3, 3, 3)),
]


@pytest.mark.parametrize("name,args,kw,shape", CASES, ids=str)
def test_becomes_the_plain_layer_like_torch(name, args, kw, shape):
    em, tm = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(em) == repr(tm)
    assert em.has_uninitialized_params() == tm.has_uninitialized_params()
    x = random_inputs([shape])[0]
    em(ember.tensor(x, dtype=ember.float32)), tm(torch.tensor(x, dtype=torch.float32))
    assert type(em).__name__ == type(tm).__name__ == name[len("Lazy"):]
    assert repr(em) == repr(tm)
    assert {k: tuple(v.shape) for k, v in em.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    if "weight" in em.state_dict() and "Norm" not in name:  # Kaiming-uniform bounds, as torch
        fan_in = math.prod(em.weight.shape[1:])
        assert np.abs(em.weight.detach().numpy()).max() <= 1 / math.sqrt(fan_in) + 1e-7
    em.double(), tm.double()
    copy_from_torch(em, tm)
    check_op(em, tm, inputs=[x])


def test_uninitialized_parameters_before_the_first_call():
    layer = nn.LazyLinear(3)
    assert isinstance(layer.weight, nn.UninitializedParameter)
    assert repr(layer.weight) == "<UninitializedParameter>"
    layer.double()  # dtype conversions reach the uninitialised parameters
    layer(ember.randn(2, 4, dtype=ember.float64))
    assert type(layer.weight) is nn.Parameter and layer.weight.dtype == ember.float64
    assert layer.weight.requires_grad and type(layer) is nn.Linear
