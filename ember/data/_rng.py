"""The random generator that data code draws from (shuffling, random transforms).

By default that is ``ember.backend.generator()``, seeded by ``ember.manual_seed``. While a
:class:`~ember.data.DataLoader` fetches a batch it installs, for the fetching thread only, a
generator derived from a per-epoch seed and the batch number, so that background threads never
race on the global generator and every batch is the same whichever thread loads it.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ember import backend

_local = threading.local()


def current_generator() -> np.random.Generator:
    """The generator in force in this thread: a loader's per-batch one, else ember's CPU one."""
    gen = getattr(_local, "generator", None)
    return gen if gen is not None else backend.generator()


@contextlib.contextmanager
def use_generator(gen: np.random.Generator):
    """Make ``gen`` this thread's data generator inside the ``with`` block."""
    previous = getattr(_local, "generator", None)
    _local.generator = gen
    try:
        yield gen
    finally:
        _local.generator = previous


def derived_generator(seed: int, *keys: int) -> np.random.Generator:
    """A generator seeded by ``(seed, *keys)``: independent streams per epoch and batch."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *keys])))


def draw_seed(gen=None) -> int:
    """A fresh 63-bit seed from ``gen`` (or the current generator)."""
    return int((gen if gen is not None else current_generator()).integers(2 ** 63))
