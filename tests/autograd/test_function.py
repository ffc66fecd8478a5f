"""The Function contract: apply, needs_input_grad, several outputs, constants, config; and
PyTorch's contract (staticmethods on Tensors with ctx), against torch."""
import numpy as np
import pytest
from _parity import import_torch

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


# --- PyTorch's contract: @staticmethod forward(ctx, ...) / backward(ctx, ...) on Tensors --
# Each Function below is built twice from one definition, on ember's and on torch's
# Function (``m`` is the library), and the two are run on the same inputs.

def make_functions(m):
    """The same custom Functions for ember (``m = ember``) or torch."""
    F = m.autograd.Function

    class Exp(F):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, gy):
            (y,) = ctx.saved_tensors
            return gy * y

    class MulConst(F):
        """x * w * c with a Python constant c; records needs_input_grad."""

        @staticmethod
        def forward(ctx, x, w, c):
            ctx.save_for_backward(x, w)
            ctx.c = c
            MulConst.seen = ctx.needs_input_grad
            return x * w * c

        @staticmethod
        def backward(ctx, gy):
            x, w = ctx.saved_tensors
            gx = gy * w * ctx.c if ctx.needs_input_grad[0] else None
            gw = gy * x * ctx.c if ctx.needs_input_grad[1] else None
            return gx, gw, None

    class SortTwo(F):
        """(values * 2, integer ranks): the ranks are marked non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            ranks = x.argsort() if m is not ember else m.tensor(np.argsort(x.detach().numpy()))
            ctx.mark_non_differentiable(ranks)
            return x * 2, ranks

        @staticmethod
        def backward(ctx, g, g_ranks):
            return g * 2

    class Halves(F):
        """Two outputs; records which gradients backward received (None or zeros)."""
        received = []

        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            n = x.shape[0] // 2
            return x[:n] * 2, x[n:] * 3

        @staticmethod
        def backward(ctx, g1, g2):
            Halves.received.append((g1 is None, g2 is None))
            g1 = m.zeros(2, dtype=m.float64) if g1 is None else g1
            g2 = m.zeros(2, dtype=m.float64) if g2 is None else g2
            return m.cat([g1 * 2, g2 * 3]), None

    class Square(F):
        """PyTorch 2's style: forward without ctx, then setup_context."""

        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, gy):
            (x,) = ctx.saved_tensors
            return 2 * x * gy

    class TooMany(F):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, gy):
            return gy, gy

    return dict(Exp=Exp, MulConst=MulConst, SortTwo=SortTwo, Halves=Halves, Square=Square,
                TooMany=TooMany)


def _leaf(m, values):
    return m.tensor(values, dtype=m.float64, requires_grad=True)


def _on_both(run):
    """``run(m, fns)`` on ember and torch; their results as NumPy arrays (None kept)."""
    torch = import_torch()
    out = []
    for m in (ember, torch):
        res = run(m, make_functions(m))
        out.append([None if r is None else np.asarray(r.detach() if hasattr(r, "detach")
                                                       else r) for r in res])
    return out


def _same(pair):
    mine, theirs = pair
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_custom_function_values_and_gradients_match_torch():
    def run(m, fns):
        x = _leaf(m, [0.5, -1.0, 2.0])
        y = fns["Exp"].apply(x)
        (y * _leaf(m, [1.0, 2.0, 3.0]).detach()).sum().backward()
        return y, x.grad
    _same(_on_both(run))


def test_constants_and_needs_input_grad_match_torch():
    def run(m, fns):
        x, w = _leaf(m, [1.0, 2.0]), m.tensor([3.0, 4.0], dtype=m.float64)
        y = fns["MulConst"].apply(x, w, 2.5)
        y.sum().backward()
        seen = fns["MulConst"].seen
        return y, x.grad, np.array(seen, dtype=float)
    _same(_on_both(run))


def test_mark_non_differentiable_matches_torch():
    def run(m, fns):
        x = _leaf(m, [3.0, 1.0, 2.0])
        values, ranks = fns["SortTwo"].apply(x)
        assert not ranks.requires_grad and values.requires_grad
        values.sum().backward()
        return values, ranks, x.grad
    _same(_on_both(run))


@pytest.mark.parametrize("materialize", [True, False])
def test_unused_output_gets_zeros_or_none_as_torch(materialize):
    def run(m, fns):
        fns["Halves"].received.clear()
        x = _leaf(m, [1.0, 2.0, 3.0, 4.0])
        first, _ = fns["Halves"].apply(x, materialize)
        first.sum().backward()
        return x.grad, np.array(fns["Halves"].received, dtype=float)
    _same(_on_both(run))


def test_setup_context_style_matches_torch():
    def run(m, fns):
        x = _leaf(m, [1.5, -2.0])
        y = fns["Square"].apply(x)
        y.sum().backward()
        return y, x.grad
    _same(_on_both(run))


def test_errors_where_torch_raises():
    torch = import_torch()
    for m in (ember, torch):
        fns = make_functions(m)
        x = _leaf(m, [1.0, 2.0])
        with pytest.raises(RuntimeError, match="incorrect number of gradients"):
            fns["TooMany"].apply(x).sum().backward()
        y = fns["Exp"].apply(x)
        y.sum().backward()
        with pytest.raises(RuntimeError):
            y.grad_fn.saved_tensors  # freed after backward
        x2 = _leaf(m, [1.0, 2.0])
        with pytest.raises(RuntimeError, match="modified by an inplace operation|in-place"):
            z = x2 * 1
            y2 = fns["Square"].apply(z)
            z.mul_(2)  # the saved input changed before backward
            y2.sum().backward()


def test_custom_function_gradcheck_and_node_name():
    fns = make_functions(ember)
    x = ember.randn(4, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(fns["Exp"].apply, [x])
    assert ember.autograd.gradcheck(fns["Square"].apply, [x])
    y = fns["Exp"].apply(x)
    assert y.grad_fn.name == "ExpBackward" and "ExpBackward" in repr(y)
    assert not fns["Exp"].apply(x.detach()).requires_grad  # nothing to record


def test_once_differentiable_is_accepted():
    from ember.autograd import once_differentiable

    class Double(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        @once_differentiable
        def backward(ctx, gy):
            return gy * 2

    x = ember.ones(3, requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
