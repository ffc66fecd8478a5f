"""ONNX for the calculus Tensor binds (``ember/ops``): arithmetic, elementwise functions,
reductions, shape ops and indexing. Each converter takes ``(g, xs, config, ys)`` (the graph,
the op's raw positional inputs, its keyword configuration and its output arrays) and returns
the name of each output (a name, or a list for several)."""
from __future__ import annotations

import numpy as np

from ember.onnx.graph import INT_MAX, ExportError, tensor_type

CONVERTERS = {}


def converts(*names):
    def register(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn
    return register


def _same(op):
    def convert(g, xs, config, ys):
        return g.node(op, [g.name(x) for x in xs])
    return convert


for _fn, _op in {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Neg": "Neg",
                 "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Sin": "Sin",
                 "Cos": "Cos", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Relu": "Relu",
                 "Erf": "Erf", "Maximum": "Max", "Minimum": "Min", "Matmul": "MatMul",
                 "Clone": "Identity", "ToDevice": "Identity"}.items():
    CONVERTERS[_fn] = _same(_op)


def _scalar(g, value, like):
    return g.const(np.asarray(value, dtype=like.dtype))


@converts("Pow")
def _pow(g, xs, config, ys):
    return g.node("Pow", [g.name(xs[0]), g.name(xs[1])])


@converts("Log1p")
def _log1p(g, xs, config, ys):
    return g.node("Log", [g.node("Add", [g.name(xs[0]), _scalar(g, 1, xs[0])])])


@converts("Rsqrt")
def _rsqrt(g, xs, config, ys):
    return g.node("Reciprocal", [g.node("Sqrt", [g.name(xs[0])])])


@converts("Clamp")
def _clamp(g, xs, config, ys):
    lo, hi = config.get("min"), config.get("max")
    x = xs[0]
    return g.node("Clip", [g.name(x), "" if lo is None else _scalar(g, lo, x),
                           "" if hi is None else _scalar(g, hi, x)])


@converts("Where")
def _where(g, xs, config, ys):
    return g.node("Where", [g.name(config["condition"]), g.name(xs[0]), g.name(xs[1])])


@converts("Cumsum")
def _cumsum(g, xs, config, ys):
    return g.node("CumSum", [g.name(xs[0]), g.const(np.int64(config["dim"]))])


@converts("Cast")
def _cast(g, xs, config, ys):
    return g.node("Cast", [g.name(xs[0])], to=tensor_type(ys[0].dtype))


@converts("CopyFrom")
def _copy_from(g, xs, config, ys):
    x, src = xs
    out = g.name(src)
    if src.dtype != x.dtype:
        out = g.node("Cast", [out], to=tensor_type(x.dtype))
    if src.shape != x.shape:
        out = g.node("Expand", [out, g.shape_vector(x.shape, g.hint[1][0])])
    return out


# --- reductions -----------------------------------------------------------------------------

def _axes(config, x):
    axes = config.get("axes")
    return tuple(range(x.ndim)) if axes is None else tuple(axes)


def _reduce(op):
    def convert(g, xs, config, ys):
        x = xs[0]
        axes = _axes(config, x)
        if not axes:
            return g.node("Identity", [g.name(x)])
        if op == "ReduceMean" and config["keepdim"] and x.ndim >= 3 and \
                sorted(a % x.ndim for a in axes) == list(range(2, x.ndim)):
            return g.node("GlobalAveragePool", [g.name(x)])  # (N, C, *) -> (N, C, 1, ...)
        return g.reduce(op, g.name(x), axes, config["keepdim"])
    return convert


CONVERTERS.update(Sum=_reduce("ReduceSum"), Mean=_reduce("ReduceMean"),
                  Logsumexp=_reduce("ReduceLogSumExp"))


@converts("AmaxAmin")
def _amax(g, xs, config, ys):
    op = "ReduceMax" if config["largest"] else "ReduceMin"
    return g.reduce(op, g.name(xs[0]), _axes(config, xs[0]), config["keepdim"])


@converts("MaxMinDim")
def _max_dim(g, xs, config, ys):
    x, axis, keep = g.name(xs[0]), config["axis"], int(config["keepdim"])
    largest = config["largest"]
    values = g.reduce("ReduceMax" if largest else "ReduceMin", x, [axis], keep)
    index = g.node("ArgMax" if largest else "ArgMin", [x], axis=axis, keepdims=keep,
                   select_last_index=0)
    return [values, index]


@converts("Var")
def _var(g, xs, config, ys):
    x = xs[0]
    axes = _axes(config, x)
    n = int(np.prod([x.shape[a] for a in axes]))
    if n != int(np.prod([g.hint[1][0][a] for a in axes])):
        raise ExportError("var / std over a dynamic axis cannot be exported")
    xn = g.name(x)
    centred = g.node("Sub", [xn, g.reduce("ReduceMean", xn, axes, 1)])
    mean_sq = g.reduce("ReduceMean", g.node("Mul", [centred, centred]), axes,
                       config["keepdim"])
    correction = config["correction"]
    if not correction:
        return mean_sq
    return g.node("Mul", [mean_sq, _scalar(g, n / max(n - correction, 0), x)])


@converts("Std")
def _std(g, xs, config, ys):
    return g.node("Sqrt", [_var(g, xs, config, ys)])


@converts("Norm")
def _norm(g, xs, config, ys):
    x, p, keep = xs[0], config["p"], config["keepdim"]
    axes = _axes(config, x)
    xn = g.name(x)
    if p in ("fro", 2):
        return g.reduce("ReduceL2", xn, axes, keep)
    if p == 1:
        return g.reduce("ReduceL1", xn, axes, keep)
    if p in (np.inf, -np.inf):
        return g.reduce("ReduceMax" if p > 0 else "ReduceMin", g.node("Abs", [xn]), axes, keep)
    if p == 0:
        nonzero = g.node("Not", [g.node("Equal", [xn, _scalar(g, 0, x)])])
        return g.reduce("ReduceSum", g.node("Cast", [nonzero], to=tensor_type(x.dtype)), axes,
                        keep)
    powered = g.node("Pow", [g.node("Abs", [xn]), _scalar(g, p, x)])
    return g.node("Pow", [g.reduce("ReduceSum", powered, axes, keep), _scalar(g, 1.0 / p, x)])


@converts("Einsum")
def _einsum(g, xs, config, ys):
    equation = ",".join(config["inputs"]) + "->" + config["output"]
    return g.node("Einsum", [g.name(x) for x in xs], equation=equation)


def _along_axis(op):
    def convert(g, xs, config, ys):
        return g.node(op, [g.name(xs[0])], axis=config["axis"])
    return convert


CONVERTERS.update(Softmax=_along_axis("Softmax"), LogSoftmax=_along_axis("LogSoftmax"))


# --- shape ----------------------------------------------------------------------------------

@converts("Reshape")
def _reshape(g, xs, config, ys):
    out = g.reshape(g.name(xs[0]), xs[0].shape, ys[0].shape, (g.hint[1][0], g.hint[3][0]))
    return out if out != g.name(xs[0]) else g.node("Identity", [out])


@converts("Permute")
def _permute(g, xs, config, ys):
    dims = list(config["dims"])
    if dims == list(range(len(dims))):
        return g.node("Identity", [g.name(xs[0])])
    return g.node("Transpose", [g.name(xs[0])], perm=dims)


@converts("Expand")
def _expand(g, xs, config, ys):
    x, shape, other = xs[0], tuple(ys[0].shape), g.hint[3][0]
    lead = len(shape) - x.ndim
    like = (1,) * lead + tuple(x.shape)
    like_other = (1,) * lead + tuple(g.hint[1][0])
    # a dim x already has becomes 1 (Expand keeps it); a new or broadcast one is its size
    keep = [i >= lead and like[i] == n and like_other[i] == m
            for i, (n, m) in enumerate(zip(shape, other))]
    dims = [1 if k else n for k, n in zip(keep, shape)]
    dims_other = [1 if k else m for k, m in zip(keep, other)]
    return g.node("Expand", [g.name(x), g.shape_vector(dims, dims_other)])


@converts("Repeat")
def _repeat(g, xs, config, ys):
    x, reps = xs[0], tuple(config["reps"])
    xn = g.name(x)
    if len(reps) > x.ndim:
        xn = g.node("Unsqueeze", [xn, g.ints(range(len(reps) - x.ndim))])
    return g.node("Tile", [xn, g.ints(reps)])


@converts("Cat")
def _cat(g, xs, config, ys):
    return g.node("Concat", [g.name(x) for x in xs], axis=config["axis"])


@converts("Stack")
def _stack(g, xs, config, ys):
    axis = config["axis"]
    return g.node("Concat", [g.node("Unsqueeze", [g.name(x), g.ints([axis])]) for x in xs],
                  axis=axis)


@converts("Split")
def _split(g, xs, config, ys):
    sizes = [y.shape[config["axis"]] for y in ys]
    if sizes != [shape[config["axis"]] for shape in g.hint[3]]:
        raise ExportError("split along a dynamic axis cannot be exported")
    outs = g.node("Split", [g.name(xs[0]), g.ints(sizes)], outputs=len(ys),
                  axis=config["axis"])
    return outs if isinstance(outs, list) else [outs]


@converts("Flip")
def _flip(g, xs, config, ys):
    dims = list(config["dims"])
    return g.node("Slice", [g.name(xs[0]), g.ints([-1] * len(dims)),
                            g.ints([-INT_MAX] * len(dims)), g.ints(dims),
                            g.ints([-1] * len(dims))])


@converts("Pad")
def _pad(g, xs, config, ys):
    widths = config["widths"]
    if config["mode"] == "circular":  # per axis: the input's tail, the input, its head
        out = g.name(xs[0])
        for axis, (lo, hi) in enumerate(widths):
            parts = [out]
            if lo:
                parts.insert(0, g.node("Slice", [out, g.ints([-lo]), g.ints([INT_MAX]),
                                                 g.ints([axis])]))
            if hi:
                parts.append(g.node("Slice", [out, g.ints([0]), g.ints([hi]), g.ints([axis])]))
            if len(parts) > 1:
                out = g.node("Concat", parts, axis=axis)
        return out
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[config["mode"]]
    pads = [lo for lo, _ in widths] + [hi for _, hi in widths]
    inputs = [g.name(xs[0]), g.ints(pads)]
    if mode == "constant":
        inputs.append(_scalar(g, config["value"], xs[0]))
    return g.node("Pad", inputs, mode=mode)


# --- indexing -------------------------------------------------------------------------------

@converts("GetItem")
def _getitem(g, xs, config, ys):
    x = xs[0]
    key = config["key"]
    key = key if isinstance(key, tuple) else (key,)
    if sum(1 for k in key if hasattr(k, "ndim")) > 1:
        raise ExportError("indexing with more than one index tensor cannot be exported "
                          "to ONNX; index one dim at a time")
    explicit = sum(1 for k in key if k is not None and k is not Ellipsis)
    cur, axis = g.name(x), 0
    for k in key:
        if k is Ellipsis:
            axis += x.ndim - explicit
        elif k is None:
            cur = g.node("Unsqueeze", [cur, g.ints([axis])])
            axis += 1
        elif isinstance(k, (int, np.integer)):
            cur = g.node("Gather", [cur, g.const(np.int64(k))], axis=axis)
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if (k.start, k.stop, step) != (None, None, 1):
                start = k.start if k.start is not None else (0 if step > 0 else -1)
                stop = k.stop if k.stop is not None else (INT_MAX if step > 0 else -INT_MAX)
                cur = g.node("Slice", [cur, g.ints([start]), g.ints([stop]), g.ints([axis]),
                                       g.ints([step])])
            axis += 1
        elif getattr(k, "dtype", None) is not None and k.dtype.kind in "iu":
            index = g.name(k)
            if k.dtype != np.int64:
                index = g.node("Cast", [index], to=tensor_type(np.int64))
            cur = g.node("Gather", [cur, index], axis=axis)
            axis += k.ndim
        else:
            raise ExportError(f"indexing with {type(k).__name__} "
                              f"{getattr(k, 'dtype', '')} cannot be exported to ONNX "
                              "(ints, slices, None, ... and one integer index tensor can)")
    return cur if cur != g.name(x) else g.node("Identity", [cur])


@converts("Gather")
def _gather(g, xs, config, ys):
    return g.node("GatherElements", [g.name(xs[0]), _index(g, config["index"])],
                  axis=config["axis"])


@converts("IndexSelect")
def _index_select(g, xs, config, ys):
    return g.node("Gather", [g.name(xs[0]), _index(g, config["index"])], axis=config["axis"])


def _index(g, index):
    name = g.name(index)
    if index.dtype != np.int64:
        name = g.node("Cast", [name], to=tensor_type(np.int64))
    return name


@converts("SetItem")
def _setitem(g, xs, config, ys):
    """``x[..., a:b, ...] = value`` along one axis: the parts of x before and after, and the
    value between them, concatenated."""
    x, value = xs
    key = config["key"]
    key = key if isinstance(key, tuple) else (key,)
    if Ellipsis in key or any(not isinstance(k, slice) for k in key):
        raise ExportError("assignment x[key] = value cannot be exported to ONNX except with "
                          "slices of step 1 (x[:, a:b] = value)")
    cut = [(i, k.indices(x.shape[i])) for i, k in enumerate(key) if k != slice(None)]
    if len(cut) != 1 or cut[0][1][2] != 1:
        raise ExportError("assignment x[key] = value cannot be exported to ONNX except along "
                          "one axis with step 1 (x[:, a:b] = value)")
    axis, (start, stop, _) = cut[0]
    region, region_other = list(x.shape), list(g.hint[1][0])
    region[axis] = region_other[axis] = stop - start
    v = g.name(value)
    if value.dtype != x.dtype:
        v = g.node("Cast", [v], to=tensor_type(x.dtype))
    if tuple(value.shape) != tuple(region):
        v = g.node("Expand", [v, g.shape_vector(region, region_other)])
    xn, parts = g.name(x), []
    if start > 0:
        parts.append(g.node("Slice", [xn, g.ints([0]), g.ints([start]), g.ints([axis])]))
    parts.append(v)
    if stop < x.shape[axis]:
        parts.append(g.node("Slice", [xn, g.ints([stop]), g.ints([INT_MAX]), g.ints([axis])]))
    return g.node("Concat", parts, axis=axis) if len(parts) > 1 else g.node("Identity", parts)
