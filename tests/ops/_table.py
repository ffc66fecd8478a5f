"""Rows of the declarative op tables in tests/ops (minitorch's MathTest, OpInfo in miniature).

A row's ``fn(module, *xs)`` runs unchanged on ember and on torch, so the table also checks
that names and signatures are PyTorch's; ``parity`` and ``gradcheck`` run the two checks.
"""
from dataclasses import dataclass
from functools import partial

import numpy as np

import ember
from _parity import check_grad, check_op, import_torch


@dataclass
class Op:
    fn: object
    shapes: tuple = ((3, 4),)
    low: float = -2.0
    high: float = 2.0
    kink: float | None = None  # keep inputs away from this non-differentiable point

    def parity(self, dtype=np.float64):
        """Values and every input's gradient against torch."""
        torch = import_torch()
        check_op(partial(self.fn, ember), partial(self.fn, torch), shapes=self.shapes,
                 low=self.low, high=self.high, away_from=self.kink, dtype=dtype)

    def gradcheck(self, shapes=None):
        """Finite differences in float64 (on ``shapes`` if given: small ones are faster)."""
        check_grad(partial(self.fn, ember), shapes=shapes or self.shapes, low=self.low,
                   high=self.high, away_from=self.kink)
