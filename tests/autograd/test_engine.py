"""The backward engine: accumulation, retain_graph, freeing, hooks, retain_grad,
autograd.grad, deep graphs, and gradient sharing between branches."""
import sys
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ember
from _parity import check_op, import_torch


def test_gradients_accumulate_across_backward_calls():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad is first  # accumulated into the same tensor, as in PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])


def test_retain_graph_allows_second_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_second_backward_without_retain_graph_raises_clearly():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_saved_arrays_are_freed_after_backward():
    x = ember.randn(4, requires_grad=True)
    h = x.exp()
    y = (h * x).sum()
    nodes = [y.grad_fn, h.grad_fn]
    assert all(node.__dict__ for node in nodes)
    y.backward()
    assert all(node.__dict__ == {} for node in nodes)
    z = x.exp().sum()
    kept = z.grad_fn
    z.backward(retain_graph=True)
    assert kept.__dict__  # retained


def test_backward_with_explicit_gradient_and_errors():
    torch = import_torch()
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    x, tx = ember.ones(2, 2, requires_grad=True), torch.ones(2, 2, requires_grad=True)
    (x * 3).backward(ember.tensor(g, dtype=ember.float32))
    (tx * 3).backward(torch.tensor(g, dtype=torch.float32))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not match"):
        (x * 2).backward(ember.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.ones(2).sum().backward()


def test_leaf_that_is_the_root():
    x = ember.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_hooks_on_leaf_and_non_leaf_match_torch():
    torch = import_torch()

    def f(m, a, b):
        a.register_hook(lambda g: g * 2)
        h = a * b
        h.register_hook(lambda g: g + 1)
        h.register_hook(lambda g: None)  # observing only
        return h.exp()
    check_op(partial(f, ember), partial(f, torch), shapes=[(3,), (3,)])


def test_hook_sees_gradient_and_needs_requires_grad():
    seen = []
    x = ember.ones(3, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: seen.append(g.tolist()))
    (y * 5).sum().backward()
    assert seen == [[5.0, 5.0, 5.0]]
    with pytest.raises(RuntimeError, match="require grad"):
        ember.ones(2).register_hook(lambda g: g)


def test_hook_handles_remove_hooks():
    x = ember.ones(2, requires_grad=True)
    h_leaf = x.register_hook(lambda g: g * 10)
    y = x * 1
    h_mid = y.register_hook(lambda g: g * 3)
    h_leaf.remove()
    h_leaf.remove()  # twice is harmless
    (y * 1).sum().backward(retain_graph=True)
    assert x.grad.tolist() == [3.0, 3.0]
    h_mid.remove()
    (y * 1).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


@pytest.mark.parametrize("hook_first", [True, False])
def test_retain_grad_matches_torch(hook_first):
    torch = import_torch()
    grads = []
    for m in (ember, torch):
        a = m.ones(3, requires_grad=True)
        y = a * 2
        if hook_first:
            y.register_hook(lambda g: g * 10)
        y.retain_grad()
        y.retain_grad()  # twice is the same as once
        if not hook_first:
            y.register_hook(lambda g: g * 10)
        assert y.retains_grad
        (y * 3).sum().backward(retain_graph=True)
        (y * 1).sum().backward()
        grads.append((np.array(y.grad.tolist()), np.array(a.grad.tolist())))
    np.testing.assert_allclose(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1])


def test_retain_grad_on_leaf_is_a_no_op():
    x = ember.ones(2, requires_grad=True)
    x.retain_grad()
    assert x.grad is None and not x.retains_grad
    with pytest.raises(RuntimeError, match="require grad"):
        ember.ones(2).retain_grad()


def test_autograd_grad_leaves_and_non_leaves():
    torch = import_torch()
    out = []
    for m in (ember, torch):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * x
        y = (h.exp() * x).sum()
        gx, gh = m.autograd.grad(y, [x, h], retain_graph=True)
        out.append((np.array(gx.tolist()), np.array(gh.tolist())))
        assert x.grad is None  # .grad untouched
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-6)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6)


def test_autograd_grad_allow_unused_and_grad_outputs():
    x = ember.ones(2, requires_grad=True)
    w = ember.ones(2, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="allow_unused"):
        ember.autograd.grad(y.sum(), [x, w], retain_graph=True)
    gx, gw = ember.autograd.grad(y.sum(), [x, w], allow_unused=True, retain_graph=True)
    assert gw is None and gx.tolist() == [3.0, 3.0]
    (gx,) = ember.autograd.grad(y, x, grad_outputs=ember.tensor([1.0, -1.0]))
    assert gx.tolist() == [3.0, -3.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.autograd.grad(y.sum(), ember.ones(2))
    with pytest.raises(NotImplementedError, match="create_graph"):
        ember.autograd.grad((x * x).sum(), x, create_graph=True)


def test_autograd_backward_several_roots():
    x = ember.ones(2, requires_grad=True)
    ember.autograd.backward([(x * 2).sum(), x * 3], [None, ember.tensor([1.0, 2.0])])
    assert x.grad.tolist() == [5.0, 8.0]


def test_deep_graph_has_no_recursion_limit():
    x = ember.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1
    y = y * 1  # and a multiplication at the end, over the whole chain
    assert sys.getrecursionlimit() < 5000 * 2
    y.backward()
    assert x.grad.item() == 1.0 and y.item() == 5001.0
    z = x
    for _ in range(5000):
        z = z * 1.0
    del z  # freeing a deep graph must not overflow the C stack either


def test_gradient_shared_between_branches_is_not_corrupted():
    # a leaf takes an upstream gradient array without a copy; accumulating into it later
    # must not change the same array still waiting for another branch
    torch = import_torch()

    def f(m, a, w):
        return (a + w.exp()) + (a + w.sin())

    def g(m, a, w):
        s = a + w
        return s.exp() + a * 2 + s + (a + w)
    for fn in (f, g):
        check_op(partial(fn, ember), partial(fn, torch), shapes=[(3,), (3,)])
    a, w = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    G = ember.randn(3)
    f(ember, a, w).backward(G)
    np.testing.assert_allclose(w.grad.numpy(), G.numpy() * (np.exp(w.detach().numpy()) +
                                                            np.cos(w.detach().numpy())),
                               rtol=1e-5)


def test_leaf_grads_do_not_share_memory():
    a, b = ember.ones(3, requires_grad=True), ember.ones(3, requires_grad=True)
    (a + b).backward(ember.ones(3))
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data += 1  # what an optimizer does
    assert b.grad.tolist() == [1.0, 1.0, 1.0]


def test_unbroadcast_gradient_shapes():
    x = ember.randn(3, 1, requires_grad=True)
    b = ember.randn(4, requires_grad=True)
    c = ember.tensor(2.0, requires_grad=True)
    ((x * b + c) ** 2).sum().backward()
    assert x.grad.shape == (3, 1) and b.grad.shape == (4,) and c.grad.shape == ()


def test_detach_cuts_the_graph():
    x = ember.ones(2, requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None
    z = x * y
    z.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    h = x * 3
    h.detach_()
    assert h.is_leaf and not h.requires_grad


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating"):
        ember.tensor([1, 2]).requires_grad_()
    y = ember.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    assert (ember.ones(2, requires_grad=True) > 0).requires_grad is False
    assert ember.ones(2, requires_grad=True).argmax().requires_grad is False


def test_engine_on_device(device):
    x = ember.ones(3, device=device, requires_grad=True)
    y = x * 2
    y.retain_grad()
    (y.exp() + x).sum().backward()
    assert y.grad.device == ember.device(device) and x.grad.device == ember.device(device)


_DAG_OPS = [
    lambda m, a, b: a + b, lambda m, a, b: a * b, lambda m, a, b: a - b * 0.5,
    lambda m, a, b: (a * b).tanh(), lambda m, a, b: m.maximum(a, b), lambda m, a, b: a.exp() * 0.1,
    lambda m, a, b: m.where(a > b, a, b), lambda m, a, b: a.sin() + b,
    lambda m, a, b: m.cat([a, b], 0)[:3] * 2, lambda m, a, b: a.reshape(3, 1).expand(3, 2).sum(1),
]


@settings(max_examples=25, deadline=None)
@given(program=st.lists(st.tuples(st.integers(0, len(_DAG_OPS) - 1), st.integers(0, 99),
                                  st.integers(0, 99)), min_size=1, max_size=12))
def test_random_graphs_match_torch(program):
    """Random DAGs where values are reused by several later ops: the engine's ordering,
    accumulation and sharing of gradient arrays must match torch's gradients exactly."""
    torch = import_torch()

    def run(m, x, y):
        values = [x, y, x * 1]
        for op, i, j in program:
            values.append(_DAG_OPS[op](m, values[i % len(values)], values[j % len(values)]))
        return sum(values[2:], values[0] * 0)
    check_op(partial(run, ember), partial(run, torch), shapes=[(3,), (3,)])
