"""The recording mode of an export: ``Function.apply`` and the in-place write wrapped so that
each op on traced values adds its ONNX nodes to the graph. Only while an export runs."""
from __future__ import annotations

import contextlib
import threading

from ember.onnx import layers  # noqa: F401  (registers the layer converters)
from ember.onnx.graph import ExportError
from ember.onnx.ops import CONVERTERS

_lock = threading.Lock()  # one export at a time: the wrappers are process-wide


def _arrays(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [value] if hasattr(value, "shape") else []


def record(graph, cls, inputs, config, out):
    """Add the nodes of one op, if any input (or index array) is traced."""
    from ember.tensor import Tensor
    xs = [t.array if isinstance(t, Tensor) else t for t in inputs]
    if not any(graph.traced(a) for a in _arrays(xs) + _arrays(list(config.values()))) \
            and not _grows_to_a_dynamic_size(graph, cls, xs, config):
        return  # constants only: the result is a constant (folded)
    convert = CONVERTERS.get(cls.__name__)
    if convert is None:
        shapes = ", ".join(str(tuple(a.shape)) for a in _arrays(xs))
        raise ExportError(f"ember.onnx.export: the op {cls.__name__} (input shapes: "
                          f"{shapes}) has no ONNX conversion")
    ys = [t.array for t in (out if isinstance(out, tuple) else (out,))]
    names = convert(graph, xs, config, ys)
    for y, n in zip(ys, [names] if isinstance(names, str) else names):
        graph.bind(y, n)


def _grows_to_a_dynamic_size(graph, cls, xs, config):
    """An expand of a constant to the size of a dynamic axis (a class token expanded to the
    batch) must stay an op: the size is read from the input at run time."""
    if cls.__name__ != "Expand":
        return False
    shape = tuple(config["shape"])
    like = (1,) * (len(shape) - xs[0].ndim) + tuple(xs[0].shape)
    return any(n != m and n in graph.dynamic_sizes for n, m in zip(shape, like))


@contextlib.contextmanager
def recording(graph, function_module, inplace_module):
    """Wrap ``Function.apply`` and ``ember.ops.inplace._write`` for the duration."""
    Function = function_module.Function
    original_apply = Function.__dict__["apply"]
    original_write = inplace_module._write

    def apply(cls, *inputs, **config):
        out = original_apply.__func__(cls, *inputs, **config)
        record(graph, cls, inputs, config, out)
        return out

    def write(x, array):
        original_write(x, array)
        if graph.traced(array):
            graph.bind(x.array, graph.values[id(array)])
        else:
            graph.forget(x.array)

    if not _lock.acquire(blocking=False):
        raise RuntimeError("ember.onnx.export: another export is running in this process")
    Function.apply = classmethod(apply)
    inplace_module._write = write
    try:
        yield
    finally:
        Function.apply = original_apply
        inplace_module._write = original_write
        _lock.release()
