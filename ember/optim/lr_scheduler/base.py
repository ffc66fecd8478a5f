"""The base class every scheduler derives from (``LRScheduler``: step counting, the first
step, ``state_dict``) and the helpers the families share; see the package docstring."""
from __future__ import annotations

import warnings

from ember.optim.optimizer import Optimizer

__all__ = ["LRScheduler"]


def _group_lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


def _per_group(name, optimizer, value):
    """``value`` repeated for every param group, or a list checked to have one per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per param group: got {len(value)} "
                             f"values for {len(optimizer.param_groups)} groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _kind_mismatch(mine, value):
    """Why ``value`` cannot replace ``mine`` in a scheduler's state, or None."""
    number = (int, float)
    if mine is None or callable(mine):
        return None
    if isinstance(mine, bool):
        ok = isinstance(value, bool)
    elif isinstance(mine, number):
        ok = isinstance(value, number) and not isinstance(value, bool) or (
            hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0)
    elif isinstance(mine, str):
        ok = isinstance(value, str)
    elif isinstance(mine, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(mine):
            got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
            return f"should be a list of {len(mine)} values (one per item), got {got!r}"
        for a, b in zip(mine, value):
            problem = _kind_mismatch(a, b)
            if problem:
                return problem
        return None
    elif isinstance(mine, dict):
        ok = isinstance(value, dict)
    else:
        return None
    if ok:
        return None
    return f"should be a {type(mine).__name__} like {mine!r}, got {value!r}"


class LRScheduler:
    """Base class: subclasses implement ``get_lr()`` (the lrs at ``self.last_epoch``).

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last step taken; -1 (default) starts a new schedule.
            Resume with ``load_state_dict`` rather than with this argument.
    """

    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an ember Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when "
                               f"resuming {type(self).__name__} with last_epoch={last_epoch}; "
                               "load the optimizer's state_dict first, or use last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Take step 0, which sets the first learning rate."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            del self._is_initial

    def get_lr(self):
        raise NotImplementedError

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per param group."""
        return self._last_lr

    def step(self, epoch=None):
        """Advance one step (call after ``optimizer.step()``). ``epoch`` is deprecated, as in
        PyTorch: it jumps to that step using the closed form."""
        if self._step_count == 1 and not self.optimizer._opt_called:
            warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`: "
                          "call `optimizer.step()` first, otherwise the first value of the "
                          "learning-rate schedule is skipped", UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn("The epoch parameter in `scheduler.step()` is deprecated; call "
                          "`scheduler.step()` without it", UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _group_lrs(self.optimizer)

    def state_dict(self) -> dict:
        """Everything but the optimizer (numbers, lists and strings: checkpoint-safe)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned; checked first (keys and value types
        against this scheduler's own state), so a state that does not fit changes nothing."""
        self._check_state_dict(state_dict)
        self.__dict__.update(state_dict)

    def _check_state_dict(self, state_dict, own=None) -> None:
        """Raise ValueError (changing nothing) unless ``state_dict`` has only this
        scheduler's keys, each value of the kind the scheduler holds there."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict expects a dict (from "
                            f"scheduler.state_dict()), got {type(state_dict).__name__}")
        own = self.state_dict() if own is None else own
        unknown = sorted(str(k) for k in state_dict if k not in own)
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unexpected keys {unknown} (not a "
                             f"{name} state; it has {sorted(own)})")
        for key, value in state_dict.items():
            problem = _kind_mismatch(own[key], value)
            if problem:
                raise ValueError(f"{name}.load_state_dict: {key!r} {problem}")
