"""The Function contract: apply, needs_input_grad, several outputs, constants, config."""
import numpy as np
import pytest

import ember
from ember.autograd import Function


class ScaleShift(Function):
    """y = a * x + b with a keyword config; records what backward needed."""

    def forward(self, x, b, *, a):
        self.a = a
        self.seen = self.needs_input_grad
        return a * x + b

    def backward(self, gy):
        return (gy * self.a if self.needs_input_grad[0] else None,
                gy if self.needs_input_grad[1] else None)


class SplitHalves(Function):
    def forward(self, x):
        n = x.shape[0] // 2
        return x[:n] * 2, x[n:] * 3

    def backward(self, g1, g2):
        return self.xp.concatenate([g1 * 2, g2 * 3])


class ArgmaxAndMax(Function):
    def forward(self, x):
        i = x.argmax()
        self.save_for_backward(x)
        self.i = i
        return x.max(), i

    def backward(self, gy, gi):
        gx = self.xp.zeros_like(self.saved[0])
        gx[self.i] = gy
        return gx


def test_needs_input_grad_and_config():
    x = ember.ones(3, requires_grad=True)
    b = ember.ones(3)
    y = ScaleShift.apply(x, b, a=2.0)
    assert y.grad_fn.seen == (True, False) and y.grad_fn.name == "ScaleShiftBackward"
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0] and b.grad is None


def test_engine_unbroadcasts_custom_gradients():
    x = ember.ones(3, requires_grad=True)
    b = ember.tensor(1.0, requires_grad=True)
    ScaleShift.apply(x, b, a=3.0).sum().backward()
    assert b.grad.shape == () and b.grad.item() == 3.0


def test_no_record_without_grad():
    y = ScaleShift.apply(ember.ones(2), ember.ones(2), a=1.0)
    assert y.grad_fn is None and not y.requires_grad
    with ember.no_grad():
        z = ScaleShift.apply(ember.ones(2, requires_grad=True), ember.ones(2), a=1.0)
    assert z.grad_fn is None and z.grad_fn is None


def test_several_outputs_one_unused():
    x = ember.arange(4.0, requires_grad=True)
    a, b = SplitHalves.apply(x)
    assert a.grad_fn is b.grad_fn
    (b * 1).sum().backward()  # a gets no gradient: the engine passes zeros
    assert x.grad.tolist() == [0.0, 0.0, 3.0, 3.0]


def test_integer_output_has_no_gradient():
    x = ember.tensor([1.0, 5.0, 2.0], requires_grad=True)
    v, i = ArgmaxAndMax.apply(x)
    assert v.requires_grad and not i.requires_grad and i.item() == 1
    v.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_constant_array_and_none_inputs():
    x = ember.ones(2, requires_grad=True)
    y = ScaleShift.apply(x, np.array([1.0, 2.0], dtype=np.float32), a=1.0)
    y.sum().backward()
    assert y.tolist() == [2.0, 3.0] and x.grad.tolist() == [1.0, 1.0]


def test_forward_value_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"scaleshift: .*\(2,\), \(3,\)"):
        ScaleShift.apply(ember.ones(2), ember.ones(3), a=1.0)


def test_gradient_dtype_is_cast_to_input_dtype():
    class Widen(Function):
        def forward(self, x):
            return x.astype(np.float64)

        def backward(self, gy):
            return gy  # float64: the engine casts it to the input's float32

    x = ember.ones(2, requires_grad=True)
    Widen.apply(x).sum().backward()
    assert x.grad.dtype == ember.float32
