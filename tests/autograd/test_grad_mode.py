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
