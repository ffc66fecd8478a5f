"""In-place operations: recorded correctly inside a graph, refused clearly where they would
corrupt a gradient, free outside the graph."""
from functools import partial

import numpy as np
import pytest

import ember
from _parity import EMBER, check_grad, check_op, import_torch


def _chain(m, a, b):
    y = a * 1
    y *= 2          # Mul by a number saves nothing that the write corrupts
    y += b
    y.mul_(b)       # keeps y's old value for b's gradient: must survive the write
    y.div_(b.abs() + 1)
    y.sub_(a, alpha=0.5)
    y.clamp_(-1.5, 1.5)
    y.pow_(2)
    y.relu_()
    return y


def test_chain_of_inplace_ops_matches_torch():
    torch = import_torch()
    check_op(partial(_chain, ember), partial(_chain, torch), shapes=[(3, 4), (4,)],
             away_from=0.0)
    check_grad(partial(_chain, ember), shapes=[(2, 3), (3,)], away_from=0.0)


def test_self_multiplication_in_place():
    # torch refuses `y *= y` (it saved y); ember keeps a private copy and gets it right
    a = ember.randn(3, dtype=ember.float64, requires_grad=True)
    y = a + 1
    y *= y
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * (a.detach().numpy() + 1))
    check_grad(lambda a: (a + 1).__imul__(a + 1), shapes=[(3,)])


def test_copy_in_graph_routes_gradient_to_source():
    torch = import_torch()

    def f(m, a, b):
        y = a * 3
        y.copy_(b * 2)
        return y * a
    check_op(partial(f, EMBER), partial(f, torch), shapes=[(3, 4), (4,)])


def test_inplace_that_corrupts_a_saved_value_raises():
    x = ember.randn(3, requires_grad=True)
    y = x.exp()  # exp saves its output
    y += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()
    a, b = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    h = a * 1
    z = h * b    # saves h for b's gradient
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"input 0 of shape \(3,\)"):
        z.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    w = ember.ones(3, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.__iadd__(1),
               lambda: w.zero_(), lambda: w.fill_(1.0), lambda: w.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match="leaf"):
            op()
    assert w.tolist() == [1.0, 1.0, 1.0]


def test_inplace_under_no_grad_updates_leaf():
    w = ember.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    with ember.no_grad():
        w -= 0.5 * w.grad
        w.mul_(2)
    assert w.is_leaf and w.requires_grad and w.tolist() == [0.0, 0.0, 0.0]


def test_version_counter_and_identity():
    x = ember.zeros(3)
    data = x.array
    x += 1
    x.add_(1)
    x.zero_()
    x.fill_(3.0)
    assert x.array is data and x._version[0] == 4 and x.tolist() == [3.0] * 3


def test_inplace_on_tensor_without_grad_joins_graph():
    torch = import_torch()

    def f(m, b):
        y = m.zeros(4, dtype=b.dtype)
        y += b * 2
        return y
    check_op(partial(f, EMBER), partial(f, torch), shapes=[(4,)])


def test_random_fills_are_seeded_and_shaped():
    ember.manual_seed(3)
    a = ember.empty(1000).uniform_(-2, 3)
    b = ember.empty(1000).normal_(1.0, 0.5)
    assert a.min().item() >= -2 and a.max().item() < 3
    assert abs(b.mean().item() - 1.0) < 0.1 and abs(b.std().item() - 0.5) < 0.1
    ember.manual_seed(3)
    assert ember.equal(ember.empty(1000).uniform_(-2, 3), a)


def test_inplace_on_device(device):
    x = ember.ones(3, device=device, requires_grad=True)
    y = x * 1
    y *= 3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [3, 3, 3])


@pytest.mark.parametrize("make_view", [
    lambda y: y.view(-1), lambda y: y[0], lambda y: y.T, lambda y: y.unsqueeze(0),
    lambda y: y.detach(), lambda y: y.split(1)[1], lambda y: y[:, 1:]],
    ids=["view", "index", "T", "unsqueeze", "detach", "split", "slice"])
def test_inplace_through_a_view_is_detected(make_view):
    # views share memory and, as in PyTorch, the version counter of their base
    a = ember.randn(2, 3, requires_grad=True)
    y = a.exp()  # exp saves its output
    v = make_view(y)
    with ember.no_grad():
        v.mul_(2)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


def test_copy_made_by_reshape_is_not_a_view():
    torch = import_torch()

    def f(m, a):
        y = a.exp()
        c = y.T.reshape(-1)  # not contiguous: reshape copies, so writing c leaves y alone
        c += 1
        return y * 2 + c.sum()
    check_op(partial(f, EMBER), partial(f, torch), shapes=[(2, 3)])
