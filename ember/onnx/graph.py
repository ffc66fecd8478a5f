"""The graph an export builds while the model runs once: values keyed by the identity of the
arrays flowing through, ONNX nodes, initializers, and the small helpers converters share.

A value is one of three kinds:
- *traced*: computed from the graph inputs (``values``: ``id(array) -> name``); an op with a
  traced input becomes nodes;
- a *parameter or buffer* of the model: an initializer under its state_dict name;
- any other array (a mask made with NumPy, a number promoted to an array, a parameter
  reshaped by an op on constants alone): an initializer ``const_<k>``. An op none of whose
  inputs is traced is not recorded at all (constant folding): its result is such an array.
"""
from __future__ import annotations

import math

import numpy as np

from ember.backend import memory_owner, to_numpy

INT_MAX = np.iinfo(np.int64).max


class ExportError(RuntimeError):
    """An op or a module that cannot be written as ONNX (the message names it)."""


def onnx_modules():
    """``(onnx, helper, numpy_helper)``, or a clear error if the package is missing."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:  # pragma: no cover - onnx is in the test extra
        raise ImportError("ember.onnx.export needs the onnx package: pip install "
                          "'ember[onnx]' (or pip install onnx)") from None
    return onnx, helper, numpy_helper


class Graph:
    """Nodes, initializers and the array -> value-name map of one export."""

    def __init__(self, params, opset, dynamic_sizes, hints=None):
        self.onnx, self.helper, self.numpy_helper = onnx_modules()
        self.opset = opset
        self.nodes = []
        self.initializers = {}          # name -> numpy array
        self.values = {}                # id(array) -> name, for traced values
        self.consts = {}                # id(array) -> name, for constants already used
        self.keep = []                  # every array seen, so that ids stay unique
        self.params = {id(a): (n, a) for n, a in params}
        self.param_views = {}           # id(memory owner) -> [(name, array)]
        for n, a in params:
            self.param_views.setdefault(id(memory_owner(a)), []).append((n, a))
        self.dynamic_sizes = dynamic_sizes  # (input name, axis) -> (size, other size)
        self.hints = hints                  # ShapeLog entries of the run at other sizes
        self.hint = None                    # the current op's entry
        self.counter_ops = -1               # ops seen so far (their index in hints)
        self.producers = {}             # value name -> (kind, info) for converters' look-back
        self.counter = 0

    # --- names ---------------------------------------------------------------------------
    def fresh(self, hint="v"):
        self.counter += 1
        return f"{hint}_{self.counter}"

    def traced(self, a):
        return a is not None and id(a) in self.values

    def bind(self, array, name):
        """``array`` (an op's output) is the value ``name`` from now on."""
        self.keep.append(array)
        self.values[id(array)] = name
        self.consts.pop(id(array), None)

    def forget(self, array):
        """``array`` was overwritten with constant data (an in-place fill)."""
        self.values.pop(id(array), None)
        self.consts.pop(id(array), None)

    def name(self, a):
        """The value name of an op's input: traced, a parameter (by its state_dict name) or
        a new constant initializer."""
        if a is None:
            return ""
        key = id(a)
        if key in self.values:
            return self.values[key]
        if key in self.consts:
            return self.consts[key]
        self.keep.append(a)
        n = self._param_name(a)
        if n is None:
            n = self.fresh("const")
        if n not in self.initializers:
            self.initializers[n] = np.ascontiguousarray(to_numpy(a))
        self.consts[key] = n
        return n

    def _param_name(self, a):
        if id(a) in self.params:
            return self.params[id(a)][0]
        for n, p in self.param_views.get(id(memory_owner(a)), ()):
            if p.shape == a.shape and p.strides == a.strides and p.dtype == a.dtype and \
                    p.__array_interface__["data"][0] == a.__array_interface__["data"][0]:
                return n
        return None

    def const(self, value, dtype=None, hint="const"):
        """A new initializer holding ``value``."""
        arr = np.asarray(value, dtype=dtype)
        n = self.fresh(hint)
        self.initializers[n] = arr
        return n

    def ints(self, values):
        return self.const(np.asarray(list(values), np.int64), hint="ints")

    # --- nodes ---------------------------------------------------------------------------
    def node(self, op, inputs, outputs=1, **attrs):
        """Append one node; returns its output name (or names, if ``outputs`` > 1)."""
        outs = [self.fresh(op.lower()) for _ in range(outputs)] if isinstance(outputs, int) \
            else list(outputs)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op, list(inputs), outs,
                                                name=f"{op}_{len(self.nodes)}", **attrs))
        return outs[0] if len(outs) == 1 else outs

    def reduce(self, op, x, axes, keepdims):
        """A Reduce* node over ``axes`` (an attribute before opset 18 except for ReduceSum,
        an input from then on)."""
        axes = [int(a) for a in axes]
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [x], axes=axes, keepdims=int(keepdims))

    # --- shapes that stay valid at other sizes of the dynamic axes --------------------------
    def next_hint(self, op, xs, config, ys):
        """The shapes the current op had in the run at other sizes (or its own, without
        dynamic axes): (op, input shapes, index-array shapes, output shapes)."""
        own = (op, [tuple(a.shape) for a in _arrays(xs)],
               [tuple(a.shape) for a in _arrays(list(config.values()))],
               [tuple(y.shape) for y in ys])
        if self.hints is None:
            return own
        k = self.counter_ops = self.counter_ops + 1
        if k >= len(self.hints) or self.hints[k][0] != op or \
                len(self.hints[k][1]) != len(own[1]) or len(self.hints[k][3]) != len(own[3]):
            raise ExportError(f"ember.onnx.export: the model runs other ops at another size of "
                              f"the dynamic axes (op {k}, {op}): it cannot be exported with "
                              "these dynamic_axes")
        return self.hints[k]

    def runtime_dim(self, size, other):
        """A 1-element int64 value holding the dynamic input dim that is ``size`` here and
        ``other`` at the other sizes, read from the input's shape; None if none is."""
        for (name, axis), sizes in self.dynamic_sizes.items():
            if sizes == (size, other):
                shape = self.node("Shape", [name])
                return self.node("Gather", [shape, self.ints([axis])], axis=0)
        return None

    def shape_vector(self, dims, other, what="an expand"):
        """A 1-D int64 shape: ``dims`` where they equal ``other`` (the same op's dims at the
        other sizes), else the matching dynamic input dim read at run time."""
        parts = []
        for d, e in zip(dims, other):
            part = int(d) if d == e else self.runtime_dim(d, e)
            if part is None:
                raise ExportError(f"ember.onnx.export: {what} to a size ({d}, {e} at "
                                  "another batch) that no dynamic input dim gives")
            parts.append(part)
        if all(isinstance(p, int) for p in parts):
            return self.ints(parts)
        return self.node("Concat", [p if isinstance(p, str) else self.ints([p])
                                    for p in parts], axis=0)

    def batch_dependent_constant(self, a, other, op):
        """A constant made outside ember's ops whose shape follows the dynamic sizes becomes
        ops on the run-time sizes when it has one of three forms: values repeated along the
        changing dims (``ember.zeros(x.shape[0], h)``: an Expand of one slice), a range
        (``ember.arange(t)``: Range) or a causal triangle (``np.tri(t, t)``, bool or 0/-inf:
        Trilu); otherwise it cannot be exported."""
        arr = np.asarray(to_numpy(a))
        value = None
        if len(other) == arr.ndim:
            value = self._repeated(arr, other) or self._range(arr, other) or \
                self._triangle(arr, other)
        if value is None:
            raise ExportError(f"ember.onnx.export: {op} uses a constant of shape "
                              f"{tuple(arr.shape)} whose shape follows the dynamic axes (made "
                              "outside ember's ops?) and that is neither repeated along them, "
                              "a range nor a causal triangle: it cannot be exported with "
                              "these dynamic axes")
        self.keep.append(a)
        self.bind(a, value)

    def _repeated(self, arr, other):
        axes = [i for i, (n, m) in enumerate(zip(arr.shape, other)) if n != m]
        first = arr[tuple(slice(0, 1) if i in axes else slice(None) for i in range(arr.ndim))]
        if not np.array_equal(np.broadcast_to(first, arr.shape), arr):
            return None
        return self.node("Expand", [self.const(np.ascontiguousarray(first)),
                                    self.shape_vector(arr.shape, other)])

    def _range(self, arr, other):
        if arr.ndim != 1 or arr.dtype.kind not in "iuf" or len(arr) < 2 or \
                not np.array_equal(arr, arr[0] + np.arange(len(arr), dtype=arr.dtype)):
            return None
        start = self.const(arr[0])
        count = self.runtime_dim(arr.shape[0], other[0])
        if count is None:
            return None
        count = self.node("Squeeze", [count, self.ints([0])])
        if arr.dtype != np.int64:
            count = self.node("Cast", [count], to=tensor_type(arr.dtype))
        return self.node("Range", [start, self.node("Add", [start, count]),
                                   self.const(np.ones((), arr.dtype))])

    def _triangle(self, arr, other):
        if arr.ndim != 2 or min(arr.shape) < 2:
            return None
        rows, cols = arr.shape
        for k in sorted({0, cols - rows}):  # top-left or bottom-right aligned
            tri = np.tri(rows, cols, k, dtype=bool)
            if arr.dtype == np.bool_ and np.array_equal(arr, tri):
                kind = "bool"
                break
            if arr.dtype.kind == "f" and np.array_equal(arr, np.where(tri, 0, -np.inf)):
                kind = "float"
                break
        else:
            return None
        if k and other[1] - other[0] != k:  # bottom-right: the offset must stay
            return None
        ones = self.node("Expand", [self.const(np.ones((1, 1), np.float32)),
                                    self.shape_vector(arr.shape, other, "a causal mask")])
        lower = self.node("Trilu", [ones, self.const(np.int64(k))], upper=0)
        allowed = self.node("Cast", [lower], to=tensor_type(np.bool_))
        if kind == "bool":
            return allowed
        return self.node("Where", [allowed, self.const(np.zeros((), arr.dtype)),
                                   self.const(np.asarray(-np.inf, arr.dtype))])

    def reshape(self, x, in_shape, out_shape, hint=None):
        """``x`` reshaped to ``out_shape`` so that it stays valid at other sizes of the
        dynamic axes (``hint``: the two shapes there): Squeeze/Unsqueeze when only 1s
        change; else a Reshape whose target has the static dims, 0 for a dynamic dim kept
        in place, a dynamic input dim read at run time, or -1 (one, inferred)."""
        in_shape, out_shape = tuple(in_shape), tuple(out_shape)
        in_b, out_b = hint or (in_shape, out_shape)
        if in_shape == out_shape and in_b == out_b:
            return x
        moved = _ones_moved(in_shape, out_shape)
        if moved is not None and moved == _ones_moved(in_b, out_b):
            return self.node(moved[0], [x, self.ints(moved[1])])
        target = []
        for i, (n, m) in enumerate(zip(out_shape, out_b)):
            if n == m:
                if n == 0:
                    raise ExportError(f"reshape to an empty tensor {out_shape} cannot be "
                                      "exported")
                target.append(int(n))
            elif i < len(in_shape) and in_shape[i] == n and in_b[i] == m:
                target.append(0)
            else:
                target.append(self.runtime_dim(n, m) or -1)
        if target.count(-1) > 1:
            raise ExportError(f"ember.onnx.export: a reshape {in_shape} -> {out_shape} with "
                              "several merged dynamic dims cannot be exported")
        if all(isinstance(t, int) for t in target):
            return self.node("Reshape", [x, self.ints(target)])
        return self.node("Reshape", [x, self.node("Concat", [
            t if isinstance(t, str) else self.ints([t]) for t in target], axis=0)])

    def transpose_last(self, x, ndim):
        perm = list(range(ndim))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return self.node("Transpose", [x], perm=perm)


def _arrays(value):
    """The arrays in an op's inputs or configuration (nested in tuples and lists)."""
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [value] if hasattr(value, "shape") else []


def _ones_moved(a, b):
    """("Squeeze", axes) or ("Unsqueeze", axes) if ``b`` is ``a`` with 1s removed or added
    (only), else None."""
    if [d for d in a if d != 1] != [d for d in b if d != 1]:
        return None
    if len(b) < len(a):
        axes, j = [], 0
        for i, d in enumerate(a):
            if j < len(b) and b[j] == d:
                j += 1
            else:
                axes.append(i)
        return ("Squeeze", axes) if j == len(b) else None
    if len(b) > len(a):
        axes, i = [], 0
        for j, d in enumerate(b):
            if i < len(a) and a[i] == d:
                i += 1
            else:
                axes.append(j)
        return ("Unsqueeze", axes) if i == len(a) else None
    return None


def tensor_type(dtype):
    """The ONNX element type of a NumPy dtype."""
    from onnx import helper
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def product(shape):
    return math.prod(int(d) for d in shape)
