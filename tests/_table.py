"""Rows of the declarative op tables (minitorch's MathTest, OpInfo in miniature): every
parity table in tests/ is a dict ``name -> Op(...)``.

A row's ``fn(module, *xs)`` runs unchanged on ember and on torch (``m.exp(x)``,
``m.nn.functional.gelu(x)``, ``x.sum(1)``), so the table also checks that names and
signatures are PyTorch's; ``parity`` and ``gradcheck`` run the two checks. On the ember side
``module`` is ``_parity.EMBER``: ember, whose tensor factories (``m.tensor``...) default to
the test device.
"""
from dataclasses import dataclass
from functools import partial

import numpy as np
from _parity import EMBER, check_grad, check_op, import_torch


@dataclass
class Op:
    fn: object
    shapes: tuple = ((3, 4),)
    low: float = -2.0
    high: float = 2.0
    kink: float | None = None  # keep inputs away from this non-differentiable point
    inputs: tuple | None = None  # fixed input arrays instead of random ones of ``shapes``

    def on(self, module):
        """The row's function for one framework: ``op.on(ember)(*tensors)``."""
        return partial(self.fn, module)

    def parity(self, dtype=np.float64, shapes=None, **check):
        """Values and every input's gradient against torch, on ``shapes`` if given; ``check``:
        more ``check_op`` arguments, or ones that replace the row's for this call (fixed
        ``inputs``, ``grad=False``, ``rtol``, ``low``/``high``, ``away_from``...)."""
        torch = import_torch()
        check_op(self.on(EMBER), self.on(torch), dtype=dtype, **self._inputs(shapes, check))

    def gradcheck(self, shapes=None, **check):
        """Finite differences in float64 (on ``shapes`` if given: small ones are faster)."""
        check_grad(self.on(EMBER), **self._inputs(shapes, check))

    def _inputs(self, shapes, check):
        return {"shapes": shapes or self.shapes, "low": self.low, "high": self.high,
                "away_from": self.kink, "inputs": self.inputs, **check}
