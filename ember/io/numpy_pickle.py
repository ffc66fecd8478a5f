"""Pickles of NumPy arrays (such as the weights of the book *Deep Learning from Scratch*),
read without running pickle code.

:func:`load_numpy_pickle` interprets the pickle with :mod:`ember.io.unpickle` and allows only
the globals NumPy's own pickles of arrays name: ``numpy.core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray.scalar`` and (protocol 5)
``numpy.core.numeric._frombuffer``, under NumPy 1's and NumPy 2's (``numpy._core``) module
names, and ``_codecs.encode`` restricted to latin-1 and ``bytes()`` without arguments
(protocol 2's ways to pickle bytes). Each is one of ember's stand-ins, which builds
numeric arrays only (bool, integer, float, complex dtypes; object arrays are refused) from
the bytes in the file, after checking that the shape and dtype agree with them. Anything
else the pickle names raises :class:`~ember.io.unpickle.UnsafeFileError`, and nothing in the
file runs.

``ember.load`` does not read plain pickles: reading one is this explicit call.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ember.io import limits
from ember.io.limits import CheckpointError
from ember.io.unpickle import Pending, unpickle

__all__ = ["load_numpy_pickle"]

_HINT = ("load_numpy_pickle reads pickles of NumPy arrays and plain Python values (numbers, "
         "strings, lists, tuples, dicts) only")


def _dtype(value):
    if not isinstance(value, np.dtype) or value.hasobject or value.kind not in "biufc":
        raise CheckpointError(f"dtype {value!r} is not a numeric dtype")
    return value


class _NDArrayType:
    """Stands for ``numpy.ndarray`` (never called)."""


_NDARRAY = _NDArrayType()


class _PendingDType(Pending):
    """``numpy.dtype(spec, align, copy)``, then BUILD with ``(version, byteorder, subarray,
    names, fields, elsize, alignment, flags)``: only the byte order is taken from the state."""

    def __init__(self, spec, align=False, copy=True):
        if not isinstance(spec, str):
            raise CheckpointError(f"dtype spec {spec!r} is not a type code")
        try:
            self.dtype = _dtype(np.dtype(spec))
        except TypeError:
            raise CheckpointError(f"{spec!r} is not a NumPy type code") from None

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) >= 5 and state[1] in "<>|="
                and state[2] is None and state[3] is None and state[4] is None):
            raise CheckpointError("a dtype's state is not that of a plain numeric dtype")
        order = state[1]
        return _dtype(self.dtype.newbyteorder(order) if order in "<>" else self.dtype)


def _shape(value):
    if not isinstance(value, tuple) or not all(type(n) is int and n >= 0 for n in value):
        raise CheckpointError(f"shape {value!r} is not a tuple of non-negative integers")
    return value


def _from_bytes(data, dtype, shape, order):
    dtype, shape = _dtype(dtype), _shape(shape)
    if not isinstance(data, (bytes, bytearray)):
        raise CheckpointError("an array's data is not raw bytes (object arrays are refused)")
    need = math.prod(shape) * dtype.itemsize
    limits.check_size(need, f"an array of shape {shape} ({dtype})")
    if len(data) != need:
        raise CheckpointError(f"an array of shape {shape} ({dtype}) needs {need} bytes, the "
                              f"file holds {len(data)}")
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return flat.reshape(shape, order=order).astype(dtype.newbyteorder("="), order="K")


class _PendingArray(Pending):
    """``_reconstruct(ndarray, (0,), b'b')``, then BUILD with ``(version, shape, dtype,
    is_fortran, rawdata)``."""

    def build(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise CheckpointError("an array's state is not (version, shape, dtype, "
                                  "is_fortran, data)")
        _, shape, dtype, fortran, data = state
        return _from_bytes(data, dtype, shape, "F" if fortran else "C")


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY:
        raise CheckpointError("_reconstruct of something other than numpy.ndarray")
    return _PendingArray()


def _frombuffer(buf, dtype, shape, order):
    return _from_bytes(buf, dtype, shape, "F" if order == "F" else "C")


def _scalar(dtype, data=None):
    if not isinstance(data, bytes):
        raise CheckpointError("a NumPy scalar's data is not raw bytes")
    return _from_bytes(data, dtype, (), "C")[()]


def _encode(text, encoding="utf-8"):
    """``_codecs.encode(text, "latin1")``: how protocol 2 pickles ``bytes`` (array data)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode is allowed only to turn text into latin-1 bytes")
    return text.encode("latin1")


def _empty_bytes():
    """``bytes()``: how protocol 2 pickles ``b""`` (an empty array's data)."""
    return b""


def _allowed():
    table = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _PendingDType,
             ("_codecs", "encode"): _encode, ("__builtin__", "bytes"): _empty_bytes,
             ("builtins", "bytes"): _empty_bytes}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        table[(f"{core}.multiarray", "scalar")] = _scalar
        table[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    return table


def _check_built(obj, what):
    """No half-built stand-in is left anywhere in the result (iterative: no recursion)."""
    todo, seen = [obj], set()
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (Pending, _NDArrayType)):
            raise CheckpointError(f"{what} holds an object that was never built: the "
                                  "file is damaged")
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            todo.extend(item)


def load_numpy_pickle(f):
    """Read a pickle of NumPy arrays (a dict of them, say) without running pickle code.

    For files such as the pretrained weights of the book *Deep Learning from Scratch*
    (``sample_weight.pkl``, ``params.pkl``: ``{"W1": ndarray, "b1": ndarray, ...}``). Only
    numeric NumPy arrays and scalars and plain Python values (numbers, strings, bytes, None,
    lists, tuples, dicts, sets) are built; any other global the pickle names raises
    :class:`ember.io.UnsafeFileError` naming it, without running it.

    Args:
        f: a path or a binary file object.

    Returns:
        The pickled object with its arrays as (writable) NumPy arrays, e.g. a dict
        ``{name: ndarray}``; ``ember.models.dlfs_mlp(params)`` & co. take such a dict.

    Raises:
        UnsafeFileError: the pickle names a global outside the allow-list.
        CheckpointError: a truncated, damaged or non-pickle file (naming the file).
        LoadLimitError: the file or an array in it is larger than ``ember.io.MAX_LOAD_BYTES``.
    """
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        where = f"'{name}'" if name else "load_numpy_pickle"
    else:
        name = os.fspath(f)
        where = f"'{name}'"
    try:
        if hasattr(f, "read"):
            raw = f.read(limits.max_load_bytes() + 1)
            limits.check_size(len(raw), "the file")
        else:
            limits.check_file(name)
            with open(name, "rb") as fh:
                raw = fh.read()
        if not raw:
            raise CheckpointError("the file is empty (0 bytes)")
        if raw[:1] != b"\x80":
            raise CheckpointError(f"not a pickle (protocol 2 or later): it starts with "
                                  f"{raw[:8]!r}")
        obj = unpickle(raw, _allowed(), what="the pickle", hint=_HINT)
        _check_built(obj, "the pickle")
        return obj
    except (CheckpointError, limits.LoadLimitError) as e:
        raise type(e)(f"{where}: {e}") from None
