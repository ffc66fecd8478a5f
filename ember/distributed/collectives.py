"""Collectives on ember tensors, with ``torch.distributed``'s names and signatures.

Each works in place on the tensors it is given (not recorded by autograd: that is
``ember.distributed.nn.functional``), returns None, or a :class:`Work` with
``async_op=True``, and is waited with the group's timeout. On a process outside ``group``
(``new_group`` returned ``GroupMember.NON_GROUP_MEMBER``) a collective does nothing and
warns, as in PyTorch.
"""
from __future__ import annotations

import warnings

import numpy as np

from ember.distributed.process_group import ReduceOp, group_of, host_array, is_member, write_back
from ember.tensor import Tensor

__all__ = [
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "reduce_scatter",
    "reduce_scatter_tensor",
]


def _op_name(op, what, dtype):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be an ember.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and dtype.kind not in "fc":
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got {dtype}")
    return op.value


def _check_tensor(t, what, name="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: {name} must be an ember Tensor, got {type(t).__name__}")


def _group(group, what):
    """The group to run on, or None on a process outside it (then the collective does
    nothing, with PyTorch's warning)."""
    g = group_of(group, what)
    if is_member(g):
        return g
    warnings.warn(f"{what}: running on a process which does not belong to the given group; "
                  "nothing to do", stacklevel=3)
    return None


def _finish(group, async_op, request, what, finish):
    work = group.start(request, what, finish)
    if async_op:
        return work
    work.wait()
    return None


def _averaged(host, op, size):
    if op is ReduceOp.AVG:
        host /= size
    return host


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` across ranks with ``op``; every rank ends with the result."""
    _check_tensor(tensor, "all_reduce")
    g = _group(group, "all_reduce")
    if g is None:
        return None
    name = _op_name(op, "all_reduce", tensor.array.dtype)
    host = host_array(tensor.array, "all_reduce")
    request = g.backend.allreduce(host, name)
    return _finish(g, async_op, request, f"all_reduce of shape {tuple(tensor.shape)}",
                   lambda: write_back(tensor, _averaged(host, op, g.size)))


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy the source's ``tensor`` into every rank's ``tensor``: ``src`` is its rank in the
    default group, ``group_src`` its rank in ``group`` (give one, as PyTorch)."""
    _check_tensor(tensor, "broadcast")
    g = _group(group, "broadcast")
    if g is None:
        return None
    if (src is None) == (group_src is None):
        raise ValueError(f"broadcast: give either src (a global rank) or group_src (a rank "
                         f"of the group), got src={src}, group_src={group_src}")
    if group_src is None:
        if src not in g.ranks:
            raise ValueError(f"broadcast: src={src} is not a rank of the group (ranks "
                             f"{g.ranks})")
        group_src = g.ranks.index(src)
    elif not 0 <= group_src < g.size:
        raise ValueError(f"broadcast: group_src={group_src} is not a rank of a group of "
                         f"{g.size}")
    src = group_src
    host = host_array(tensor.array, "broadcast")
    request = g.backend.broadcast(host, src)
    return _finish(g, async_op, request, f"broadcast of shape {tuple(tensor.shape)} from "
                   f"rank {src}", lambda: write_back(tensor, host))


def _check_list(tensors, size, like, what, name):
    if len(tensors) != size:
        raise ValueError(f"{what}: {name} must hold one tensor per rank ({size}), got "
                         f"{len(tensors)}")
    for t in tensors:
        _check_tensor(t, what, f"every entry of {name}")
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise ValueError(f"{what}: every entry of {name} must match the tensor's shape "
                             f"{tuple(like.shape)} and dtype {like.dtype}, got "
                             f"{tuple(t.shape)} {t.dtype}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r]`` gets rank r's ``tensor``, on every rank."""
    _check_tensor(tensor, "all_gather")
    g = _group(group, "all_gather")
    if g is None:
        return None
    _check_list(tensor_list, g.size, tensor, "all_gather", "tensor_list")
    send = host_array(tensor.array, "all_gather")
    recv = np.empty((g.size,) + send.shape, send.dtype)

    def finish():
        for t, part in zip(tensor_list, recv):
            write_back(t, part)
    return _finish(g, async_op, g.backend.allgather(send, recv),
                   f"all_gather of shape {tuple(tensor.shape)}", finish)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Rank r's ``input_tensor`` becomes the r-th block of ``output_tensor`` (its size along
    dim 0 is world size x the input's, or it has an extra leading dim of the world size)."""
    for name, t in (("output_tensor", output_tensor), ("input_tensor", input_tensor)):
        _check_tensor(t, "all_gather_into_tensor", name)
    g = _group(group, "all_gather_into_tensor")
    if g is None:
        return None
    if output_tensor.numel() != g.size * input_tensor.numel() or \
            output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor must hold world size "
                         f"({g.size}) x input_tensor's elements of its dtype, got output "
                         f"{tuple(output_tensor.shape)} {output_tensor.dtype} for input "
                         f"{tuple(input_tensor.shape)} {input_tensor.dtype}")
    send = host_array(input_tensor.array, "all_gather_into_tensor")
    recv = host_array(output_tensor.array, "all_gather_into_tensor")
    return _finish(g, async_op, g.backend.allgather(send, recv),
                   f"all_gather_into_tensor of shape {tuple(input_tensor.shape)}",
                   lambda: write_back(output_tensor, recv))


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``input_list[r]`` across ranks with ``op`` into rank r's ``output``."""
    _check_tensor(output, "reduce_scatter", "output")
    g = _group(group, "reduce_scatter")
    if g is None:
        return None
    _check_list(input_list, g.size, output, "reduce_scatter", "input_list")
    name = _op_name(op, "reduce_scatter", output.array.dtype)
    send = np.stack([host_array(t.array, "reduce_scatter") for t in input_list])
    recv = host_array(output.array, "reduce_scatter")
    return _finish(g, async_op, g.backend.reduce_scatter_block(send, recv, name),
                   f"reduce_scatter of shape {tuple(output.shape)}",
                   lambda: write_back(output, _averaged(recv, op, g.size)))


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``input`` across ranks with ``op``; rank r keeps the r-th block (``input``
    holds world size x ``output``'s elements, blocks along dim 0)."""
    for name, t in (("output", output), ("input", input)):
        _check_tensor(t, "reduce_scatter_tensor", name)
    g = _group(group, "reduce_scatter_tensor")
    if g is None:
        return None
    if input.numel() != g.size * output.numel() or output.dtype != input.dtype:
        raise ValueError(f"reduce_scatter_tensor: input must hold world size ({g.size}) x "
                         f"output's elements of its dtype, got input {tuple(input.shape)} "
                         f"{input.dtype} for output {tuple(output.shape)} {output.dtype}")
    name = _op_name(op, "reduce_scatter_tensor", output.array.dtype)
    send = host_array(input.array, "reduce_scatter_tensor")
    recv = host_array(output.array, "reduce_scatter_tensor")
    return _finish(g, async_op, g.backend.reduce_scatter_block(send, recv, name),
                   f"reduce_scatter_tensor of shape {tuple(output.shape)}",
                   lambda: write_back(output, _averaged(recv, op, g.size)))


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has called ``barrier``."""
    g = _group(group, "barrier")
    if g is None:
        return None
    return _finish(g, async_op, g.backend.barrier(), "barrier", None)
