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

    def __init__(self, params, opset, dynamic_sizes):
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
        self.dynamic_sizes = dynamic_sizes  # export-time size -> (input name, axis)
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

    def shape_vector(self, dims, like=None):
        """A 1-D int64 shape for ``dims``: a constant, except that a dim equal to the
        export-time size of a dynamic input axis (and differing from ``like``'s dim there,
        if given) is read from that input's shape at run time."""
        parts, dynamic = [], False
        for i, d in enumerate(dims):
            src = self.dynamic_sizes.get(int(d))
            if src is not None and (like is None or like[i] != d):
                shape = self.node("Shape", [src[0]])
                parts.append(self.node("Gather", [shape, self.ints([src[1]])], axis=0))
                dynamic = True
            else:
                parts.append(int(d))
        if not dynamic:
            return self.ints(parts)
        return self.node("Concat", [p if isinstance(p, str) else self.ints([p])
                                    for p in parts], axis=0)

    def reshape(self, x, in_shape, out_shape):
        """``x`` reshaped to ``out_shape`` so that it stays valid at another size of the
        dynamic axes: Squeeze/Unsqueeze when only 1s change; else a Reshape whose target
        copies the dims the two shapes share at the start (0) and infers the next one
        (-1)."""
        in_shape, out_shape = tuple(in_shape), tuple(out_shape)
        if in_shape == out_shape:
            return x
        if 0 in out_shape or 0 in in_shape:
            raise ExportError(f"reshape of an empty tensor {in_shape} -> {out_shape} cannot "
                              "be exported")
        squeezed = _ones_moved(in_shape, out_shape)
        if squeezed is not None:
            op, axes = squeezed
            return self.node(op, [x, self.ints(axes)])
        target = list(out_shape)
        k = 0
        while k < min(len(in_shape), len(out_shape)) and in_shape[k] == out_shape[k]:
            target[k] = 0
            k += 1
        runtime = [i for i in range(k, len(out_shape)) if out_shape[i] in self.dynamic_sizes]
        rest = [i for i in range(k, len(out_shape)) if i not in runtime]
        if rest:
            target[rest[0]] = -1
        if not runtime:
            return self.node("Reshape", [x, self.ints(target)])
        parts = [self.shape_vector([out_shape[i]]) if i in runtime else self.ints([target[i]])
                 for i in range(len(out_shape))]
        return self.node("Reshape", [x, self.node("Concat", parts, axis=0)])

    def transpose_last(self, x, ndim):
        perm = list(range(ndim))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return self.node("Transpose", [x], perm=perm)


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
