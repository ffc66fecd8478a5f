"""Grad mode: whether operations record a graph for backpropagation."""
from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    """Grad mode per thread, as in PyTorch: a new thread starts with grad enabled (the
    default set here, run once in each thread that reads it) whatever mode the thread that
    started it is in."""

    def __init__(self):
        self.enabled = True


# Hot paths read ``_state.enabled`` (one attribute lookup) once per op.
_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


def _wrap(func, make_mode):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with make_mode():
            return func(*args, **kwargs)
    return wrapper


class set_grad_enabled:
    """Turn graph recording on or off: as a call (effective at once), as a context manager
    (restored on exit) or as a decorator ``@set_grad_enabled(False)``."""

    def __init__(self, mode: bool):
        self.prev = _state.enabled
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, func):
        _state.enabled = self.prev  # decorating must not change the mode, only calling
        return _wrap(func, lambda: set_grad_enabled(self.mode))


class _GradMode:
    mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self  # `@no_grad` without parentheses

    def __init__(self, func=None):
        pass

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, func):
        """Use as a decorator: the function runs in this grad mode."""
        return _wrap(func, self.__class__)


class no_grad(_GradMode):
    """Build no graph inside this block (inference, parameter updates)."""
    mode = False


class enable_grad(_GradMode):
    """Record a graph again inside a ``no_grad`` block."""
    mode = True
