"""Shape ops against PyTorch (values and gradients), finite differences and hypothesis-drawn
permutations."""
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ember
import ember.nn
from _parity import check_op, import_torch
import _table

S = (3, 4, 5)
Op = partial(_table.Op, shapes=(S,))


def _pad(*args, **kw):
    return lambda m, x: m.nn.functional.pad(x, *args, **kw)


TABLE = {
    "reshape": Op(lambda m, x: x.reshape(4, -1)),
    "reshape_tuple": Op(lambda m, x: m.reshape(x, (2, 30))),
    "view": Op(lambda m, x: x.view(12, 5)),
    "view_flat": Op(lambda m, x: x.view(-1)),
    "view_as": Op(lambda m, x, y: x.view_as(y) * y, shapes=(S, (12, 5))),
    "reshape_as": Op(lambda m, x, y: x.reshape_as(y) + y, shapes=(S, (5, 12))),
    "permute": Op(lambda m, x: x.permute(2, 0, 1)),
    "permute_tuple": Op(lambda m, x: m.permute(x, (1, 2, 0))),
    "permute_neg": Op(lambda m, x: x.permute(-1, 0, -2)),
    "transpose": Op(lambda m, x: x.transpose(0, 2)),
    "transpose_neg": Op(lambda m, x: m.transpose(x, -1, -2)),
    "swapaxes": Op(lambda m, x: m.swapaxes(x, 0, 1)),
    "T": Op(lambda m, x: x.T, shapes=((3, 4),)),
    "mT": Op(lambda m, x: x.mT),
    "squeeze_all": Op(lambda m, x: x.squeeze(), shapes=((3, 1, 4, 1),)),
    "squeeze_dim": Op(lambda m, x: x.squeeze(1), shapes=((3, 1, 4, 1),)),
    "squeeze_noop": Op(lambda m, x: m.squeeze(x, 0), shapes=((3, 1, 4, 1),)),
    "squeeze_tuple": Op(lambda m, x: m.squeeze(x, (1, -1)), shapes=((3, 1, 4, 1),)),
    "unsqueeze": Op(lambda m, x: x.unsqueeze(0)),
    "unsqueeze_neg": Op(lambda m, x: m.unsqueeze(x, -1)),
    "unsqueeze_mid": Op(lambda m, x: x.unsqueeze(2)),
    "flatten": Op(lambda m, x: x.flatten()),
    "flatten_from": Op(lambda m, x: m.flatten(x, 1)),
    "flatten_range": Op(lambda m, x: x.flatten(0, 1)),
    "flatten_0d": Op(lambda m, x: x.flatten(), shapes=((),)),
    "unflatten": Op(lambda m, x: x.unflatten(1, (2, 2))),
    "unflatten_neg": Op(lambda m, x: m.unflatten(x, -1, (-1, 5))),
    "expand": Op(lambda m, x: x.expand(2, 3, 4), shapes=((3, 1),)),
    "expand_keep": Op(lambda m, x: x.expand(-1, 4), shapes=((3, 1),)),
    "expand_as": Op(lambda m, x, y: x.expand_as(y) * y, shapes=((1, 4), (3, 4))),
    "broadcast_to": Op(lambda m, x: m.broadcast_to(x, (2, 3, 4)), shapes=((4,),)),
    "repeat": Op(lambda m, x: x.repeat(2, 1, 3)),
    "repeat_lead": Op(lambda m, x: x.repeat(2, 2, 3), shapes=((2, 3),)),
    "cat": Op(lambda m, a, b: m.cat([a, b], 1), shapes=((2, 3), (2, 4))),
    "cat3_neg": Op(lambda m, a, b, c: m.cat((a, b, c), dim=-1),
                   shapes=((2, 3, 1), (2, 3, 2), (2, 3, 3))),
    "cat0": Op(lambda m, a, b: m.cat([a, b]), shapes=((1, 3), (2, 3))),
    "concat": Op(lambda m, a, b: m.concat([a, b], 0), shapes=((1, 3), (2, 3))),
    "stack": Op(lambda m, a, b: m.stack([a, b]), shapes=((2, 3), (2, 3))),
    "stack_mid": Op(lambda m, a, b, c: m.stack([a, b, c], dim=1), shapes=((2, 3),) * 3),
    "stack_neg": Op(lambda m, a, b: m.stack((a, b), -1), shapes=((2, 3), (2, 3))),
    "split": Op(lambda m, x: x.split(2, dim=1)),
    "split_uneven": Op(lambda m, x: m.split(x, 2, -1)),
    "split_sections": Op(lambda m, x: m.split(x, [1, 3], 1)),
    "split_one_used": Op(lambda m, x: x.split([2, 1], 0)[1] * 2),
    "chunk": Op(lambda m, x: x.chunk(2, 1)),
    "chunk_uneven": Op(lambda m, x: m.chunk(x, 3, dim=-1)),
    "flip": Op(lambda m, x: x.flip(0)),
    "flip_tuple": Op(lambda m, x: m.flip(x, (0, 2))),
    "flip_varargs": Op(lambda m, x: x.flip(2, 1)),
    "roll_flat": Op(lambda m, x: x.roll(7)),
    "roll_dim": Op(lambda m, x: m.roll(x, 2, 1)),
    "roll_tuple": Op(lambda m, x: m.roll(x, (1, -2), (0, 2))),
    "pad_constant": Op(_pad((1, 2))),
    "pad_constant_2d": Op(_pad((1, 2, 0, 3), value=1.5)),
    "pad_constant_3d": Op(_pad((1, 0, 2, 1, 1, 1), mode="constant")),
    "pad_reflect_1d": Op(_pad((2, 1), mode="reflect")),
    "pad_reflect_2d": Op(_pad((1, 2, 2, 1), mode="reflect"), shapes=((1, 2, 4, 5),)),
    "pad_replicate_1d": Op(_pad((3, 1), mode="replicate")),
    "pad_replicate_2d": Op(_pad((2, 2, 0, 3), mode="replicate"), shapes=((1, 2, 4, 5),)),
    "pad_circular_1d": Op(_pad((2, 3), mode="circular")),
    "pad_circular_2d": Op(_pad((1, 2, 3, 1), mode="circular"), shapes=((1, 2, 4, 5),)),
    "pad_crop": Op(_pad((-1, 2))),
    "pad_crop_2d": Op(_pad((1, -2, -1, 0), value=-1.0)),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_parity(name):
    TABLE[name].parity()


@pytest.mark.parametrize("name", list(TABLE))
def test_gradcheck(name):
    TABLE[name].gradcheck()


@pytest.mark.parametrize("name", ["permute", "cat", "pad_reflect_2d", "repeat", "split"])
def test_parity_float32(name):
    TABLE[name].parity(np.float32)


def test_split_and_chunk_sizes_match_torch():
    torch = import_torch()
    for n in range(1, 8):
        for k in range(1, 5):
            e, t = ember.zeros(n, 2), torch.zeros(n, 2)
            assert [c.shape[0] for c in e.split(k)] == [c.shape[0] for c in t.split(k)]
            assert [c.shape[0] for c in e.chunk(k)] == [c.shape[0] for c in t.chunk(k)]


def test_cat_promotes_dtypes():
    out = ember.cat([ember.ones(2), ember.ones(2, dtype=ember.float64)])
    assert out.dtype == ember.float64
    assert ember.stack([ember.tensor([1, 2]), ember.tensor([3, 4])]).dtype == ember.int64


@pytest.mark.parametrize("call, pattern", [
    (lambda: ember.ones(2, 3).reshape(4, 2), r"\(4, 2\).*\(2, 3\)"),
    (lambda: ember.cat([ember.ones(2, 3), ember.ones(3, 2)], 0), r"\(2, 3\).*\(3, 2\)"),
    (lambda: ember.stack([ember.ones(2), ember.ones(3)]), r"\(2,\).*\(3,\)"),
    (lambda: ember.ones(2, 3).expand(4, 3), r"\(2, 3\)"),
    (lambda: ember.ones(2, 3).permute(0, 0), "permutation"),
    (lambda: ember.ones(2, 3).split([1, 2]), "add up"),
    (lambda: ember.ones(2, 3).repeat(2), "repeat"),
    (lambda: ember.pad(ember.ones(2, 3), (1,)), "pairs"),
    (lambda: ember.ones(3).expand(-1, 3), "leading"),
    (lambda: ember.cat([]), "non-empty"),
    (lambda: ember.stack(()), "non-empty"),
])
def test_errors_name_the_shapes(call, pattern):
    with pytest.raises((ValueError, IndexError), match=pattern):
        call()


def test_views_stay_in_graph_and_share_nothing_wrongly():
    x = ember.randn(2, 3, requires_grad=True)
    y = x.view(3, 2)
    y = y * 2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((2, 3)))


@settings(max_examples=25, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
def test_permutation_property(data, shape):
    torch = import_torch()
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    d0 = data.draw(st.integers(-len(shape), len(shape) - 1))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1))
    for fn in (lambda m, x: m.permute(x, perm), lambda m, x: m.transpose(x, d0, d1),
               lambda m, x: m.flip(x, perm[:2])):
        check_op(partial(fn, ember), partial(fn, torch), shapes=[shape])
    back = ember.permute(ember.permute(ember.zeros(shape), perm), tuple(np.argsort(perm)))
    assert tuple(back.shape) == shape


def test_shape_ops_on_device(device):
    x = ember.randn(2, 3, device=device, requires_grad=True)
    y = ember.cat([x, x.flip(0)], 1).reshape(3, 4).T.unsqueeze(0).expand(2, 4, 3)
    y = ember.stack(ember.pad(y, (1, 1), mode="reflect").split(1, 0)).sum()
    y.backward()
    assert x.grad.device == ember.device(device) and x.grad.shape == x.shape


@pytest.mark.parametrize("dims", [(0, 0), (0, -1), (-1, -1)])
def test_transpose_of_a_0d_tensor_as_torch(dims):
    """Found by tests/ops/test_fuzz.py: dims 0 and -1 of a 0-d tensor are allowed (the same
    value); dim 1 is out of range, in both."""
    torch = import_torch()
    assert ember.tensor(3.0).transpose(*dims).item() == torch.tensor(3.0).transpose(*dims).item()
    with pytest.raises(IndexError):
        torch.tensor(3.0).transpose(0, 1)
    with pytest.raises(IndexError):
        ember.tensor(3.0).transpose(0, 1)
