"""Grad mode: no_grad, enable_grad, set_grad_enabled as context managers, calls and
decorators, with PyTorch's semantics."""
import pytest

import ember


def _records():
    return (ember.ones(1, requires_grad=True) * 2).requires_grad


def test_no_grad_and_enable_grad_nest():
    assert ember.is_grad_enabled()
    with ember.no_grad():
        assert not _records() and not ember.is_grad_enabled()
        with ember.enable_grad():
            assert _records()
        assert not _records()
    assert _records()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ValueError):
        with ember.no_grad():
            raise ValueError
    assert ember.is_grad_enabled()


def test_decorators_with_and_without_parentheses():
    @ember.no_grad()
    def a():
        return _records()

    @ember.no_grad
    def b():
        return _records()

    @ember.enable_grad()
    def c():
        return _records()
    assert a() is False and b() is False and _records()
    with ember.no_grad():
        assert c() is True
    assert a.__name__ == "a"


def test_set_grad_enabled_call_context_and_decorator():
    ember.set_grad_enabled(False)
    try:
        assert not _records()
    finally:
        ember.set_grad_enabled(True)
    with ember.set_grad_enabled(False):
        assert not _records()
    assert _records()

    @ember.set_grad_enabled(False)
    def f():
        return _records()
    assert ember.is_grad_enabled()  # decorating does not switch the mode
    assert f() is False and ember.is_grad_enabled()


def test_no_grad_builds_no_graph_but_keeps_values():
    x = ember.ones(3, requires_grad=True)
    with ember.no_grad():
        y = (x * 2).exp()
    assert y.grad_fn is None and not y.requires_grad
    assert y.tolist() == pytest.approx([7.389056] * 3, rel=1e-6)


def test_module_level_imports():
    from ember.autograd import enable_grad, no_grad, set_grad_enabled
    assert ember.autograd.is_grad_enabled is ember.is_grad_enabled


def _in_thread(fn):
    """Run ``fn`` in a new thread and return what it returned (or raise what it raised)."""
    import threading
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=30)
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.parametrize("lib", ["ember", "torch"])
def test_grad_mode_is_per_thread(lib):
    """One thread sits inside no_grad (holding a barrier) while another records and runs
    backward: both are correct, as in PyTorch where grad mode is thread-local."""
    import threading

    import numpy as np
    m = ember if lib == "ember" else pytest.importorskip("torch")
    inside, done = threading.Event(), threading.Event()
    results = {}

    def quiet():
        with m.no_grad():
            inside.set()
            assert done.wait(30)
            y = m.ones(2, requires_grad=True) * 3
            results["quiet"] = (m.is_grad_enabled(), y.requires_grad)

    def train():
        assert inside.wait(30)
        x = m.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        results["train"] = (m.is_grad_enabled(), x.grad.numpy().copy())
        done.set()

    threads = [threading.Thread(target=quiet), threading.Thread(target=train)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results["quiet"] == (False, False)
    assert results["train"][0] is True
    np.testing.assert_array_equal(results["train"][1], [2.0, 4.0])


def test_new_thread_starts_with_grad_enabled():
    """A thread started inside no_grad / inference_mode starts with grad enabled and outside
    inference mode, as in PyTorch."""
    torch = pytest.importorskip("torch")
    for m in (ember, torch):
        with m.no_grad():
            assert _in_thread(m.is_grad_enabled) is True
            assert m.is_grad_enabled() is False
        with m.inference_mode():
            assert _in_thread(lambda m=m: (m.is_grad_enabled(), m.is_inference_mode_enabled())) \
                == (True, False)
            assert m.is_inference_mode_enabled()
        with m.set_grad_enabled(False):
            assert _in_thread(lambda m=m: (m.ones(1, requires_grad=True) * 2).requires_grad)
