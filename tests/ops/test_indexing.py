"""Indexing (basic, advanced with duplicates, boolean masks), gather, scatter_add,
index_select and __setitem__ against PyTorch."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import EMBER, check_grad, check_op, import_torch
import _table

S = (4, 5, 3)
Op = partial(_table.Op, shapes=(S,))

GETITEM = {
    "int": Op(lambda m, x: x[1]),
    "neg_int": Op(lambda m, x: x[-1]),
    "slice": Op(lambda m, x: x[1:3]),
    "step": Op(lambda m, x: x[::2, 1::2]),
    "col": Op(lambda m, x: x[:, 1]),
    "ellipsis": Op(lambda m, x: x[..., 2]),
    "ellipsis_mid": Op(lambda m, x: x[1, ..., 0:2]),
    "none": Op(lambda m, x: x[None]),
    "none_mid": Op(lambda m, x: x[:, None, 1:]),
    "int_slice_none": Op(lambda m, x: x[2, None, :, -1]),
    "array_dups": Op(lambda m, x: x[m.tensor([0, 2, 0, 0])]),
    "list_dups": Op(lambda m, x: x[[3, 1, 3]]),
    "array_2d": Op(lambda m, x: x[m.tensor([[0, 1], [1, 1]])]),
    "array_pairs": Op(lambda m, x: x[m.tensor([0, 1, 0]), m.tensor([2, 2, 2])]),
    "array_then_slice": Op(lambda m, x: x[m.tensor([1, 1]), :, 1:]),
    "int_and_array": Op(lambda m, x: x[0, m.tensor([1, 1, 4])]),
    "slice_and_array": Op(lambda m, x: x[:, m.tensor([0, 0, 3]), 1]),
    "split_arrays": Op(lambda m, x: x[m.tensor([0, 0]), 1:3, m.tensor([2, 2])]),
    "mask": Op(lambda m, x: x[x > 0]),
    "mask_rows": Op(lambda m, x: x[m.tensor([True, False, True, True])]),
    "mask_mid": Op(lambda m, x: x[:, m.tensor([True, False, True, False, True])]),
    "mask_2d": Op(lambda m, x: x[x.sum(-1) > 0]),
    "scalar_tensor_index": Op(lambda m, x: x[m.tensor(2)]),
}


@pytest.mark.parametrize("name", list(GETITEM))
def test_getitem_parity_and_gradcheck(name):
    GETITEM[name].parity()
    GETITEM[name].gradcheck()


def _idx(m, rows):
    return m.tensor(np.array(rows))


OTHER = {
    "gather0": Op(lambda m, x: m.gather(x, 0, _idx(m, [[0, 1, 0], [3, 3, 3]])),
                  shapes=((4, 3),)),
    "gather1": Op(lambda m, x: x.gather(1, _idx(m, [[0, 0, 2], [1, 0, 1]])), shapes=((4, 3),)),
    "gather_neg": Op(lambda m, x: m.gather(x, -1, _idx(m, [[[1], [0]], [[0], [0]]])),
                     shapes=((2, 3, 2),)),
    "scatter_add0": Op(lambda m, x, s: x.scatter_add(0, _idx(m, [[0, 1, 0], [0, 3, 3]]), s),
                       shapes=((4, 3), (2, 3))),
    "scatter_add1": Op(lambda m, x, s: m.scatter_add(x, 1, _idx(m, [[0, 0], [2, 0]]), s),
                       shapes=((2, 3), (2, 2))),
    "index_select0": Op(lambda m, x: m.index_select(x, 0, _idx(m, [2, 0, 2])), shapes=((4, 3),)),
    "index_select1": Op(lambda m, x: x.index_select(-1, _idx(m, [1, 1])), shapes=((2, 4, 3),)),
}


@pytest.mark.parametrize("name", list(OTHER))
def test_gather_scatter_parity_and_gradcheck(name):
    OTHER[name].parity()
    OTHER[name].gradcheck()


def test_scatter_add_src_larger_than_index():
    # torch's own backward refuses this case, so compare values and check the gradient
    torch = import_torch()
    x, src = np.zeros((2, 3)), np.arange(8.0).reshape(2, 4)
    idx = np.array([[0, 0], [2, 0]])
    out = ember.scatter_add(ember.tensor(x), 1, ember.tensor(idx),
                            ember.tensor(src, requires_grad=True))
    want = torch.scatter_add(torch.tensor(x), 1, torch.tensor(idx), torch.tensor(src))
    np.testing.assert_array_equal(out.detach().numpy(), want.numpy())
    s = ember.tensor(src, requires_grad=True)
    ember.scatter_add(ember.tensor(x), 1, ember.tensor(idx), s).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [[1, 1, 0, 0], [1, 1, 0, 0]])


def _set_in_graph(m, a, b):
    y = a * 1  # a non-leaf: the writes below are recorded
    y[0] = b[0] * 2
    y[:, 1] = 0.5
    y[y > 1] = -1.0
    y[m.tensor([2, 3]), 2:] = b[1, 2:] ** 2
    return y * b


def test_setitem_inside_graph_matches_torch():
    torch = import_torch()
    check_op(partial(_set_in_graph, ember), partial(_set_in_graph, torch),
             shapes=[(4, 5), (4, 5)])
    check_grad(partial(_set_in_graph, ember), shapes=[(4, 5), (4, 5)])


def test_setitem_outside_graph_matches_torch():
    torch = import_torch()
    results = []
    for m in (ember, torch):
        x = m.zeros(3, 4)
        x[1] = 5
        x[:, 0] = m.tensor([1.0, 2.0, 3.0])
        x[x > 4] = 9
        x[[0, 0], [3, 3]] = 7
        x[..., -1:] += 1
        x[2, 1:3] = m.ones(2, dtype=m.float64)
        results.append(np.array(x.tolist()))
    np.testing.assert_array_equal(*results)


def test_setitem_on_leaf_requiring_grad_raises_and_no_grad_allows():
    x = ember.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    with ember.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0] and x.is_leaf and x.grad_fn is None


def test_setitem_with_tensor_value_that_requires_grad():
    torch = import_torch()

    def f(m, v):
        y = m.zeros(2, 3)
        y[1] = v
        return y
    check_op(partial(f, EMBER), partial(f, torch), shapes=[(3,)])


def test_index_errors():
    x = ember.ones(2, 3)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[5]
    with pytest.raises(TypeError, match="integer"):
        ember.gather(x, 0, ember.ones(2, 3))
    with pytest.raises(ValueError, match="dims"):
        ember.gather(x, 0, ember.tensor([0, 1]))


def test_indexing_on_device(device):
    x = ember.randn(4, 3, device=device, requires_grad=True)
    idx = ember.tensor([0, 0, 2], device=device)
    y = x[idx].sum() + x[x > 0].sum() + x.gather(1, ember.zeros(4, 1, dtype=ember.int64,
                                                                device=device)).sum()
    y.backward()
    assert x.grad.device == ember.device(device)
    assert x.grad.cpu().numpy()[0, 0] >= 3


@pytest.mark.parametrize("bad", [-1, 4])
def test_gather_and_index_select_refuse_out_of_range_indices_as_torch(bad):
    """NumPy would wrap -1 to the last element; PyTorch refuses it (gather: RuntimeError,
    index_select: IndexError), and so does ember, naming the op, the index and the size."""
    torch = import_torch()
    for m in (ember, torch):
        x = m.arange(4.0)
        with pytest.raises(RuntimeError, match="" if m is torch else f"gather: index {bad} .*size 4"):
            m.gather(x, 0, m.tensor([0, bad]))
        with pytest.raises(IndexError, match="" if m is torch else f"index_select: index {bad}"):
            m.index_select(x, 0, m.tensor([bad]))
        with pytest.raises(RuntimeError, match="" if m is torch else "scatter_add: index"):
            m.zeros(4).scatter_add(0, m.tensor([bad]), m.ones(1))


@pytest.mark.parametrize("shape", [(4,), (3, 2)])
def test_empty_list_index_as_torch(shape):
    torch = import_torch()
    a, b = ember.zeros(*shape)[[]], torch.zeros(*shape)[[]]
    assert tuple(a.shape) == tuple(b.shape) and a.dtype == ember.float32
