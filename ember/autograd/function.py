"""Function: one differentiable operation, with a forward and a hand-written backward.

Two ways to write one, told apart by whether ``forward`` is a ``@staticmethod``:

- **On Tensors, as in PyTorch** (for users): ``@staticmethod forward(ctx, *args)`` and
  ``@staticmethod backward(ctx, *grads)`` compute with ember ops on Tensors;
  ``ctx.save_for_backward(*tensors)`` / ``ctx.saved_tensors``, ``ctx.needs_input_grad``,
  ``ctx.mark_non_differentiable(*outputs)``, ``ctx.set_materialize_grads(False)``; or a
  ``forward(*args)`` plus ``setup_context(ctx, inputs, output)``. ``F.apply(*args)`` runs it.
- **On raw arrays** (ember's own ops, for speed): ``forward(self, *arrays, **config)`` and
  ``backward(self, *grads)`` methods; ``apply`` unwraps tensors, asks the backend for
  ``xp``, runs forward, wraps the outputs and, when grad mode is on and an input requires
  grad, records the node.

Undoing broadcasting, accumulation and freeing saved values belong to the engine.
"""
from __future__ import annotations

from ember import backend
from ember.autograd.grad_mode import _state as _grad
from ember.tensor import Tensor


class Function:
    """Base class of every differentiable op.

    Inside ``forward``/``backward``: ``self.xp`` is the array module of the inputs,
    ``self.needs_input_grad`` says which positional inputs want a gradient, and
    ``self.save_for_backward(*arrays)`` keeps arrays for backward in ``self.saved``
    (an in-place change to a saved input or output is detected at backward time).

    ``backward`` returns one gradient per positional input (``None`` where none is
    needed); gradients may have the broadcast shape, the engine sums them back.
    """

    materialize_grads = True  # outputs without a gradient get zeros (see set_materialize_grads)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("forward"), staticmethod) or \
                "setup_context" in cls.__dict__:
            cls.apply = classmethod(_apply_on_tensors)  # PyTorch's contract (module docstring)

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def forward(self, *xs, **config):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *gys):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name}>"

    def register_hook(self, out_idx, hook):
        hooks = self.__dict__.setdefault("_hooks", {}).setdefault(out_idx, [])
        if hooks and getattr(hooks[-1], "retains_grad", False):
            hooks.insert(len(hooks) - 1, hook)  # retain_grad sees the final gradient
        else:
            hooks.append(hook)
        return hooks

    @classmethod
    def apply(cls, *inputs, **config):
        """Run the op on Tensors (or ``None``, or raw constant arrays) and record it."""
        fn = cls.__new__(cls)
        xs = [t.array if isinstance(t, Tensor) else t for t in inputs]
        if _CPU_ONLY:  # the common case, without a per-op device lookup
            fn.xp = _numpy
        else:
            fn.xp = backend.get_array_module(*xs)
            _check_one_device(cls, xs)
        # grad mode (a thread-local read) is looked up only when an input requires grad
        record = any(isinstance(t, Tensor) and t.requires_grad for t in inputs) and _grad.enabled
        if record:
            fn.needs_input_grad = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs)
        else:
            fn.needs_input_grad = (False,) * len(inputs)
        try:
            ys = fn.forward(*xs, **config)
        except ValueError as e:
            shapes = ", ".join(str(tuple(x.shape)) for x in xs if hasattr(x, "shape"))
            raise ValueError(f"{cls.__name__.lower()}: {e} (input shapes: {shapes})") from None
        if type(ys) is tuple:
            outs = tuple(Tensor._make(y) for y in ys)
        else:
            outs = (Tensor._make(ys),)
        if record:
            fn.inputs = inputs
            fn.out_meta = [(o.array.shape, o.array.dtype) for o in outs] if len(outs) > 1 else None
            for i, o in enumerate(outs):
                if o.array.dtype.kind in "fc":  # integer and bool outputs carry no gradient
                    o.requires_grad = True
                    o.grad_fn = fn
                    o._out_idx = i
            saved = fn.__dict__.get("saved")
            if saved:  # remember the versions of saved tensors (the message is built lazily)
                fn._versions = [(t._version, t._version[0], k, t.array.shape)
                                for k, t in enumerate((*inputs, *outs))
                                if isinstance(t, Tensor) and any(s is t.array for s in saved)]
        return outs if type(ys) is tuple else outs[0]


def _check_one_device(cls, xs):
    """PyTorch's rule: an op's tensors live on one device; else a clear error that names
    both, not CuPy's type error. (Keyword arrays may be host-side index tables.)"""
    devices = {backend.device_of(a) for a in xs if backend.is_array(a)}
    if len(devices) > 1:
        names = " and ".join(sorted(str(d) for d in devices))
        raise ValueError(f"{cls.__name__.lower()}: expected all tensors on one device, got "
                         f"{names}")


import numpy as _numpy

_CPU_ONLY = not backend.cuda_available()


class FunctionCtx(Function):
    """``ctx`` of a Function written on Tensors: what ``forward`` keeps for ``backward``,
    and the node the engine runs (``y.grad_fn``, a ``<Name>Backward``), as in PyTorch."""

    _fn_class = None  # the user's Function, set on each one's own ctx class
    _non_differentiable = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    def save_for_backward(self, *tensors):
        self._saved_tensors = tensors

    @property
    def saved_tensors(self):
        if "needs_input_grad" not in self.__dict__:  # the engine freed this node
            from ember.autograd.engine import _FREED
            raise RuntimeError(_FREED)
        return self.__dict__.get("_saved_tensors", ())

    def mark_non_differentiable(self, *outputs):
        """These outputs get no gradient (integer results, indices, masks)."""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value):
        """With False, ``backward`` gets None for an output no gradient reached, instead of
        zeros (it must handle None)."""
        self.materialize_grads = bool(value)

    def backward(self, *gys):
        """The engine's call: arrays in, the user's backward on Tensors, arrays out."""
        grads = [None if g is None else Tensor._make(g) for g in gys]
        from ember.autograd.grad_mode import no_grad
        with no_grad():
            gxs = self._fn_class.backward(self, *grads)
        gxs = gxs if isinstance(gxs, tuple) else (gxs,)
        n = len(self.inputs)
        if len(gxs) < n or any(g is not None for g in gxs[n:]):
            raise RuntimeError(f"function {self.name} returned an incorrect number of "
                               f"gradients (expected {n}, got {len(gxs)})")
        return tuple(g.array if isinstance(g, Tensor) else g for g in gxs[:n])


def _apply_on_tensors(cls, *args):
    """``apply`` of a Function written on Tensors: forward without recording, then one node
    (the ctx) for the whole function."""
    from ember.autograd.grad_mode import no_grad
    ctx = _ctx_class(cls)()
    record = _grad.enabled and any(isinstance(a, Tensor) and a.requires_grad for a in args)
    ctx.needs_input_grad = tuple(record and isinstance(a, Tensor) and a.requires_grad
                                 for a in args)
    with no_grad():
        if hasattr(cls, "setup_context"):
            out = cls.forward(*args)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args)
    single = not isinstance(out, tuple)
    outs = tuple(_fresh(o) for o in ((out,) if single else out))
    if record:
        ctx.inputs = args
        ctx.xp = backend.get_array_module(*(o.array for o in outs if isinstance(o, Tensor)))
        ctx.out_meta = None if single else [(o.array.shape, o.array.dtype) for o in outs]
        blocked = {id(t) for t in ctx._non_differentiable}
        for i, (o, raw) in enumerate(zip(outs, (out,) if single else out)):
            if isinstance(o, Tensor) and o.array.dtype.kind in "fc" and id(raw) not in blocked:
                o.requires_grad, o.grad_fn, o._out_idx = True, ctx, i
        saved = ctx.__dict__.get("_saved_tensors", ())
        ctx._versions = [(u._version, u._version[0], k, u.array.shape)  # checked by the engine
                         for k, u in enumerate((*args, *((out,) if single else out)))
                         if isinstance(u, Tensor) and any(u is t for t in saved)]
    return outs[0] if single else outs


def _ctx_class(cls):
    """The ctx (and node) class of a user's Function: ``<Name>Backward``, made once."""
    made = cls.__dict__.get("_ctx")
    if made is None:
        made = type(f"{cls.__name__}Backward", (FunctionCtx,), {"_fn_class": cls})
        cls._ctx = made
    return made


def _fresh(o):
    """An output as a new Tensor sharing memory and version counter (the node is its own)."""
    if not isinstance(o, Tensor):
        return o
    t = Tensor._make(o.array)
    t._version = o._version
    return t


def once_differentiable(fn):
    """PyTorch's decorator for a backward that is not itself differentiable; ember's
    backward passes are first order anyway, so it returns ``fn`` unchanged."""
    return fn
