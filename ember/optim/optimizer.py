"""Optimizer: parameter groups, per-parameter state, ``step`` and ``state_dict``.

Subclasses write their algorithm once, for one parameter, in ``_update(p, grad, state,
group)``: ``grad`` is the raw gradient array (already negated when ``maximize``), ``state`` the
parameter's state dict and ``group`` its hyperparameters. Updates change ``p.array`` in place,
outside the autograd graph, so modules and anything else holding the parameter see the change.

State layout follows PyTorch: ``optimizer.state[p]`` is a dict whose arrays are Tensors
(``exp_avg``, ``momentum_buffer``, ...) and whose counters are Python numbers (``step`` is an
int here, a 0-d tensor in PyTorch). ``state_dict()`` numbers the parameters 0, 1, 2, ... in
group order, exactly as PyTorch does, so checkpoints map index to index.
"""
from __future__ import annotations

import copy
from collections import defaultdict

from ember import backend
from ember.autograd.grad_mode import enable_grad
from ember.ops.inplace import increment_version
from ember.tensor import Tensor


class _RequiredParameter:
    """Marks a hyperparameter every param group must set (PyTorch's ``required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts defining parameter groups (each dict has a
            ``"params"`` entry and may override any default, e.g. its own ``"lr"``).
        defaults: default hyperparameters, used by groups that do not set them.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._opt_called = False  # lets a scheduler warn when it steps before the optimizer
        if isinstance(params, Tensor):
            raise TypeError(f"params argument given to {type(self).__name__} should be an "
                            "iterable of Tensors or dicts, but got a single Tensor; "
                            "wrap it in a list")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. when unfreezing
        layers during fine-tuning)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; "
                            "use a list instead")
        params = list(params)
        if params and all(isinstance(p, tuple) for p in params):  # from named_parameters()
            param_group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but one of "
                                f"the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf Tensor "
                                 "(one computed from others); optimize the leaves it came from")
        param_group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to ``None`` (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.array[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) re-evaluates
        the model and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.array
                if group.get("maximize", False):
                    grad = -grad
                state = self.state[p]
                self._update(p, grad, state, group)
                if not state:  # stateless updates (plain SGD) keep no entry, as in PyTorch
                    del self.state[p]
                increment_version(p)  # the array changed in place, as after any in-place op
        return loss

    def _update(self, p, grad, state, group):
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    @staticmethod
    def _zeros_like(p):
        """A zero state Tensor with the parameter's shape, dtype and device."""
        return Tensor._make(backend.get_array_module(p.array).zeros_like(p.array))

    # --- state_dict ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are replaced by their position (0, 1, ... across groups), as in PyTorch.
        Values are the live state objects, not copies (PyTorch does the same).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict`.

        Groups are matched by position and must have the same sizes; state arrays are copied
        onto each parameter's dtype (floating state only) and device. Nothing changes if the
        state dict does not fit.
        """
        id_map = self._check_state_dict(state_dict)
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        new_state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            p = id_map.get(int(key))
            if p is not None:
                new_state[p] = {k: _cast_state(p, v) for k, v in value.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.param_groups = saved_groups
        self.state = new_state

    def _check_state_dict(self, state_dict) -> dict:
        """Raise (changing nothing) unless ``state_dict`` fits this optimizer's groups;
        return the map saved index -> parameter."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = list(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict expects a dict with keys 'state' and "
                             f"'param_groups' (from optimizer.state_dict()), got {got}")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(
                isinstance(g, dict) for g in saved_groups):
            raise TypeError(f"{name}.load_state_dict: 'param_groups' must be a list of dicts, "
                            f"got {type(saved_groups).__name__}")
        if not isinstance(saved_state, dict):
            raise TypeError(f"{name}.load_state_dict: 'state' must be a dict of per-parameter "
                            f"dicts, got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: loaded state dict has {len(saved_groups)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            indices = saved.get("params")
            if not isinstance(indices, (list, tuple)) or not all(
                    isinstance(j, int) and not isinstance(j, bool) for j in indices):
                raise ValueError(f"{name}: loaded state dict's parameter group {i} has no "
                                 "'params' list of parameter indices (got "
                                 f"{type(indices).__name__}); it is not an optimizer state")
            if len(group["params"]) != len(indices):
                raise ValueError(f"{name}: loaded state dict's parameter group {i} has "
                                 f"{len(indices)} parameters, the optimizer's has "
                                 f"{len(group['params'])}")
            for k, v in saved.items():
                if k in group and k not in ("params", "param_names") and (
                        _is_number(group[k]) and not _is_number(v)):
                    raise ValueError(f"{name}: loaded parameter group {i} has {k}={v!r}, "
                                     "expected a number")
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            id_map.update(zip(saved["params"], group["params"]))
        for key, value in saved_state.items():
            try:
                p = id_map.get(int(key))
            except (TypeError, ValueError):
                p = None
            if p is None or not isinstance(value, dict):
                raise ValueError(f"{name}: state entry {key!r} is not a dict for one of the "
                                 f"parameters 0..{len(id_map) - 1}")
            for k, v in value.items():
                if _is_array(v) and tuple(v.shape) != tuple(p.shape) and (
                        tuple(v.shape) != () or k != "step"):
                    raise ValueError(f"{name}: state {k!r} of parameter {key} has shape "
                                     f"{tuple(v.shape)}, the parameter has {tuple(p.shape)}")
                if not _is_array(v) and not _is_number(v) and v is not None:
                    raise ValueError(f"{name}: state {k!r} of parameter {key} is a "
                                     f"{type(v).__name__}; expected an array or a number")
        return id_map

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group)
                      if k not in ("params", "param_names")]
        return "\n".join(lines + [")"])


def _is_number(v):
    return isinstance(v, (int, float)) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0)


def _is_array(v):
    return isinstance(v, Tensor) or hasattr(v, "__array_interface__") or hasattr(
        v, "__cuda_array_interface__")


def _cast_state(p, value):
    """A copy of a saved state value on ``p``'s device (and dtype, for floating arrays);
    ``step`` and other counters stay plain numbers."""
    if not _is_array(value):
        return value
    array = backend.to_device(value.array if isinstance(value, Tensor) else value, p.device)
    if array.dtype.kind == "f" and p.array.dtype.kind == "f":
        array = array.astype(p.array.dtype)  # copies
    else:
        array = array.copy()
    return Tensor._make(array)


def _check_hyper(owner, **checks):
    """Validate hyperparameters: ``name=(value, ok, expectation)``."""
    for name, (value, ok, expectation) in checks.items():
        if not ok:
            raise ValueError(f"{owner}: invalid {name} {value!r}; expected {expectation}")
