"""A bounded fuzz test of the common ops against PyTorch (hypothesis): empty and 0-d
tensors, size-1 broadcasting, negative dims, extreme values (+-1e300, subnormals, inf, nan),
non-contiguous inputs (transposed, sliced) and int / bool dtypes. For each drawn case both
libraries run the same function: either both raise or both return, with equal shapes, equal
dtypes and equal values (nan, inf and their positions included)."""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import ember
from _parity import import_torch

torch = import_torch()

# FUZZ_N=400 explores more (random seeds); by default a fixed, quick run (~5 s for the file)
_N = os.environ.get("FUZZ_N")
FUZZ = settings(max_examples=int(_N or 40), deadline=None, derandomize=_N is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_}
EXTREME = [0.0, -0.0, 1.0, -1.5, 1e300, -1e300, 1e-310, np.inf, -np.inf, np.nan, 3.25]


def _elements(dtype):
    if dtype == "bool":
        return st.booleans()
    if dtype == "int64":
        return st.integers(-5, 5)
    width = 32 if dtype == "float32" else 64
    return st.one_of(st.sampled_from(EXTREME),
                     st.floats(-10, 10, width=width, allow_subnormal=False))


def _array(draw, shape, dtype):
    arr = draw(hnp.arrays(DTYPES[dtype], shape, elements=_elements(dtype)))
    return arr


def _tensor(m, arr, layout):
    """``arr`` as a tensor of ``m``: contiguous, transposed back from a transposed copy, or
    every other row of a doubled copy (both non-contiguous views with arr's values)."""
    if layout == "transposed" and arr.ndim >= 2:
        dims = tuple(reversed(range(arr.ndim)))
        return m.tensor(np.ascontiguousarray(arr.transpose(dims))).permute(*dims)
    if layout == "sliced" and arr.ndim >= 1:
        return m.tensor(np.repeat(arr, 2, axis=0))[::2]
    return m.tensor(arr)


def _run(fn, m, arrays, layouts):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(m, *(_tensor(m, a, lay) for a, lay in zip(arrays, layouts))), None
        except Exception as e:  # noqa: BLE001 - which exception is compared separately
            return None, e


def _compare(fn, arrays, layouts, what, scaled_atol=False):
    """Both raise, or both return equal results (shape, dtype, values with nan/inf).
    ``scaled_atol``: an absolute tolerance of a few ulps of the largest finite input, for
    results that cancel (std of equal values: PyTorch's Welford pass gives exactly 0, a
    two-pass sum a few ulps of the mean)."""
    e_out, e_err = _run(fn, ember, arrays, layouts)
    t_out, t_err = _run(fn, torch, arrays, layouts)
    assert (e_err is None) == (t_err is None), (
        f"{what}: ember {'raised ' + repr(e_err) if e_err else 'returned'}, torch "
        f"{'raised ' + repr(t_err) if t_err else 'returned'} for inputs {arrays!r} "
        f"({layouts})")
    if e_err is not None:
        return
    e_outs = e_out if isinstance(e_out, tuple) else (e_out,)
    t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
    for e, t in zip(e_outs, t_outs):
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (
            f"{what}: dtype {e.dtype} vs torch {t.dtype} for {arrays!r}")
        ev, tv = e.detach().numpy(), t.detach().numpy()
        assert ev.shape == tv.shape, f"{what}: shape {ev.shape} vs torch {tv.shape}"
        if ev.dtype.kind == "f":
            rtol = 1e-4 if ev.dtype == np.float32 else 1e-10
            # the same values, nan in the same places, infs of the same sign in the same places
            np.testing.assert_array_equal(np.isnan(ev), np.isnan(tv), err_msg=what)
            np.testing.assert_array_equal(np.isinf(ev) * np.sign(ev), np.isinf(tv) * np.sign(tv),
                                          err_msg=what)
            fin = np.isfinite(ev) & np.isfinite(tv)
            atol = 1e-300
            if scaled_atol:
                big = [np.abs(a[np.isfinite(a)]).max() for a in arrays
                       if a.dtype.kind == "f" and np.isfinite(a).any()]
                atol = max([atol] + [b * (1e-6 if ev.dtype == np.float32 else 1e-14)
                                     for b in big])
            np.testing.assert_allclose(ev[fin], tv[fin], rtol=rtol, atol=atol,
                                       err_msg=f"{what} on {arrays!r}")
        else:
            np.testing.assert_array_equal(ev, tv, err_msg=f"{what} on {arrays!r}")


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
LAYOUTS = st.sampled_from(["contiguous", "transposed", "sliced"])
DTYPE = st.sampled_from(list(DTYPES))

UNARY = {
    "neg": lambda m, x: -x, "abs": lambda m, x: m.abs(x), "exp": lambda m, x: m.exp(x),
    "log": lambda m, x: m.log(x), "sqrt": lambda m, x: m.sqrt(x),
    "sin": lambda m, x: m.sin(x), "tanh": lambda m, x: m.tanh(x),
    "sigmoid": lambda m, x: m.sigmoid(x), "relu": lambda m, x: m.relu(x),
    "floor": lambda m, x: m.floor(x), "sign": lambda m, x: m.sign(x),
    "square": lambda m, x: m.square(x), "reciprocal": lambda m, x: m.reciprocal(x),
}


@pytest.mark.parametrize("name", list(UNARY))
@FUZZ
@given(data=st.data())
def test_unary_math(name, data):
    dtype = data.draw(DTYPE)
    arr = _array(data.draw, data.draw(SHAPES), dtype)
    _compare(UNARY[name], [arr], [data.draw(LAYOUTS)], f"{name}({dtype})")


BINARY = {
    "add": lambda m, x, y: x + y, "sub": lambda m, x, y: x - y,
    "mul": lambda m, x, y: x * y, "div": lambda m, x, y: x / y,
    "maximum": lambda m, x, y: m.maximum(x, y), "eq": lambda m, x, y: x == y,
    "lt": lambda m, x, y: x < y, "pow": lambda m, x, y: x ** y,
    "remainder": lambda m, x, y: m.remainder(x, y),
    "where": lambda m, x, y: m.where(x > 0, x, y),
}


@pytest.mark.parametrize("name", list(BINARY))
@FUZZ
@given(data=st.data())
def test_binary_arithmetic_with_broadcasting(name, data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                         min_side=0, max_side=3))
    dtype = data.draw(DTYPE)
    other = data.draw(st.sampled_from([dtype, "float64"]))  # same dtypes, or promotion
    arrays = [_array(data.draw, shapes.input_shapes[0], dtype),
              _array(data.draw, shapes.input_shapes[1], other)]
    if name == "sub" and "bool" in (dtype, other):
        arrays = [a.astype(np.int64) if a.dtype == np.bool_ else a for a in arrays]
    _compare(BINARY[name], arrays, [data.draw(LAYOUTS), data.draw(LAYOUTS)],
             f"{name}({dtype}, {other}) {shapes.input_shapes}")


REDUCTIONS = {
    "sum": lambda m, x, d, k: m.sum(x, d, keepdim=k),
    "mean": lambda m, x, d, k: m.mean(x, d, keepdim=k),
    "amax": lambda m, x, d, k: m.amax(x, d, keepdim=k),
    "prod": lambda m, x, d, k: m.prod(x, d, keepdim=k),
    "logsumexp": lambda m, x, d, k: m.logsumexp(x, d, keepdim=k),
    "amin": lambda m, x, d, k: m.amin(x, d, keepdim=k),
    "argmax": lambda m, x, d, k: m.argmax(x, d, keepdim=k),
    "max": lambda m, x, d, k: m.max(x, d, keepdim=k),
    "std": lambda m, x, d, k: m.std(x, d, keepdim=k),
    "all_dims": lambda m, x, d, k: m.sum(x),
    "cumsum": lambda m, x, d, k: m.cumsum(x, d),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@FUZZ
@given(data=st.data())
def test_reductions_with_dims(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    dtype = data.draw(DTYPE)
    arr = _array(data.draw, shape, dtype)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    _compare(lambda m, x: REDUCTIONS[name](m, x, dim, keepdim), [arr], [data.draw(LAYOUTS)],
             f"{name}({dtype}, dim={dim}, keepdim={keepdim})", scaled_atol=name == "std")


@FUZZ
@given(data=st.data())
def test_shape_ops(data):
    shape = data.draw(SHAPES)
    arr = _array(data.draw, shape, data.draw(DTYPE))
    n = max(len(shape), 1)
    d = data.draw(st.integers(-n, n - 1))
    u = data.draw(st.integers(-len(shape) - 1, len(shape)))
    fns = {
        "reshape": lambda m, x: x.reshape(-1),
        "permute": lambda m, x: x.permute(tuple(reversed(range(x.ndim)))),
        "transpose": lambda m, x: x.transpose(0, d) if x.ndim else x.transpose(0, 0),
        "squeeze": lambda m, x: x.squeeze(d),
        "unsqueeze": lambda m, x: x.unsqueeze(u),
        "flatten": lambda m, x: x.flatten(),
        "cat": lambda m, x: m.cat([x, x], d),
        "stack": lambda m, x: m.stack([x, x], u),
    }
    name = data.draw(st.sampled_from(sorted(fns)))
    _compare(fns[name], [arr], [data.draw(LAYOUTS)], f"{name} {shape} d={d} u={u}")


@FUZZ
@given(data=st.data())
def test_indexing_and_gather(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    arr = _array(data.draw, shape, data.draw(DTYPE))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    size = shape[dim]
    # indices in range (including negative ones for getitem), sometimes out of range
    i = data.draw(st.integers(-size - 1, size))
    index_shape = tuple(data.draw(st.integers(0, s)) for s in shape)
    index = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-1, size)))
    fns = {
        "getitem": lambda m, x: x[i],
        "getitem_list": lambda m, x: x[[i, 0]],
        "getitem_slice": lambda m, x: x[..., ::2],
        "gather": lambda m, x: m.gather(x, dim, m.tensor(index)),
        "index_select": lambda m, x: m.index_select(x, dim, m.tensor(index.reshape(-1))),
    }
    name = data.draw(st.sampled_from(sorted(fns)))
    _compare(fns[name], [arr], [data.draw(LAYOUTS)], f"{name} {shape} dim={dim} i={i}")


def _product_overflows(a, b):
    """Whether a product a[i, k] * b[k, j] of two finite operands overflows. The sum's
    result is then the BLAS's choice, not a rule: a fused multiply-add keeps the exact
    product (-1e600 + inf = inf) where separate multiply and add give -inf + inf = nan."""
    if a.dtype.kind != "f":
        return False
    a2 = a if a.ndim >= 2 else a[None, :]
    b2 = b if b.ndim >= 2 else b[:, None]
    with np.errstate(all="ignore"):
        prod = a2[..., :, :, None] * b2[..., None, :, :]
    finite = np.isfinite(a2)[..., :, :, None] & np.isfinite(b2)[..., None, :, :]
    return bool(np.any(finite & np.isinf(prod)))


@FUZZ
@given(data=st.data())
def test_matmul(data):
    n, k, p = (data.draw(st.integers(0, 3)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (1,), (2,)]))
    kind = data.draw(st.sampled_from(["mm", "mv", "vm", "vv", "batched"]))
    a_shape, b_shape = {"mm": ((n, k), (k, p)), "mv": ((n, k), (k,)), "vm": ((k,), (k, p)),
                        "vv": ((k,), (k,)),
                        "batched": (batch + (n, k), (k, p))}[kind]
    dtype = data.draw(st.sampled_from(["float64", "float32", "int64"]))
    arrays = [_array(data.draw, a_shape, dtype), _array(data.draw, b_shape, dtype)]
    assume(not _product_overflows(*arrays))
    _compare(lambda m, x, y: x @ y, arrays, [data.draw(LAYOUTS), data.draw(LAYOUTS)],
             f"matmul {kind} {a_shape} @ {b_shape} {dtype}")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FUZZ
@given(data=st.data())
def test_softmax(name, data):
    shape = data.draw(SHAPES)
    arr = _array(data.draw, shape, data.draw(st.sampled_from(["float64", "float32"])))
    n = max(len(shape), 1)
    dim = data.draw(st.integers(-n, n - 1))
    _compare(lambda m, x: getattr(m, name)(x, dim), [arr], [data.draw(LAYOUTS)],
             f"{name} {shape} dim={dim}")
