"""Grad mode: whether operations record a graph for backpropagation."""
from __future__ import annotations

import functools

# A one-element list so that hot paths read it without a function call.
_enabled = [True]


def is_grad_enabled() -> bool:
    return _enabled[0]


class set_grad_enabled:
    """Turn graph recording on or off, as a call or as a context manager."""

    def __init__(self, mode: bool):
        self.prev = _enabled[0]
        _enabled[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False


class _GradMode:
    mode = True

    def __enter__(self):
        self.prev = _enabled[0]
        _enabled[0] = self.mode
        return self

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False

    def __call__(self, func):
        """Use as a decorator: the function runs in this grad mode."""
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Build no graph inside this block (inference, parameter updates)."""
    mode = False


class enable_grad(_GradMode):
    """Record a graph again inside a ``no_grad`` block."""
    mode = True
