"""In-place writes that never corrupt autograd.

``x += y`` inside a graph is recorded as the out-of-place op on an alias of ``x``'s old
value; the result is then written into ``x``'s array and ``x`` takes over the new node.
Every write bumps ``x``'s version counter, so a backward that needs the overwritten value
raises a clear error instead of computing a wrong gradient.
"""
from __future__ import annotations

from ember.autograd.grad_mode import _state as _grad
from ember.backend import memory_owner
from ember.tensor import Tensor


def increment_version(*tensors):
    """Record that each tensor's array was written in place (``None`` is skipped), so a
    backward that saved the old values refuses to run. Every in-place write in ember goes
    through here (an architecture test checks it); PyTorch's
    ``torch.autograd.graph.increment_version``."""
    for t in tensors:
        if t is not None:
            t._version[0] += 1


def _check_leaf(x):
    if x.requires_grad and x.grad_fn is None and _grad.enabled:
        raise RuntimeError(
            f"a leaf tensor of shape {tuple(x.shape)} that requires grad is used in an "
            "in-place operation; do it under `with ember.no_grad():` (e.g. parameter "
            "updates) or use the out-of-place form")


def _write(x, array):
    if array.shape != x.array.shape:
        raise ValueError(f"in-place result of shape {tuple(array.shape)} cannot be written "
                         f"into a tensor of shape {tuple(x.array.shape)}")
    if array.dtype != x.array.dtype and array.dtype.kind == "f" and x.array.dtype.kind in "biu":
        raise TypeError(f"result dtype {array.dtype} cannot be written in place into a "
                        f"tensor of dtype {x.array.dtype}")
    x.array[...] = array
    increment_version(x)


def inplace(x, op, *args):
    """Compute ``op(x, *args)`` and write it into ``x``; returns ``x``."""
    _check_leaf(x)
    recording = _grad.enabled and (x.requires_grad or any(
        isinstance(a, Tensor) and a.requires_grad for a in args))
    if not recording:
        _write(x, op(x.detach(), *args).array)
        return x
    alias = Tensor._make(x.array, x.requires_grad)
    alias.grad_fn, alias._out_idx, alias._version = x.grad_fn, x._out_idx, x._version
    out = op(alias, *(alias if a is x else a for a in args))  # `x *= x`: both are the old x
    _protect_saved(out.grad_fn, x)
    _write(x, out.array)
    x.grad_fn, x._out_idx, x.requires_grad = out.grad_fn, out._out_idx, True
    return x


def _protect_saved(node, x):
    """If the op kept ``x``'s old values for its backward (``x *= w`` keeps ``x`` for
    ``w``'s gradient), give it private copies, since ``x``'s memory is about to be
    overwritten; only then is a copy paid for."""
    saved = node.__dict__.get("saved") if node is not None else None
    owner = memory_owner(x.array)
    if saved and any(memory_owner(s) is owner for s in saved):
        node.saved = tuple(s.copy() if memory_owner(s) is owner else s for s in saved)
        node._versions = [v for v in node._versions if v[0] is not x._version]


def fill_(x, value):
    """Fill ``x`` with a number or an array-like of its shape (outside the graph)."""
    _check_leaf(x)
    if x.requires_grad and _grad.enabled:
        raise RuntimeError("fill_/zero_/normal_/uniform_ on a tensor in a graph; do it under "
                           "`with ember.no_grad():`")
    x.array[...] = value.array if isinstance(value, Tensor) else value
    increment_version(x)
    return x
