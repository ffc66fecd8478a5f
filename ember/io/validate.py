"""All or nothing: check a whole saved training state against the live objects before any
of them changes (used by ``ember.io.load_checkpoint`` and ``Trainer.resume``)."""
from __future__ import annotations

import numpy as np


def check_model_state(model, state_dict) -> None:
    """Raise (as ``Module.load_state_dict`` would: every missing, unexpected and mis-shaped
    key) unless ``state_dict`` loads into ``model`` strictly."""
    model.check_state_dict(state_dict, strict=True)


def check_rng_state(state) -> None:
    """Raise ValueError unless ``state`` is a CPU generator state ``set_rng_state`` takes."""
    from ember import backend
    probe = type(backend.generator("cpu").bit_generator)()
    try:
        probe.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"the RNG state is not a {type(probe).__name__} state ({e!r})") from None


def check_parts(path, model=None, model_state=None, optimizer=None, optimizer_state=None,
                scheduler=None, scheduler_state=None, rng_state=None):
    """Check each given part; errors keep their type and name ``path`` and the part."""
    checks = []
    if model is not None:
        checks.append(("model", lambda: check_model_state(model, model_state)))
    if optimizer is not None:
        checks.append(("optimizer", lambda: optimizer._check_state_dict(optimizer_state)))
    if scheduler is not None and scheduler_state is not None:
        checks.append(("scheduler", lambda: scheduler._check_state_dict(scheduler_state)))
    if rng_state is not None:
        checks.append(("RNG", lambda: check_rng_state(rng_state)))
    for part, check in checks:
        try:
            check()
        except (ValueError, RuntimeError, TypeError) as e:
            raise type(e)(f"{where(path)}: the {part} state does not fit, nothing was "
                          f"loaded: {e}") from None


def where(path):
    return f"'{path}'" if path is not None else "the state"


def check_trainer_state(trainer, state, path=None) -> dict:
    """Validate a ``Trainer.state_dict()`` (or a ``save_checkpoint`` dict, converted) and
    return it in the Trainer's layout; raises before anything changes."""
    from ember.io.limits import CheckpointError
    if isinstance(state, dict) and state.get("format") == "ember-training-checkpoint":
        state = {"model": state.get("model"), "optimizer": state.get("optimizer"),
                 "scheduler": state.get("scheduler"), "epoch": state.get("epoch") or 0,
                 "global_step": state.get("step") or 0, "history": [], "lrs": [],
                 "rng_state": state.get("rng_state"),
                 "config": (state.get("extra") or {}).get("config", {})
                 if isinstance(state.get("extra"), dict) else {}}
    required = ("model", "optimizer", "epoch", "global_step", "history", "lrs", "rng_state")
    if not isinstance(state, dict) or any(k not in state for k in required):
        got = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{where(path)} is not a Trainer checkpoint (needs "
                              f"{', '.join(required)}; it has {got}). Write one with "
                              "Trainer.save_checkpoint or ember.io.save_checkpoint")
    for key in ("epoch", "global_step"):
        v = state[key]
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise CheckpointError(f"{where(path)}: {key} is {v!r}, not a count")
    if not isinstance(state["history"], list) or not all(
            isinstance(h, dict) for h in state["history"]):
        raise CheckpointError(f"{where(path)}: history is not a list of dicts of logs")
    if not isinstance(state["lrs"], list) or not all(
            isinstance(v, (int, float)) for v in state["lrs"]):
        raise CheckpointError(f"{where(path)}: lrs is not a list of numbers")
    best = state.get("best_metric")
    if best is not None and not isinstance(best, (int, float)):
        raise CheckpointError(f"{where(path)}: best_metric is {best!r}, not a number")
    if not isinstance(state.get("config", {}), dict):
        raise CheckpointError(f"{where(path)}: config is not a dict")
    check_parts(path, trainer.model, state["model"], trainer.optimizer, state["optimizer"],
                trainer.scheduler, state.get("scheduler"), state["rng_state"])
    return state
