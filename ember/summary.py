"""``ember.summary``: a per-layer table of a model (output shapes, parameters, multiply-adds,
receptive field and effective stride) from one forward pass with hooks.

Receptive fields are analytic. Every tensor of the pass gets a *field*: for the unit at index
``i`` of a spatial axis, the input pixels ``[lo + i*jump, hi + i*jump]`` it can see. A layer
with kernel ``k``, stride ``s``, padding ``p``, dilation ``d`` maps the field of its input to
``lo' = lo - p*jump``, ``hi' = hi + ((k-1)*d - p)*jump``, ``jump' = jump*s``. Leaf modules are
seen through forward hooks; operations written in a ``forward`` (the residual ``+``,
``cat``, ``flatten``) are found by walking their autograd nodes back to fields already known.
Where paths meet, fields are unioned (the maximum over paths), which is how ResNet and
GoogLeNet are handled. Layers that resize without a kernel (adaptive pooling, upsampling,
transposed convolutions) are treated as PyTorch's adaptive-pooling bins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import ember
from ember.autograd.grad_mode import enable_grad
from ember.tensor import Tensor

__all__ = ["LayerInfo", "ModelSummary", "summary"]


# --- fields ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Field:
    """Receptive field of every unit of a (N, C, H, W) tensor, per spatial axis (H, W)."""
    lo: tuple
    hi: tuple
    jump: tuple
    size: tuple  # the tensor's spatial size

    def collapse(self):
        """The field of a unit that sees the whole tensor (after flatten / global pooling)."""
        return _Field(self.lo, tuple(h + (n - 1) * j for h, n, j in
                                     zip(self.hi, self.size, self.jump)),
                      tuple(j * n for j, n in zip(self.jump, self.size)), (1, 1))

    def window(self, k, s, p, d, out_size):
        return _Field(tuple(lo - pp * j for lo, pp, j in zip(self.lo, p, self.jump)),
                      tuple(hi + ((kk - 1) * dd - pp) * j
                            for hi, kk, dd, pp, j in zip(self.hi, k, d, p, self.jump)),
                      tuple(j * ss for j, ss in zip(self.jump, s)), tuple(out_size))

    def adaptive(self, out_size):
        """Adaptive pooling (or any op that resizes): PyTorch's bins floor(i*n/m) to
        ceil((i+1)*n/m); the field grows by the largest bin."""
        ks = [max(math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m))
              for n, m in zip(self.size, out_size)]
        return _Field(self.lo, tuple(hi + (k - 1) * j for hi, k, j in zip(self.hi, ks, self.jump)),
                      tuple(_exact(j * n / m) for j, n, m in zip(self.jump, self.size, out_size)),
                      tuple(out_size))

    def to(self, t):
        """This field as seen by tensor ``t`` computed from it by an unknown op."""
        if t.ndim != 4:
            return self.collapse()
        size = tuple(t.shape[2:])
        return self if size == self.size else self.adaptive(size)


def _exact(v):
    """An int where a ratio of sizes is whole (a jump of 8, not 8.0)."""
    return int(v) if float(v).is_integer() else v


def _union(fields):
    return _Field(*(tuple(f(v) for v in zip(*vals)) for f, vals in
                    ((min, [f.lo for f in fields]), (max, [f.hi for f in fields]),
                     (max, [f.jump for f in fields]), (max, [f.size for f in fields]))))


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _layer_field(module, f, out):
    """The field of ``module``'s output given the (union) field ``f`` of its inputs."""
    if out.ndim != 4:
        return f.collapse()
    size = tuple(out.shape[2:])
    k = getattr(module, "kernel_size", None)
    if k is not None and not type(module).__name__.startswith("ConvTranspose"):
        k = _pair(k)
        s = _pair(getattr(module, "stride", None) or k)
        d = _pair(getattr(module, "dilation", 1))
        p = getattr(module, "padding", 0)
        if isinstance(p, str):  # "same" / "valid"
            p = tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d)) if p == "same" else (0, 0)
        return f.window(k, s, _pair(p), d, size)
    return f if size == f.size else f.adaptive(size)


def _key(t):
    """Identity of a tensor's value: its autograd node (an in-place op changes it)."""
    return ("node", id(t.grad_fn), t._out_idx) if t.grad_fn is not None else ("leaf", id(t))


class _FieldTracker:
    """Tensor -> field map filled in hook order; unknown tensors are traced back through
    ``grad_fn.inputs`` (an ember autograd detail) to known ones."""

    def __init__(self, x):
        self.known = {}  # key -> (object kept alive so ids stay unique, field)
        self.set(x, _Field((0, 0), (0, 0), (1, 1), tuple(x.shape[2:])))

    def set(self, t, field):
        self.known[_key(t)] = (t.grad_fn if t.grad_fn is not None else t, field)

    def get(self, t):
        entry = self.known.get(_key(t))
        if entry is not None:
            return entry[1]
        if t.grad_fn is None:  # a parameter or a constant: no receptive field
            return None
        parents = [self.get(u) for u in getattr(t.grad_fn, "inputs", ()) if isinstance(u, Tensor)]
        parents = [p.to(t) for p in parents if p is not None]
        field = _union(parents) if parents else None
        if field is not None:
            self.set(t, field)
        return field


# --- per-layer numbers -------------------------------------------------------------------
def _macs(module, inputs, out):
    """Multiply-accumulates with weights: convolutions and linear layers (others count 0)."""
    name, w = type(module).__name__, getattr(module, "weight", None)
    if w is None or not isinstance(w, Tensor):
        return 0
    per_unit = w.numel() // w.shape[0]  # (C_in/groups)*kh*kw for a conv, in_features for linear
    if name.startswith("ConvTranspose"):  # each input element is spread over a kernel
        return inputs[0].numel() * per_unit
    if name.startswith("Conv") or name in ("Linear", "Bilinear"):
        return out.numel() * per_unit
    return 0


@dataclass
class LayerInfo:
    """One call of a leaf module. ``rf``/``jump``/``start`` are per spatial axis (H, W):
    output unit ``(i, j)`` sees input rows ``start[0] + i*jump[0]`` to that ``+ rf[0] - 1``
    (unclipped: padding may put part of it outside the image); None without spatial input."""
    name: str
    type: str
    output_shape: tuple
    params: int
    macs: int
    rf: tuple | None = None
    jump: tuple | None = None
    start: tuple | None = None
    activation_bytes: int = 0

    def box(self, i, j, input_hw=None):
        """Input rows and columns ``((r0, r1), (c0, c1))`` seen by output unit (i, j),
        clipped to the input when ``input_hw`` is given."""
        out = []
        for idx, s, r, jmp, n in zip((i, j), self.start, self.rf, self.jump,
                                     input_hw or (None, None)):
            lo, hi = s + idx * jmp, s + idx * jmp + r - 1
            out.append((max(lo, 0), min(hi, n - 1)) if n else (lo, hi))
        return tuple(out)


def _fmt_hw(v):
    if v is None:
        return "-"
    v = [int(x) if float(x).is_integer() else round(float(x), 2) for x in v]
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


class ModelSummary:
    """What :func:`summary` returns: ``layers`` (a list of :class:`LayerInfo`), totals, and
    the table as ``str(summary)``."""

    def __init__(self, model_name, layers, total_params, trainable_params, input_bytes,
                 param_bytes, batch_size):
        self.model_name, self.layers, self.batch_size = model_name, layers, batch_size
        self.total_params, self.trainable_params = total_params, trainable_params
        self.total_macs = sum(r.macs for r in layers)
        self.activation_bytes = sum(r.activation_bytes for r in layers)
        self.input_bytes, self.param_bytes = input_bytes, param_bytes

    def layer(self, name):
        """The first call of the leaf module called ``name`` (e.g. ``"features.0"``)."""
        for r in self.layers:
            if r.name == name:
                return r
        ran = ", ".join(r.name for r in self.layers[:3])
        raise KeyError(f"no leaf module {name!r} ran (the first ones were: {ran}, ...)")

    @property
    def table(self):
        head = ("Layer (type)", "Output shape", "Param #", "MACs", "RF", "Jump")
        rows = [(f"{r.name} ({r.type})", str(list(r.output_shape)), f"{r.params:,}",
                 f"{r.macs:,}", _fmt_hw(r.rf), _fmt_hw(r.jump)) for r in self.layers]
        widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]

        def line(cells):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))
        rule = "=" * len(line(head))
        mb = 1024 ** 2
        return "\n".join([
            f"{self.model_name} (batch {self.batch_size}, eval mode)", rule, line(head), rule,
            *(line(r) for r in rows), rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total MACs: {self.total_macs:,} ({self.total_macs / 1e9:.3f} G)",
            f"Input size (MB): {self.input_bytes / mb:.2f}",
            f"Forward activations (MB): {self.activation_bytes / mb:.2f}",
            f"Params size (MB): {self.param_bytes / mb:.2f}", rule])

    def __str__(self):
        return self.table

    __repr__ = __str__


def summary(model, input_size, batch_size=1, device="cpu", dtype=None):
    """Run ``model`` once in eval mode on zeros of shape ``(batch_size, *input_size)`` and
    describe every leaf module call.

    Args:
        model: an ``ember.nn.Module`` (already on ``device``).
        input_size: ``(C, H, W)`` (or any shape without the batch dimension).
        batch_size: batch of the pass; MACs and activation memory are for the whole batch.
        device: where the input is created.
        dtype: input dtype; defaults to the model's parameter dtype.

    Returns:
        :class:`ModelSummary`; ``print(ember.summary(model, (3, 32, 32)))`` shows the table.
        MACs count multiplications by weights (convolutions, linear layers) as torchvision's
        FLOPs figures do; activation memory is the sum of all leaf outputs' bytes.
    """
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else ember.get_default_dtype()
    x = ember.zeros(batch_size, *input_size, dtype=dtype, device=device, requires_grad=True)
    tracker = _FieldTracker(x) if x.ndim == 4 else None
    names = {id(m): n for n, m in model.named_modules()}
    layers, seen, handles = [], set(), []

    def hook(module, inputs, output):
        outs = [o for o in (output if isinstance(output, (tuple, list)) else (output,))
                if isinstance(o, Tensor)]
        if not outs:
            return
        first = id(module) not in seen
        seen.add(id(module))
        info = LayerInfo(names[id(module)], type(module).__name__, tuple(outs[0].shape),
                         sum(p.numel() for p in module.parameters()) if first else 0,
                         _macs(module, inputs, outs[0]),
                         activation_bytes=sum(o.numel() * o.element_size() for o in outs))
        if tracker is not None:
            fields = [f for f in (tracker.get(t) for t in inputs if isinstance(t, Tensor))
                      if f is not None]
            if fields:
                field = _layer_field(module, _union(fields), outs[0])
                for o in outs:
                    tracker.set(o, field)
                info.rf = tuple(h - lo + 1 for lo, h in zip(field.lo, field.hi))
                info.jump, info.start = field.jump, field.lo
        layers.append(info)

    for m in model.modules():
        if not m._modules:
            handles.append(m.register_forward_hook(hook))
    was_training = {id(m): m.training for m in model.modules()}
    model.eval()
    try:
        with enable_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.__dict__["training"] = was_training[id(m)]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(type(model).__name__, layers, sum(p.numel() for p in params), trainable,
                        x.numel() * x.element_size(),
                        sum(p.numel() * p.element_size() for p in params), batch_size)
