"""PyTorch's ``inference_mode``: in ember it is ``no_grad`` plus a flag, since ember has no
separate inference tensors (outside the core: it only uses grad mode's public switch)."""
from __future__ import annotations

import functools
import threading

from ember.autograd.grad_mode import set_grad_enabled

__all__ = ["inference_mode", "is_inference_mode_enabled"]


class _InferenceState(threading.local):
    """Inference mode per thread, as in PyTorch; new threads start outside it."""
    enabled = False


_inference = _InferenceState()


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block (not switched off by ``inference_mode(False)``)
    is running."""
    return _inference.enabled


class inference_mode:
    """``with inference_mode():``, ``@inference_mode`` or ``@inference_mode()``: no graph is
    recorded inside; ``inference_mode(False)`` turns grad mode back on, as in PyTorch (where
    inference mode is off, grad mode is on). ember has no inference tensors: tensors made
    inside are ordinary tensors, usable in autograd later."""

    def __new__(cls, mode=True):
        return cls()(mode) if callable(mode) else super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev, _inference.enabled = _inference.enabled, self.mode
        self.grad = set_grad_enabled(not self.mode)  # switches at once, restores on exit
        return self

    def __exit__(self, *exc):
        self.grad.__exit__(*exc)
        _inference.enabled = self.prev
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(self.mode):
                return func(*args, **kwargs)
        return wrapper
