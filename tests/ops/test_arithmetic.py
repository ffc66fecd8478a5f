"""Arithmetic (+ - * / **, reflected and in-place forms), comparisons, logic and dtype
promotion against PyTorch, plus finite-difference gradchecks."""
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

import ember
from _parity import check_op, import_torch
from _table import Op

# shape pairs that exercise broadcasting in every way the engine has to undo
PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((4, 1), (1, 5))]

# tensor with tensor, on each pair of PAIRS (low/high: the input domain, default -2, 2)
BINARY = {
    "add": Op(lambda m, a, b: a + b),
    "sub": Op(lambda m, a, b: a - b),
    "mul": Op(lambda m, a, b: a * b),
    "div": Op(lambda m, a, b: a / (b + 3)),  # b + 3 keeps the divisor in [1, 5]
    "pow": Op(lambda m, a, b: a ** b, low=0.5),
    "add_alpha": Op(lambda m, a, b: m.add(a, b, alpha=2.5)),
    "sub_alpha": Op(lambda m, a, b: m.sub(a, b, alpha=-1.5)),
    "fn_mul": Op(lambda m, a, b: m.mul(a, b)),
    "fn_div": Op(lambda m, a, b: m.div(a, b), low=0.5),
    "fn_pow": Op(lambda m, a, b: m.pow(a, b), low=0.5),
    "remainder": Op(lambda m, a, b: a % (b + 3)),
    "fn_remainder": Op(lambda m, a, b: m.remainder(a, b - 3)),
}

# Python numbers on either side (the reflected dunders)
SCALAR = {
    "radd": Op(lambda m, x: 2.5 + x),
    "rsub": Op(lambda m, x: 2.5 - x),
    "rmul": Op(lambda m, x: -1.5 * x),
    "rdiv": Op(lambda m, x: 2.0 / (x + 3)),
    "rpow": Op(lambda m, x: 2.0 ** x),
    "add_s": Op(lambda m, x: x + 2),
    "sub_s": Op(lambda m, x: x - 0.5),
    "mul_s": Op(lambda m, x: x * 3),
    "div_s": Op(lambda m, x: x / 4),
    "pow_2": Op(lambda m, x: x ** 2),
    "pow_3": Op(lambda m, x: x ** 3),
    "pow_half": Op(lambda m, x: (x + 3) ** 0.5),
    "pow_neg": Op(lambda m, x: (x + 3) ** -1.5),
    "neg": Op(lambda m, x: -x),
    "pos": Op(lambda m, x: +x),
    "square": Op(lambda m, x: m.square(x)),
    "reciprocal": Op(lambda m, x: m.reciprocal(x + 3)),
    "mul_self": Op(lambda m, x: x * x),            # one tensor in both slots: gradients add up
    "add_self": Op(lambda m, x: x + x),
    "div_self": Op(lambda m, x: x / (x * x + 1)),
}


def _inplace(op, m, a, b):
    x = a * 1  # a non-leaf, so the in-place op is recorded in the graph
    if op == "iadd":
        x += b
    elif op == "isub":
        x -= b
    elif op == "imul":
        x *= b
    elif op == "idiv":
        x /= b + 3
    elif op == "add_":
        x.add_(b, alpha=2)
    elif op == "sub_":
        x.sub_(b)
    elif op == "mul_":
        x.mul_(b)
    elif op == "div_":
        x.div_(b + 3)
    return x


INPLACE = {op: Op(partial(_inplace, op)) for op in
           ["iadd", "isub", "imul", "idiv", "add_", "sub_", "mul_", "div_"]}


@pytest.mark.parametrize("shapes", PAIRS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_parity(name, shapes):
    BINARY[name].parity(shapes=shapes)


@pytest.mark.parametrize("shapes", PAIRS[1:3], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradcheck(name, shapes):
    BINARY[name].gradcheck(shapes)


@pytest.mark.parametrize("name", list(SCALAR))
def test_scalar_parity_and_gradcheck(name):
    SCALAR[name].parity(shapes=[(3, 4)])
    SCALAR[name].gradcheck([(2, 3)])


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), ())], ids=str)
@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_parity(op, shapes):
    INPLACE[op].parity(shapes=shapes)
    INPLACE[op].gradcheck(shapes)


@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "idiv"])
def test_inplace_with_python_scalar(op):
    torch = import_torch()

    def f(m, a):
        return _inplace(op, m, a, 1.5)
    check_op(partial(f, ember), partial(f, torch))


def test_inplace_keeps_identity_and_dtype():
    x = ember.ones(3)
    before = x
    x += 1
    x *= ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64)  # float64 result cast back
    assert x is before and x.dtype == ember.float32
    np.testing.assert_allclose(x.numpy(), [2, 4, 6])
    i = ember.tensor([1, 2])
    with pytest.raises(TypeError, match="in place"):
        i += 0.5  # as in torch: a float result cannot be written into an integer tensor


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                max_side=3))
def test_broadcasting_property(shapes):
    a_shape, b_shape = shapes.input_shapes
    for name in ("add", "sub", "mul", "div"):
        BINARY[name].parity(shapes=[a_shape, b_shape])
        out = BINARY[name].on(ember)(ember.zeros(a_shape), ember.zeros(b_shape))
        assert tuple(out.shape) == shapes.result_shape


# --- comparisons and logic: values and dtypes, no gradient ---------------------------

COMPARE = {
    "eq": Op(lambda m, a, b: a == b), "ne": Op(lambda m, a, b: a != b),
    "lt": Op(lambda m, a, b: a < b), "le": Op(lambda m, a, b: a <= b),
    "gt": Op(lambda m, a, b: a > b), "ge": Op(lambda m, a, b: a >= b),
    "fn_ge": Op(lambda m, a, b: m.ge(a, b)), "fn_eq": Op(lambda m, a, b: m.eq(a, b)),
    "scalar": Op(lambda m, a, b: a > 0.5), "rscalar": Op(lambda m, a, b: 0.5 < a),
    "and": Op(lambda m, a, b: (a > 0) & (b > 0)), "or": Op(lambda m, a, b: (a > 0) | (b > 0)),
    "xor": Op(lambda m, a, b: (a > 0) ^ (b > 0)), "not": Op(lambda m, a, b: ~(a > b)),
    "logical_and": Op(lambda m, a, b: m.logical_and(a, b)),
    "logical_or": Op(lambda m, a, b: m.logical_or(a > 0, b)),
    "logical_xor": Op(lambda m, a, b: m.logical_xor(a, b > 0)),
    "logical_not": Op(lambda m, a, b: m.logical_not(a)),
    "isclose": Op(lambda m, a, b: m.isclose(a, b + 1e-9)),
    "floor_divide": Op(lambda m, a, b: a // (b.abs() + 1)),
    "remainder": Op(lambda m, a, b: (a % (b.abs() + 1)) > 0.5),
    "div_floor": Op(lambda m, a, b: m.div(a, b.abs() + 1, rounding_mode="floor")),
    "div_trunc": Op(lambda m, a, b: m.div(a, b.abs() + 1, rounding_mode="trunc")),
}


@pytest.mark.parametrize("name", list(COMPARE))
def test_compare_and_logic(name):
    rng = np.random.default_rng(0)
    a = np.round(rng.uniform(-2, 2, (4, 5)))  # rounded: ties make == and <= meaningful
    b = np.round(rng.uniform(-2, 2, (5,)))
    COMPARE[name].parity(inputs=[a, b], grad=False)


def test_comparison_integer_tensors():
    a, b = np.arange(6).reshape(2, 3), np.array([1, 3, 5])
    for name in ("lt", "eq", "floor_divide", "remainder"):
        COMPARE[name].parity(inputs=[a, b], grad=False)
    assert ember.allclose(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 2.0 + 1e-9]))
    assert ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2]))
    assert not ember.equal(ember.tensor([1, 2]), ember.tensor([[1, 2]]))


def test_comparisons_have_no_gradient():
    x = ember.randn(3, requires_grad=True)
    assert not (x > 0).requires_grad and (x > 0).dtype == ember.bool


# --- dtype promotion (PyTorch's rules) -------------------------------------------------

def _dtype_cases(torch):
    e, t = ember, torch
    return [  # (ember a, ember b, torch a, torch b)
        (e.ones(2), e.ones(2), t.ones(2), t.ones(2)),
        (e.ones(2), 2.5, t.ones(2), 2.5),
        (2.5, e.ones(2), 2.5, t.ones(2)),
        (e.ones(2), np.float64(2.0), t.ones(2), np.float64(2.0)),
        (e.ones(2, dtype=e.float16), 2.5, t.ones(2, dtype=t.float16), 2.5),
        (e.tensor([1, 2]), 2.5, t.tensor([1, 2]), 2.5),
        (e.tensor([1, 2]), 2, t.tensor([1, 2]), 2),
        (e.tensor([1, 2], dtype=e.int32), 2, t.tensor([1, 2], dtype=t.int32), 2),
        (e.tensor([1, 2]), e.ones(2), t.tensor([1, 2]), t.ones(2)),
        (e.tensor([1, 2], dtype=e.int32), e.tensor([1, 2]),
         t.tensor([1, 2], dtype=t.int32), t.tensor([1, 2])),
        (e.ones(2), e.tensor(1.0, dtype=e.float64), t.ones(2), t.tensor(1.0, dtype=t.float64)),
        (e.tensor([1, 2]), e.tensor(1.0, dtype=e.float64),
         t.tensor([1, 2]), t.tensor(1.0, dtype=t.float64)),
        (e.ones(2, dtype=e.float64), e.ones(2), t.ones(2, dtype=t.float64), t.ones(2)),
        (e.tensor([True]), e.tensor([True]), t.tensor([True]), t.tensor([True])),
        (e.tensor([True]), 2, t.tensor([True]), 2),
        (e.tensor([1, 2], dtype=e.uint8), e.tensor([1, 2], dtype=e.int8),
         t.tensor([1, 2], dtype=t.uint8), t.tensor([1, 2], dtype=t.int8)),
    ]


@pytest.mark.parametrize("op", ["add", "mul", "truediv", "sub"])
def test_dtype_promotion_matches_torch(op):
    torch = import_torch()
    import operator
    f = getattr(operator, op)
    for k, (ea, eb, ta, tb) in enumerate(_dtype_cases(torch)):
        if op == "sub" and "bool" in str(getattr(ta, "dtype", "")):
            continue  # torch refuses bool subtraction
        want = str(f(ta, tb).dtype).replace("torch.", "")
        assert str(f(ea, eb).dtype) == want, f"case {k}: {op}"


def test_float32_stays_float32_through_ops():
    x = ember.randn(3, requires_grad=True)
    y = (2 * x + 1.5) / 3 - x ** 2
    assert y.dtype == ember.float32
    y.sum().backward()
    assert x.grad.dtype == ember.float32


def test_gradient_through_promotion_has_input_dtype():
    a = ember.randn(3, requires_grad=True)  # float32
    b = ember.randn(3, dtype=ember.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == ember.float32 and b.grad.dtype == ember.float64
    np.testing.assert_allclose(a.grad.numpy(), b.detach().numpy(), rtol=1e-6)


def test_numpy_array_operand():
    x = ember.ones(2)
    y = x + np.array([1.0, 2.0], dtype=np.float32)
    assert isinstance(y, ember.Tensor) and y.tolist() == [2.0, 3.0]
    assert y.dtype == ember.float32
    assert (np.float64(2.0) * x).dtype == ember.float32


# --- errors ------------------------------------------------------------------------------

def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError) as info:
        ember.ones(3, 4) + ember.ones(5)
    assert "(3, 4)" in str(info.value) and "(5,)" in str(info.value)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        ember.maximum(ember.ones(2, 3), ember.ones(4))


def test_arithmetic_on_device(device):
    x = ember.randn(3, 4, device=device, requires_grad=True)
    y = ember.randn(4, device=device)
    out = (x * y + 2) / (y.abs() + 1) - x ** 2
    out.sum().backward()
    assert x.grad.device == ember.device(device)
    xn, yn = x.detach().cpu().numpy(), y.cpu().numpy()
    np.testing.assert_allclose(x.grad.cpu().numpy(), y.cpu().numpy() / (np.abs(yn) + 1) -
                               2 * xn, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_gradients_at_special_points():
    torch = import_torch()
    z = np.zeros(3)
    base = np.array([-2.0, 0.0, 2.0])
    for fn, inputs in [(lambda m, x: x ** 0.0, [z]), (lambda m, x: x ** 2, [z]),
                       (lambda m, x, y: x ** y, [z, z]), (lambda m, x: x ** 3.0, [base]),
                       (lambda m, x, y: x ** y, [base, np.array([2.0, 2.0, 0.0])]),
                       (lambda m, x: m.pow(x, 1), [z])]:
        check_op(partial(fn, ember), partial(fn, torch), inputs=inputs)


def test_div_gradient_for_a_tiny_denominator_stays_finite_as_torch():
    """d(a/b)/db = -(g/b)(a/b): finite where b*b would underflow (|b| ~ 1e-160)."""
    torch = import_torch()
    grads = []
    for m in (ember, torch):
        a = m.tensor([1e-160, 1.0, -3.0], dtype=m.float64)
        b = m.tensor([1e-160, 1e-100, 2.0], dtype=m.float64, requires_grad=True)
        (a / b).sum().backward()
        grads.append(b.grad.numpy())
    assert np.isfinite(grads[0]).all()
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def _values_and_grads(m, f, *arrays):
    xs = [m.tensor(a, dtype=m.float64, requires_grad=True) for a in arrays]
    y = f(*xs)
    y.backward(m.ones_like(y))
    return [y.detach().numpy()] + [x.grad.numpy() for x in xs]


def _assert_same_with_signs(a, b):
    """Equal values with nan and inf in the same places and zeros of the same sign."""
    np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(np.signbit(a) & ~np.isnan(a), np.signbit(b) & ~np.isnan(b))


@pytest.mark.parametrize("e", [0.0, 0.5, 1.0, 2.0, 3.0, -1.0, -0.5, -2.0])
def test_pow_at_zero_and_negative_bases_as_torch(e):
    """Values and gradients (base and exponent) at +0, -0 and negative bases, for a number
    exponent (PyTorch's sqrt / rsqrt paths) and for a tensor exponent."""
    torch = import_torch()
    base = np.array([0.0, -0.0, 2.0, -2.0, -np.inf])
    for f in (lambda x: x ** e, lambda x: x.pow(e), lambda x: x ** (e + 1)):
        for a, b in zip(_values_and_grads(ember, f, base), _values_and_grads(torch, f, base)):
            _assert_same_with_signs(a, b)
    for exponent in (np.full(5, e), np.array(e)):  # an exponent tensor: IEEE pow
        with np.errstate(all="ignore"):
            got = _values_and_grads(ember, lambda x, y: x ** y, base, exponent)
        for a, b in zip(got, _values_and_grads(torch, lambda x, y: x ** y, base, exponent)):
            _assert_same_with_signs(a, b)


def test_pow_exponent_gradient_at_zero_base_as_torch():
    """d(a**b)/db at a == 0: 0 where b >= 0, -inf * ... (not nan) where b < 0."""
    torch = import_torch()
    args = (np.array([0.0, 0.0, 0.0, -0.0, -2.0]), np.array([0.0, 1.0, -1.0, -1.0, 0.5]))
    with np.errstate(all="ignore"):
        got = _values_and_grads(ember, lambda x, y: x ** y, *args)
    for a, b in zip(got, _values_and_grads(torch, lambda x, y: x ** y, *args)):
        _assert_same_with_signs(a, b)


def test_square_of_bool_is_int64_as_torch():
    """Found by tests/ops/test_fuzz.py: PyTorch squares a bool tensor as pow(x, 2): int64."""
    torch = import_torch()
    x = [True, False]
    a, b = ember.square(ember.tensor(x)), torch.square(torch.tensor(x))
    assert a.dtype == ember.int64 and b.dtype == torch.int64
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def _same_outcome(fn):
    """fn(m) for ember and torch: both raise the same exception type, or both return the
    same values and dtype."""
    torch = import_torch()
    out = []
    for m in (ember, torch):
        try:
            out.append(fn(m))
        except Exception as e:  # noqa: BLE001 - compared below
            out.append(e)
    a, b = out
    if isinstance(b, Exception):
        assert type(a) is type(b), (a, b)
        return
    assert not isinstance(a, Exception), a
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("fn", [
    lambda m: m.tensor([0, 1, -1, 2, -2, 0, -1, 3]) ** m.tensor([-1, -1, -1, -1, -1, -2, -2, -3]),
    lambda m: 2 ** m.tensor([-1, 2]),
    lambda m: m.tensor([2]) ** -1,  # a number exponent: refused
    lambda m: m.tensor([True]) ** m.tensor([True]),
    lambda m: m.tensor([True]) ** 2,
    lambda m: m.tensor([5, 3]) // m.tensor([0, 1]),
    lambda m: m.remainder(m.tensor([5]), 0),
    lambda m: m.tensor([5.0]) // m.tensor([0.0]),
    lambda m: m.tensor([True]) % m.tensor([True]),
    lambda m: m.tensor([True]) // m.tensor([True]),
], ids=["int_neg_pow", "number_to_int_neg", "int_to_neg_number", "bool_pow", "bool_pow_int",
        "floordiv_int_zero", "remainder_int_zero", "floordiv_float_zero", "bool_mod",
        "bool_floordiv"])
def test_integer_and_bool_pow_and_division_edges_as_torch(fn):
    """Found by tests/ops/test_fuzz.py: integers to negative powers (1, +-1 or 0; a negative
    number exponent is refused), no bool kernel for pow / remainder / floor_divide, and an
    integer division by zero is a RuntimeError, all as in PyTorch."""
    with np.errstate(all="ignore"):
        _same_outcome(fn)
