"""Module: the base of every layer and model.

Parameters, buffers and submodules register by assignment into ordered dicts, so
``state_dict`` keys are PyTorch's dotted names (``layer1.0.conv1.weight``) and weights of the
same architecture map 1:1 between ember and PyTorch.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np

from ember import backend
from ember.nn.parameter import Buffer, Parameter
from ember.ops.inplace import increment_version
from ember.tensor import Tensor


class _IncompatibleKeys:
    """What ``load_state_dict(strict=False)`` could not match."""

    def __init__(self, missing_keys, unexpected_keys):
        self.missing_keys, self.unexpected_keys = missing_keys, unexpected_keys

    def __iter__(self):
        return iter((self.missing_keys, self.unexpected_keys))

    def __repr__(self):
        return (f"<IncompatibleKeys missing_keys={self.missing_keys} "
                f"unexpected_keys={self.unexpected_keys}>")


class RemovableHandle:
    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, next(RemovableHandle._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Module:
    """Base class for layers and models: subclass, assign parameters and submodules in
    ``__init__``, compute in ``forward``."""

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # --- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called; "
                                 f"call super().__init__() first in {type(self).__name__}")
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Buffer):
            self._forget(name)
            self.register_buffer(name, Tensor._make(value.array), value.persistent)
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} "
                                "(ember.nn.Parameter or None expected)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None expected)")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (a Module or None expected)")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            d[store].pop(name, None)
        d["_non_persistent"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[store]:
                del self.__dict__[store][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent optional one)."""
        if "." in name or not name:
            raise KeyError(f"parameter name {name!r} must be non-empty and contain no '.'")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r} "
                            "(ember.nn.Parameter or None required)")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register non-trainable state (e.g. BatchNorm's running mean) saved in state_dict
        unless ``persistent=False``."""
        if "." in name or not name:
            raise KeyError(f"buffer name {name!r} must be non-empty and contain no '.'")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def add_module(self, name, module):
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        for part in target.split(".") if target else []:
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            mod = mod._modules[part]
        return mod

    # --- iteration ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is not None:
                yield from mod.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                             remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, mod in self._modules.items():
            if mod is not None:
                yield name, mod

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named(self, store, prefix, recurse):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, store).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        return self._named("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # --- modes and bulk changes ---------------------------------------------------------
    def train(self, mode=True):
        self.__dict__["training"] = bool(mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.array = backend.get_array_module(p.array).zeros_like(p.grad.array)

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, convert):
        """Replace every parameter's and buffer's array by ``convert(array)`` (in place, so
        optimizers holding the parameters keep working)."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.array = convert(p.array)
                    if p.grad is not None:
                        p.grad.array = convert(p.grad.array)
            for name, b in m._buffers.items():
                if b is not None:
                    b.array = convert(b.array)
        return self

    def to(self, *args, device=None, dtype=None):
        """Move parameters and buffers to a device and/or floating dtype, in place."""
        for a in args:
            if isinstance(a, (str, backend.Device)):
                device = a
            else:
                dtype = a
        if device is not None:
            dev = backend.Device(device)
            self._apply_to_tensors(lambda a: backend.to_device(a, dev))
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError(f"{type(self).__name__}.to() only accepts floating dtypes, "
                                f"got {dtype}")
            self._apply_to_tensors(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    # --- state_dict -------------------------------------------------------------------
    def state_dict(self, prefix="", keep_vars=False):
        """An ordered dict ``name -> Tensor`` of parameters and persistent buffers."""
        out = OrderedDict()
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip("."),
                                                  remove_duplicate=False):
            base = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[base + name] = p if keep_vars else p.detach()
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[base + name] = b if keep_vars else b.detach()
        return out

    def check_state_dict(self, state_dict, strict=True):
        """Raise the error ``load_state_dict`` would (every missing, unexpected and
        mis-shaped key, and values that are not numbers) without changing anything; return
        the module's own tensors and the missing and unexpected keys."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"expected a state_dict (a dict of tensors), got a "
                            f"{type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, target in own.items():
            if k in state_dict:
                src = state_dict[k]
                if isinstance(src, str) or getattr(np.asarray(src) if not hasattr(
                        src, "dtype") else src, "dtype", np.dtype("O")).kind not in "biufc":
                    mismatched.append(f"{k}: checkpoint holds a {type(src).__name__}, not "
                                      "numbers")
                    continue
                shape = tuple(src.shape) if hasattr(src, "shape") else np.shape(src)
                if shape != tuple(target.shape):
                    mismatched.append(f"{k}: checkpoint {shape} vs model {tuple(target.shape)}")
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"Error(s) in loading state_dict for {type(self).__name__}:"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                lines.append("  size mismatch: " + "; ".join(mismatched))
            raise RuntimeError("\n".join(lines))
        return own, missing, unexpected

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into parameters and buffers; with ``strict``, every key must match.

        Errors list every missing, unexpected and mis-shaped key at once, before anything is
        copied. Values are copied into the existing arrays (dtype and device of the module
        kept).
        """
        own, missing, unexpected = self.check_state_dict(state_dict, strict)
        for k, target in own.items():
            if k in state_dict:
                src = state_dict[k]
                src = src.array if isinstance(src, Tensor) else np.asarray(src)
                target.array[...] = backend.to_device(src, backend.device_of(target.array))
                increment_version(target)
        return _IncompatibleKeys(missing, unexpected)

    # --- calling, hooks -------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            out = hook(self, args)
            if out is not None:
                args = out if isinstance(out, tuple) else (out,)
        if self._backward_hooks:
            args = self._wrap_backward_hooks_inputs(args)
        try:
            out = self.forward(*args, **kwargs)
        except (ValueError, TypeError, RuntimeError, IndexError) as e:
            _name_the_layer(e, self)
            raise
        for hook in list(self._forward_hooks.values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        if self._backward_hooks:
            out = self._wrap_backward_hooks_outputs(args, out)
        return out

    def register_forward_pre_hook(self, hook):
        """``hook(module, args) -> None | new args`` runs before ``forward``."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output) -> None | new output`` runs after ``forward``."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output) -> None | new grad_input``, called when
        the gradients with respect to the module's tensor inputs are computed."""
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    def _wrap_backward_hooks_inputs(self, args):
        # Identity ops mark where the module starts, so its input gradients can be seen.
        from ember.nn.modules._hooks import BackwardHookState
        self.__dict__["_bw_state"] = state = BackwardHookState(self)
        return state.wrap_inputs(args)

    def _wrap_backward_hooks_outputs(self, args, out):
        return self.__dict__.pop("_bw_state").wrap_outputs(out)

    # --- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        for name, mod in self._modules.items():
            body = repr(mod).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        head = f"{type(self).__name__}({extra}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _name_the_layer(error, module):
    """Prefix an error raised inside ``module`` with the layer that raised it and, as the
    error passes up through the modules that contain it, with its path in the outermost:
    ``Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1)) at features.0: conv2d: ...``.
    The error keeps its type and traceback; only its message grows."""
    if not error.args or not isinstance(error.args[0], str):
        return
    layer = getattr(error, "_ember_layer", None)
    if layer is None:  # raised in this layer's own forward
        error._ember_layer = layer = module
        error._ember_message = error.args[0]
        path = ""
    else:
        path = next((name for name, m in module.named_modules() if m is layer), "")
        if not path:
            return
    extra = layer.extra_repr()
    name = type(layer).__name__ + (f"({extra})" if extra and "\n" not in extra else "")
    where = f" at {path}" if path else ""
    error.args = (f"{name}{where}: {error._ember_message}",) + error.args[1:]
