"""The backward engine: accumulation, retain_graph, freeing, hooks, retain_grad,
autograd.grad, deep graphs, and gradient sharing between branches."""
import sys
import warnings
from functools import partial

import numpy as np
import pytest
from _parity import check_op, import_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember


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


# --- backward(inputs=...): every case runs on ember and on torch (the oracle) -----------------
def _grads(**named):
    """name -> .grad as a float64 array, or None (torch warns on a non-leaf's None .grad)."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, t in named.items():
            out[name] = None if t.grad is None else np.array(t.grad.tolist(), dtype=np.float64)
    return out


def _check_grads_match(case):
    """``case(m)`` builds and backpropagates on module ``m`` and returns the tensors to
    look at (a dict, or a list of dicts: one snapshot after each backward call). ember and
    torch must agree on which ``.grad`` are None and on the values (1e-10)."""
    torch = import_torch()
    snaps = {}
    for m in (ember, torch):
        got = case(m)
        snaps[m] = got if isinstance(got, list) else [got]
    assert len(snaps[ember]) == len(snaps[torch])
    for e, t in zip(snaps[ember], snaps[torch]):
        assert e.keys() == t.keys()
        for name in e:
            assert (e[name] is None) == (t[name] is None), (name, e[name], t[name])
            if e[name] is not None:
                np.testing.assert_allclose(e[name], t[name], rtol=1e-10, atol=1e-10,
                                           err_msg=name)


def _leaves(m, *values):
    return [m.tensor(v, dtype=m.float64, requires_grad=True) for v in values]


def test_backward_inputs_leaves_only():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0, 2.0], [1.5, 0.3, -0.7])
        y = ((x * w).exp() + x.sin()).sum()
        y.backward(inputs=[x, w])
        return _grads(x=x, w=w)
    _check_grads_match(case)


def test_backward_inputs_subset_of_leaves_leaves_the_others_alone():
    def case(m):
        x, w, b = _leaves(m, [0.5, -1.0], [1.5, 0.3], [0.2, 0.1])
        snaps = []
        (x * b).sum().backward()  # b (and x) hold a gradient before
        snaps.append(_grads(x=x, w=w, b=b))
        y = (x * w + b).tanh().sum()
        y.backward(inputs=[x])  # w stays None, b keeps its previous gradient
        snaps.append(_grads(x=x, w=w, b=b))
        return snaps
    _check_grads_match(case)


def test_backward_inputs_non_leaf_gets_grad_and_retains_it():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
        h = x * w
        y = (h.exp() * x).sum()
        y.backward(inputs=[h], retain_graph=True)
        snaps = [_grads(x=x, w=w, h=h)]
        assert h.retains_grad  # as in torch, which calls h.retain_grad()
        y.backward(inputs=[h, x])  # a non-leaf and a leaf behind it, both accumulated
        snaps.append(_grads(x=x, w=w, h=h))
        return snaps
    _check_grads_match(case)


def test_backward_inputs_accumulates_over_two_calls():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
        (x * w).sum().backward(inputs=[x])
        first = x.grad
        (x * x * w).sum().backward(inputs=[x])
        assert x.grad is first  # accumulated into the same tensor
        return _grads(x=x, w=w)
    _check_grads_match(case)


def test_backward_inputs_with_retain_graph_and_freeing():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
        y = (x.exp() * w).sum()
        y.backward(inputs=[x], retain_graph=True)
        snaps = [_grads(x=x, w=w)]
        y.backward(inputs=[w])  # graph retained: a second pass works
        snaps.append(_grads(x=x, w=w))
        with pytest.raises(RuntimeError):  # ... and freed it
            y.backward(inputs=[x])
        snaps.append(_grads(x=x, w=w))
        return snaps
    _check_grads_match(case)


def test_backward_inputs_single_tensor_or_sequence():
    def case(m):
        snaps = []
        for inputs in (lambda x: x, lambda x: [x], lambda x: (x,), lambda x: iter([x])):
            x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
            (x * w).exp().sum().backward(inputs=inputs(x))
            snaps.append(_grads(x=x, w=w))
        return snaps
    _check_grads_match(case)


def test_backward_inputs_errors_match_torch():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
        c = m.tensor([2.0, 3.0], dtype=m.float64)
        y = (x * w * c).sum()
        for bad in ([c], [x, c], [(x * 2).detach()], [], ()):
            with pytest.raises(RuntimeError):
                y.backward(inputs=bad, retain_graph=True)
        with pytest.raises(RuntimeError, match="empty"):
            m.autograd.backward([y], inputs=[])
        return _grads(x=x, w=w)  # no error touched any .grad
    _check_grads_match(case)
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2).sum().backward(inputs=[ember.ones(2)])


def test_backward_inputs_unreachable_input_gets_no_gradient():
    def case(m):
        x, u, v = _leaves(m, [0.5, -1.0], [2.0], [3.0])
        v.grad = m.tensor([7.0], dtype=m.float64)
        hu = u * 2
        (x * x).sum().backward(inputs=[u, v, hu, x])  # no error; u, hu None; v unchanged
        assert hu.retains_grad
        return _grads(x=x, u=u, v=v, hu=hu)
    _check_grads_match(case)


def test_backward_inputs_root_is_the_input():
    def case(m):
        x, s = _leaves(m, [0.5, -1.0], 3.0)
        y = (x * 2).sum()
        y.backward(inputs=[y])
        s.backward(inputs=s)
        return _grads(x=x, y=y, s=s)
    _check_grads_match(case)


def test_backward_inputs_hooks_match_torch():
    """Hooks on the input run before its .grad is stored; hooks on tensors whose nodes do
    not lead to an input, and on leaves not in ``inputs``, do not run (torch prunes)."""
    seen = {}

    def case(m):
        calls = seen[m] = []
        a, b, x = _leaves(m, [1.0, 2.0], [3.0, 4.0], [0.5, 0.25])
        b.register_hook(lambda g: calls.append("b"))
        x.register_hook(lambda g: calls.append("x"))
        ha, hb = a * 2, b * 2
        ha.register_hook(lambda g: (calls.append("ha"), g * 10)[1])
        hb.register_hook(lambda g: calls.append("hb"))
        hb.retain_grad()
        p = ha * x  # on the way to ha: its hook and retained grad run
        p.retain_grad()
        y = (p.exp() + hb.sin()).sum()
        y.backward(inputs=[ha])
        return _grads(a=a, b=b, x=x, ha=ha, hb=hb, p=p)
    _check_grads_match(case)
    assert seen[ember] == seen[import_torch()] == ["ha"]


def test_backward_inputs_runs_and_frees_only_nodes_that_lead_to_them():
    a, b = ember.randn(3, requires_grad=True), ember.randn(3, requires_grad=True)
    ea, sb = a.exp(), b.sin()
    y = (ea + sb).sum()
    y.backward(inputs=[a])
    assert ea.grad_fn.__dict__ == {} and sb.grad_fn.__dict__  # the b branch never ran
    assert b.grad is None


def test_autograd_backward_with_inputs_matches_torch():
    def case(m):
        x, w = _leaves(m, [0.5, -1.0], [1.5, 0.3])
        m.autograd.backward([(x * w).sum(), x * w * 3],
                            [None, m.tensor([1.0, -2.0], dtype=m.float64)], inputs=w)
        return _grads(x=x, w=w)
    _check_grads_match(case)


def test_autograd_grad_prunes_and_captures_without_running_the_input_node():
    torch = import_torch()
    for m in (ember, torch):
        a, b = _leaves(m, [1.0, 2.0], [3.0, 4.0])
        ha = a.exp()
        y = (ha * 2 + b.sin()).sum()
        (g,) = m.autograd.grad(y, [ha])
        assert g.tolist() == [2.0, 2.0]
        (ga,) = m.autograd.grad(ha.sum(), [a])  # ha's node was not run, so not freed
        np.testing.assert_allclose(ga.tolist(), np.exp([1.0, 2.0]), rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(program=st.lists(st.tuples(st.integers(0, len(_DAG_OPS) - 1), st.integers(0, 99),
                                  st.integers(0, 99)), min_size=1, max_size=10),
       picks=st.lists(st.integers(0, 99), min_size=1, max_size=3))
def test_random_graphs_backward_inputs_match_torch(program, picks):
    """Random DAGs backpropagated into a random few of their leaves and intermediate values:
    the same .grad (None or values) as torch on every one of them."""
    def case(m):
        x, y = _leaves(m, [0.5, -1.2, 0.8], [1.1, 0.3, -0.4])
        values = [x, y, x * 1]
        for op, i, j in program:
            values.append(_DAG_OPS[op](m, values[i % len(values)], values[j % len(values)]))
        out = sum(values[2:], values[0] * 0).sum()
        out.backward(inputs=[values[k % len(values)] for k in picks])
        return _grads(**{str(k): v for k, v in enumerate(values)})
    _check_grads_match(case)
