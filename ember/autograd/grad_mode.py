"""Grad mode: whether operations record a graph for backpropagation."""
from __future__ import annotations

import functools

# A one-element list so that hot paths read it without a function call.
_enabled = [True]


def is_grad_enabled() -> bool:
    return _enabled[0]


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
        self.prev = _enabled[0]
        self.mode = bool(mode)
        _enabled[0] = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False

    def __call__(self, func):
        _enabled[0] = self.prev  # decorating must not change the mode, only calling
        return _wrap(func, lambda: set_grad_enabled(self.mode))


class _GradMode:
    mode = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self  # `@no_grad` without parentheses

    def __init__(self, func=None):
        pass

    def __enter__(self):
        self.prev = _enabled[0]
        _enabled[0] = self.mode
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
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


_inference = [False]


def is_inference_mode_enabled() -> bool:
    return _inference[0]


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode(mode=True)``, as a context manager or decorator: in ember it
    is ``no_grad`` (``inference_mode(False)`` turns grad mode back on, as in PyTorch) plus
    :func:`is_inference_mode_enabled`; ember has no separate inference tensors."""

    def __new__(cls, mode=True):
        return cls()(mode) if callable(mode) else super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = not mode

    def __enter__(self):
        self.prev_inference, _inference[0] = _inference[0], not self.mode
        return super().__enter__()

    def __exit__(self, *exc):
        _inference[0] = self.prev_inference
        return super().__exit__(*exc)

    def __call__(self, func):
        return _wrap(func, lambda: inference_mode(not self.mode))
