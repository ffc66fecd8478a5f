"""The recording mode of an export: ``Function.apply`` and the in-place write wrapped so that
each op on traced values adds its ONNX nodes to the graph. Only while an export runs."""
from __future__ import annotations

import contextlib
import sys
import threading

from ember.onnx import layers  # noqa: F401  (registers the layer converters)
from ember.onnx.graph import ExportError, _arrays
from ember.onnx.ops import CONVERTERS

_lock = threading.Lock()  # one export at a time: the wrappers are process-wide


class ShapeLog:
    """The first of an export's two runs, at other sizes of the dynamic axes: the shapes of
    every op's arrays, in order. The second run (the graph's) compares its shapes with
    these: a dim that differs is dynamic."""

    def __init__(self):
        self.entries = []

    def record(self, cls, xs, config, ys):
        self.entries.append((cls.__name__, [tuple(a.shape) for a in _arrays(xs)],
                             [tuple(a.shape) for a in _arrays(list(config.values()))],
                             [tuple(y.shape) for y in ys]))


def record(graph, cls, inputs, config, out):
    """Add the nodes of one op, if any input (or index array) is traced or the op's result
    changes with the dynamic sizes."""
    from ember.tensor import Tensor
    xs = [t.array if isinstance(t, Tensor) else t for t in inputs]
    ys = [t.array for t in (out if isinstance(out, tuple) else (out,))]
    if isinstance(graph, ShapeLog):
        return graph.record(cls, xs, config, ys)
    graph.hint = hint = graph.next_hint(cls.__name__, xs, config, ys)
    arrays, configs = _arrays(xs), _arrays(list(config.values()))
    for a, shape in zip(arrays + configs, hint[1] + hint[2]):
        if not graph.traced(a) and tuple(a.shape) != shape:
            graph.batch_dependent_constant(a, shape, cls.__name__)
    if not any(graph.traced(a) for a in arrays + configs) and \
            [tuple(y.shape) for y in ys] == hint[3]:
        return  # constants only: the result is a constant (folded)
    convert = CONVERTERS.get(cls.__name__)
    if convert is None:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ExportError(f"ember.onnx.export: the op {cls.__name__} (input shapes: "
                          f"{shapes}) has no ONNX conversion")
    names = convert(graph, xs, config, ys)
    for y, n in zip(ys, [names] if isinstance(names, str) else names):
        graph.bind(y, n)


# the ops without gradient that go through ember.ops.arithmetic._no_grad_binary, by the name
# of the function calling it: comparisons and logic (masks made from the inputs)
COMPARISONS = {"eq": ["Equal"], "ne": ["Equal", "Not"], "lt": ["Less"], "le": ["LessOrEqual"],
               "gt": ["Greater"], "ge": ["GreaterOrEqual"], "logical_and": ["And"],
               "logical_or": ["Or"], "logical_xor": ["Xor"], "bitwise_and": ["BitwiseAnd"],
               "bitwise_or": ["BitwiseOr"]}


def record_comparison(graph, name, x, y, out):
    """A comparison or logical op on a traced array becomes nodes; another op without
    gradient on a traced array cannot be exported."""
    if isinstance(graph, ShapeLog) or not (graph.traced(x) or graph.traced(y)):
        return
    ops = COMPARISONS.get(name)
    if ops is None:
        raise ExportError(f"ember.onnx.export: the op {name} has no ONNX conversion")
    inputs = [graph.name(x), graph.name(y)]
    if name.startswith("logical") and x.dtype.kind != "b":
        inputs = [graph.node("Cast", [i], to=9) for i in inputs]  # BOOL
    value = graph.node(ops[0], inputs)
    for op in ops[1:]:
        value = graph.node(op, [value])
    graph.bind(out, value)


@contextlib.contextmanager
def recording(graph, function_module, inplace_module, arithmetic_module):
    """Wrap ``Function.apply``, ``ember.ops.inplace._write``, the comparisons'
    ``ember.ops.arithmetic._no_grad_binary`` and ``ember.ops.setitem`` (which, outside a
    graph, writes straight into the array: here it is always the SetItem op) for the
    duration."""
    Function = function_module.Function
    original_apply = Function.__dict__["apply"]
    original_write = inplace_module._write
    original_binary = arithmetic_module._no_grad_binary
    ops_package = sys.modules["ember.ops"]
    indexing = sys.modules["ember.ops.indexing"]
    original_setitem = ops_package.setitem

    def setitem(x, key, value):  # x[key] = value as the SetItem op, as inside a graph
        from ember.backend import get_array_module
        from ember.tensor import Tensor
        xp = get_array_module(x.array)
        key = indexing._key(key, xp)
        if not isinstance(value, Tensor):
            value = Tensor._make(xp.asarray(value, dtype=x.array.dtype))
        inplace_module.inplace(x, lambda t, v: indexing.SetItem.apply(t, v, key=key), value)

    def no_grad_binary(func, a, b, dtype=None):
        caller = sys._getframe(1).f_code.co_name
        seen = []

        def spy(x, y):
            seen.append((x, y))
            return func(x, y)
        out = original_binary(spy, a, b, dtype)
        record_comparison(graph, caller, *seen[0], out.array)
        return out

    def apply(cls, *inputs, **config):
        out = original_apply.__func__(cls, *inputs, **config)
        record(graph, cls, inputs, config, out)
        return out

    def write(x, array):
        original_write(x, array)
        if isinstance(graph, ShapeLog):
            return
        if graph.traced(array):
            graph.bind(x.array, graph.values[id(array)])
        else:
            graph.forget(x.array)

    if not _lock.acquire(blocking=False):
        raise RuntimeError("ember.onnx.export: another export is running in this process")
    Function.apply = classmethod(apply)
    inplace_module._write = write
    arithmetic_module._no_grad_binary = no_grad_binary
    ops_package.setitem = setitem
    try:
        yield
    finally:
        Function.apply = original_apply
        inplace_module._write = original_write
        arithmetic_module._no_grad_binary = original_binary
        ops_package.setitem = original_setitem
        _lock.release()
