"""``ember.onnx.export``: write a model as an ONNX graph, as ``torch.onnx.export`` does.

The exporter is a tracer. It runs the model once on ``args`` (in eval mode, without
gradients) while ``Function.apply`` (every op of ember goes through it) and the in-place
write of ``ember.ops.inplace`` are wrapped; each op with an input computed from the graph
inputs becomes ONNX nodes (``ember/onnx/ops.py`` for the calculus of ``ember/ops``,
``ember/onnx/layers.py`` for the layer families), keyed by the identity of the arrays
flowing through. Parameters and buffers become initializers under their state_dict names;
an op whose inputs are all constants is not recorded (its result is a constant: constant
folding). Nothing in the core changes: the wrappers exist only while an export runs.

One node per primitive where ONNX has it: Gemm / MatMul for linear, Conv, MaxPool /
AveragePool, BatchNormalization, LayerNormalization, one LSTM / GRU / RNN node per layer
and direction (gates reordered; the input projection folded in), attention decomposed into
MatMul, Softmax and masks. An op without a conversion raises :class:`ExportError` naming
it (and, through ``Module.__call__``, the layer and its path in the model).

Dynamic axes: the named dims of the inputs and outputs are symbolic; reshapes copy the dims
they keep (0) and infer one (-1), and a size equal to a dynamic input dim (e.g. the batch
size of an ``expand``) is read from that input's shape at run time. Only the ops ember runs
are traced: a value computed outside them (a comparison, ``argmax``, NumPy on ``.numpy()``)
is baked into the graph as a constant.
"""
from __future__ import annotations

import importlib
import inspect
import warnings

from ember.onnx.graph import ExportError, Graph, onnx_modules, tensor_type

_EVAL = (None, False, "eval", "EVAL", "TrainingMode.EVAL")


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=17, dynamo=False, external_data=False,
           export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=None, do_constant_folding=True):
    """Export ``model`` run on ``args`` to the ONNX file ``f`` (a path or a binary file;
    None: only return the model). Returns the ``onnx.ModelProto``.

    Args:
        args: a Tensor or a tuple of the forward's positional arguments (a dict as its last
            item holds keyword arguments, as in PyTorch); Tensors become graph inputs, other
            values are constants of the trace.
        kwargs: keyword arguments of the forward (constants of the trace).
        input_names / output_names: names of the graph's inputs and outputs (default: the
            forward's parameter names; ``output`` or ``output_0``, ``output_1`` ...).
        opset_version: the ONNX opset, 17 to 21 (LayerNormalization needs 17).
        dynamic_axes: ``{name: [axis, ...]}`` or ``{name: {axis: "symbol"}}`` for inputs and
            outputs whose sizes may change (the batch dim, a sequence length). Axes of one
            symbol are one size (unnamed ones: those of one size at export); the model is
            run once more at other sizes to find which dims follow them.
        export_params: store the weights in the file (False: they become graph inputs).
        keep_initializers_as_inputs: also list the weights among the graph inputs.
        training: None / "eval" only: the model is exported in eval mode (dropout is the
            identity, batch norm uses its running statistics), then its modes are restored.
        do_constant_folding: accepted for PyTorch's signature; ember folds ops on constants
            always (it traces values, not code).
        dynamo, external_data: accepted for PyTorch's signature; ember has one exporter
            and writes one file.
        verbose: print the graph.
    """
    onnx, helper, _ = onnx_modules()
    if not 17 <= int(opset_version) <= 21:
        raise ValueError(f"ember.onnx.export: opset_version must be between 17 and 21, got "
                         f"{opset_version}")
    if training not in _EVAL and str(training) not in _EVAL:
        raise ValueError(f"ember.onnx.export: training={training!r}: only eval-mode export "
                         "is supported (dropout off, batch norm on running statistics)")
    args, kw = _split_args(args, kwargs)
    tensors = [a for a in args if _is_tensor(a)]
    if not tensors:
        raise ValueError("ember.onnx.export: args must hold at least one Tensor (the inputs)")
    names = _input_names(model, args, input_names)
    dynamic = _dynamic_axes(dynamic_axes, names, output_names)
    sizes = {(n, axis): int(t.shape[axis]) for n, t in zip(names, tensors)
             for axis in dynamic.get(n, {})}
    hints = None
    if sizes:  # a first run at other sizes of the dynamic axes tells which dims follow them
        hints, other, other_outputs = _run_at_other_sizes(model, args, kw, names, sizes,
                                                                dynamic)
        sizes = {k: (v, other[k]) for k, v in sizes.items()}
    graph = Graph(_params(model), int(opset_version), sizes, hints)
    for n, t in zip(names, tensors):
        graph.bind(t.array, n)
    out = _trace(model, graph, args, kw)
    if hints is not None and graph.counter_ops + 1 != len(hints):
        raise ExportError("ember.onnx.export: the model runs other ops at another size of "
                          "the dynamic axes: it cannot be exported with these dynamic_axes")
    outputs = _flatten(out)
    if not outputs:
        raise ExportError("ember.onnx.export: the model returned no Tensor")
    out_names = list(output_names or (["output"] if len(outputs) == 1 else
                                      [f"output_{i}" for i in range(len(outputs))]))
    if len(out_names) != len(outputs):
        raise ValueError(f"ember.onnx.export: {len(out_names)} output_names for "
                         f"{len(outputs)} outputs")
    if hints is not None:  # output dims that followed the dynamic sizes are symbolic
        symbols = {sizes[k]: dynamic[k[0]][k[1]] for k in sizes}
        for name, t, shape in zip(out_names, outputs, other_outputs):
            axes = dynamic.setdefault(name, {})
            for i, (n, m) in enumerate(zip(t.shape, shape)):
                if n != m and i not in axes:
                    axes[i] = symbols.get((n, m), f"{name}_dim_{i}")
    proto = _build(graph, helper, names, tensors, out_names, outputs, dynamic,
                   export_params, keep_initializers_as_inputs)
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.printer.to_text(proto.graph))
    if f is not None:
        if hasattr(f, "write"):
            f.write(proto.SerializeToString())
        else:
            onnx.save(proto, str(f))
    return proto


def _is_tensor(a):
    from ember.tensor import Tensor
    return isinstance(a, Tensor)


def _split_args(args, kwargs):
    if _is_tensor(args):
        args = (args,)
    args = tuple(args)
    kw = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        kw.update(args[-1])
        args = args[:-1]
    return args, kw


def _input_names(model, args, given):
    tensors = [i for i, a in enumerate(args) if _is_tensor(a)]
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [params[i].name if i < len(params) else f"input_{i}" for i in tensors]
    given = list(given or [])
    if len(given) > len(names):
        raise ValueError(f"ember.onnx.export: {len(given)} input_names for {len(names)} "
                         "tensor inputs")
    names[:len(given)] = given
    if len(set(names)) != len(names):
        raise ValueError(f"ember.onnx.export: input names must differ, got {names}")
    return names


def _dynamic_axes(dynamic_axes, inputs, outputs):
    """``{name: {axis: symbol}}`` from either of PyTorch's forms."""
    out = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, dict):
            out[name] = {int(a): str(s) for a, s in axes.items()}
        else:
            out[name] = {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
    known = set(inputs) | set(outputs or ()) | ({"output"} if not outputs else set())
    unknown = [n for n in out if n not in known and not n.startswith("output")]
    if unknown:
        raise ValueError(f"ember.onnx.export: dynamic_axes names {unknown} are neither input "
                         f"nor output names (inputs: {inputs})")
    return out


def _params(model):
    seen = {}
    for n, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t is not None and id(t.array) not in seen:
            seen[id(t.array)] = (n, t.array)
    return list(seen.values())


def _trace(model, graph, args, kw):
    """Run the model once with the recording wrappers in place; restore everything."""
    from ember.autograd import function as function_module
    from ember.autograd.grad_mode import no_grad
    inplace_module = importlib.import_module("ember.ops.inplace")  # the module, not the op
    arithmetic_module = importlib.import_module("ember.ops.arithmetic")
    from ember.onnx.recorder import recording
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad(), recording(graph, function_module, inplace_module,
                                   arithmetic_module):
            return model(*args, **kw)
    finally:
        for m, mode in modes:
            m.__dict__["training"] = mode


def _run_at_other_sizes(model, args, kw, names, sizes, symbols):
    """Run the model with the dynamic axes longer (if that fails, shorter), the inputs
    repeated cyclically along them; returns the ShapeLog entries, the sizes and the
    outputs' shapes."""
    from ember.backend import get_array_module
    from ember.onnx.recorder import ShapeLog
    from ember.tensor import Tensor
    failure = None
    # axes of one symbol (or, unnamed, of one size) move together; each group by its own
    # step, so that two axes of one size but different symbols stay apart
    def group(name, axis, size):
        symbol = symbols[name][axis]
        return ("size", size) if symbol.startswith(f"{name}_dynamic_axes_") else symbol
    groups, step = {}, {}
    for (name, axis), v in sizes.items():
        key = group(name, axis, v)
        if any(n == name and a != axis and group(n, a, sizes[n, a]) == key for n, a in step):
            raise ValueError(f"ember.onnx.export: input {name!r} has two dynamic axes of size "
                             f"{v} without names: name them (dynamic_axes={{{name!r}: {{0: "
                             "'batch', 1: 'length'}}}) or export at sizes that differ")
        step[name, axis] = groups.setdefault(key, len(groups) + 1)
    for sign in (1, -1):
        other = {key: v + sign * step[key] for key, v in sizes.items()}
        if min(other.values()) < 2 and sign < 0:
            break
        it = iter(names)
        moved = []
        for a in args:
            if _is_tensor(a):
                name, arr = next(it), a.array
                for (n, axis), size in other.items():
                    if n == name:
                        xp = get_array_module(arr)
                        arr = arr.take(xp.arange(size) % arr.shape[axis], axis=axis)
                a = Tensor._make(arr)
            moved.append(a)
        log = ShapeLog()
        try:
            out = _trace(model, log, moved, kw)
            return log.entries, other, [tuple(t.shape) for t in _flatten(out)]
        except Exception as e:  # noqa: BLE001 - reported below if no size works
            failure = e
    raise ExportError(f"ember.onnx.export: the model fails at another size of the dynamic "
                      f"axes {sorted(sizes)}: {failure}")


def _flatten(out):
    if _is_tensor(out):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return []  # None and other non-tensors are not outputs (as in PyTorch)


def _value_info(helper, name, array, axes):
    dims = [axes.get(i, int(d)) for i, d in enumerate(array.shape)]
    return helper.make_tensor_value_info(name, tensor_type(array.dtype), dims)


def _build(g, helper, in_names, tensors, out_names, outputs, dynamic, export_params,
           keep_as_inputs):
    rename, produced = {}, {o for n in g.nodes for o in n.output}
    for name, t in zip(out_names, outputs):
        value = g.name(t.array)
        if value in produced and value not in rename:
            rename[value] = name
        else:
            g.nodes.append(helper.make_node("Identity", [rename.get(value, value)], [name],
                                            name=f"Identity_{len(g.nodes)}"))
    for n in g.nodes:
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
    nodes = _live(g.nodes, set(out_names))
    used = {i for n in nodes for i in n.input} | {o for n in nodes for o in n.output}
    unused = [n for n in in_names if n not in used and n not in out_names]
    if unused:
        warnings.warn(f"ember.onnx.export: the graph does not use the input(s) {unused}: the "
                      "model ignores them, or computes from them with what the export cannot "
                      "trace (NumPy on .numpy(), item(), ops without gradient such as argmax), "
                      "which is then a constant of the graph", stacklevel=3)
    inits = {k: v for k, v in g.initializers.items() if k in used}
    numpy_helper = g.numpy_helper
    initializer = [numpy_helper.from_array(v, k) for k, v in inits.items()]
    inputs = [_value_info(helper, n, t.array, dynamic.get(n, {}))
              for n, t in zip(in_names, tensors)]
    if not export_params or keep_as_inputs:
        inputs += [helper.make_tensor_value_info(k, tensor_type(v.dtype), list(v.shape))
                   for k, v in inits.items()]
    outs = [_value_info(helper, n, t.array, dynamic.get(n, {}))
            for n, t in zip(out_names, outputs)]
    graph = helper.make_graph(nodes, "ember", inputs, outs,
                              initializer=initializer if export_params else [])
    opset = [helper.make_opsetid("", g.opset)]
    return helper.make_model(graph, opset_imports=opset, producer_name="ember",
                             ir_version=max(8, helper.find_min_ir_version_for(opset)))


def _live(nodes, wanted):
    """The nodes the outputs depend on, in order."""
    keep = []
    for n in reversed(nodes):
        if any(o in wanted for o in n.output):
            keep.append(n)
            wanted.update(i for i in n.input if i)
    return keep[::-1]
