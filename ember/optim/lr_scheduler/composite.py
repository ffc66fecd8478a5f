"""Schedulers made of schedulers: ``SequentialLR`` (one after another, at milestones) and
``ChainedScheduler`` (stepped together, factors multiplied)."""
from __future__ import annotations

from bisect import bisect_right

from ember.optim.lr_scheduler.base import LRScheduler, _group_lrs
from ember.optim.lr_scheduler.plateau import ReduceLROnPlateau

__all__ = ["ChainedScheduler", "SequentialLR"]


def _check_same_optimizer(owner, optimizer, schedulers):
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{owner} does not support ReduceLROnPlateau (its step needs a "
                             f"metric), got one at index {i}")
        if getattr(s, "optimizer", None) is not optimizer:
            raise ValueError(f"{owner} expects all schedulers to belong to the same optimizer, "
                             f"but scheduler {type(s).__name__} at index {i} does not")


class _Composite(LRScheduler):
    """State handling shared by schedulers made of schedulers."""

    def _check_state_dict(self, state_dict, own=None):
        super()._check_state_dict(state_dict, own)
        for s, s_state in zip(self._schedulers, state_dict.get("_schedulers", ())):
            s._check_state_dict(s_state)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        self._check_state_dict(state_dict)
        state_dict = dict(state_dict)
        saved = state_dict.pop("_schedulers", None)
        if saved is None:
            saved = [s.state_dict() for s in self._schedulers]
        self.__dict__.update(state_dict)
        for s, s_state in zip(self._schedulers, saved):
            s.load_state_dict(s_state)


class SequentialLR(_Composite):
    """Run ``schedulers[i]`` from ``milestones[i-1]`` on (e.g. linear warm-up, then cosine).
    At a milestone the next scheduler restarts from its own step 0."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got none")
        _check_same_optimizer("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError("SequentialLR expects one milestone fewer than schedulers, but got "
                             f"{len(schedulers)} schedulers and {len(milestones)} milestones")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        # Each scheduler's constructor already took its step 0: undo that, then restart the
        # first one from the initial lrs.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_step(self)
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


def _undo_initial_step(scheduler):
    """Step every leaf scheduler back by one (nested composites recurse)."""
    for s in scheduler._schedulers:
        if hasattr(s, "_schedulers"):
            _undo_initial_step(s)
        else:
            s.last_epoch -= 1


class ChainedScheduler(_Composite):
    """Step several chainable schedulers together, so that their factors multiply."""

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler, but got none")
        optimizer = optimizer or schedulers[0].optimizer
        _check_same_optimizer("ChainedScheduler", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = _group_lrs(optimizer)

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _group_lrs(self.optimizer)
