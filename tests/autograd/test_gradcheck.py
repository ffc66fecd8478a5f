"""ember.autograd.gradcheck: passes on correct gradients, names the culprit otherwise."""
import numpy as np
import pytest

import ember
from ember.autograd import Function, GradcheckError, gradcheck


class WrongSquare(Function):
    """x**2 with a gradient that is wrong for one element only."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        gx = 2 * self.saved[0] * gy
        gx.reshape(-1)[-1] *= 1.5
        return gx


class WrongSecond(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved
        return gy * b, gy * a * 2  # the second input's gradient is doubled


def _x(*shape):
    return ember.randn(*shape, dtype=ember.float64, requires_grad=True)


def test_passes_on_correct_functions():
    assert gradcheck(lambda x: (x.exp() * x.sin()).sum(1), [_x(3, 4)])
    assert gradcheck(lambda a, b: (a @ b).tanh(), [_x(2, 3), _x(3, 2)])
    assert gradcheck(lambda a, b: a.max(1), [_x(3, 4), None])  # (values, indices)
    assert gradcheck(lambda x: x * 2, _x(3))  # a single tensor, not a list


def test_wrong_gradient_names_input_and_element():
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\)\), element \(1, 2\)"):
        gradcheck(WrongSquare.apply, [_x(2, 3)])
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(WrongSecond.apply, [_x(3), _x(3)])
    assert gradcheck(WrongSquare.apply, [_x(3)], raise_exception=False) is False


def test_fast_mode():
    assert gradcheck(lambda a, b: (a @ b).sigmoid(), [_x(4, 5), _x(5, 3)], fast_mode=True)
    with pytest.raises(GradcheckError, match="fast mode.*input 1"):
        gradcheck(WrongSecond.apply, [_x(3), _x(3)], fast_mode=True)


def test_inputs_not_requiring_grad_are_skipped_and_float32_refused():
    const = ember.randn(3, dtype=ember.float64)
    assert gradcheck(lambda x, c: x * c, [_x(3), const])
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, [ember.randn(3, requires_grad=True)])


def test_inputs_are_restored():
    x = _x(2, 2)
    before = x.detach().numpy().copy()
    gradcheck(lambda x: x ** 3, [x])
    gradcheck(lambda x: x ** 3, [x], fast_mode=True)
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x.grad is None  # the check does not touch .grad


def test_scalar_input_and_output():
    assert gradcheck(lambda x: x.exp(), [ember.tensor(0.3, dtype=ember.float64,
                                                      requires_grad=True)])


def test_non_contiguous_input():
    x = ember.randn(3, 4, dtype=ember.float64).T.detach().requires_grad_()
    assert not x.array.flags.c_contiguous
    assert gradcheck(lambda x: (x * x).sum(0), [x])
