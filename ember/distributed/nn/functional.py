"""Differentiable collectives (``torch.distributed.nn.functional``): the result is a new
tensor recorded by autograd, and the backward pass runs the matching collective on the
gradients, so every rank's inputs get the gradient of the sum of all ranks' losses."""
from __future__ import annotations

from ember.autograd import Function
from ember.distributed import collectives
from ember.distributed.process_group import ReduceOp, group_of
from ember.tensor import Tensor

__all__ = ["all_reduce"]


def _reduced(array, op, group):
    t = Tensor._make(array.copy())
    collectives.all_reduce(t, op=op, group=group)
    return t.array


class AllReduce(Function):
    """y = op over ranks of x; the gradient of every rank's x is the same op over ranks of
    the gradients of y (the sum's, or the average's: both are linear)."""

    def forward(self, x, *, op, group):
        self.op, self.group = op, group
        return _reduced(x, op, group)

    def backward(self, gy):
        return _reduced(gy, self.op, self.group)


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    """A new tensor holding ``op`` over ranks of ``tensor`` (``SUM`` or ``AVG``: the
    differentiable ones), recorded by autograd."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"all_reduce: tensor must be an ember Tensor, got "
                        f"{type(tensor).__name__}")
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise ValueError(f"all_reduce: only ReduceOp.SUM and ReduceOp.AVG are differentiable, "
                         f"got {op}")
    return AllReduce.apply(tensor, op=op, group=group_of(group, "all_reduce"))
