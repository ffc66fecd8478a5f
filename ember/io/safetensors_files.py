"""``.safetensors`` files, through the ``safetensors`` library's NumPy API.

A safetensors file is an 8-byte header length, a JSON header (each tensor's dtype, shape and
byte range) and the raw bytes: no code, no pickle. ``ember.load`` recognises one by its
content (any file name) and returns ``{name: Tensor}``; ``ember.save(tensors, path)`` writes
one when ``path`` ends in ``.safetensors``, from a flat dict of tensors with string keys.

The library is optional (``pip install safetensors``, or ember's ``safetensors`` extra) and is
imported only when such a file is read or written. ``BF16`` tensors, which NumPy lacks, are
widened to float32 (exactly), as in :mod:`ember.io.torch_files`.
"""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.io.limits import CheckpointError
from ember.tensor import Tensor

__all__ = ["is_safetensors", "is_safetensors_path", "read", "to_bytes"]

SUFFIX = ".safetensors"


def _library():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError("reading or writing .safetensors files needs the safetensors "
                          "package: pip install safetensors (or pip install "
                          "'ember[safetensors]')") from None
    return safetensors


def is_safetensors_path(f) -> bool:
    """Whether ``f`` (a path or a file object with a ``name``) names a ``.safetensors`` file."""
    name = getattr(f, "name", None) if hasattr(f, "write") else f
    try:
        return str(name).lower().endswith(SUFFIX)
    except TypeError:  # pragma: no cover - a name that is not text
        return False


def is_safetensors(raw) -> bool:
    """Whether ``raw`` starts like a safetensors file: a little-endian header length that
    fits in the file, then a JSON object."""
    if len(raw) < 10:
        return False
    n = int.from_bytes(raw[:8], "little")
    return raw[8:9] == b"{" and 8 + n <= len(raw)


_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
           "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
           "BOOL": "?", "C64": "<c8", "C128": "<c16"}


def _array(name, info):
    """One entry of ``safetensors.deserialize``: its array (BF16 widened to float32)."""
    data = bytes(info["data"])
    if info["dtype"] == "BF16":
        wide = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return wide.view(np.float32).reshape(info["shape"])
    if info["dtype"] not in _DTYPES:
        raise CheckpointError(f"tensor {name!r} has dtype {info['dtype']}, which ember does "
                              "not read")
    return np.frombuffer(data, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])


def read(raw, place) -> dict:
    """``{name: Tensor}`` from the bytes of a safetensors file; tensors placed by
    ``place(array, "cpu")``."""
    lib = _library()
    try:
        try:
            arrays = lib.numpy.load(bytes(raw))
        except KeyError:  # a dtype the NumPy API has no type for (BF16)
            arrays = {name: _array(name, info) for name, info in lib.deserialize(bytes(raw))}
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - SafetensorError: a damaged header, a cut file
        raise CheckpointError(f"not a readable safetensors file ({e}): it is damaged or "
                              "truncated") from None
    return {name: Tensor._make(place(np.array(a, copy=True), "cpu")) for name, a in
            arrays.items()}


def to_bytes(obj) -> bytes:
    """The safetensors encoding of ``obj``, a flat ``{str: Tensor}`` dict (NumPy arrays are
    taken too). Nested dicts, non-string keys and other values are refused."""
    if not isinstance(obj, dict):
        raise TypeError(f"ember.save to a .safetensors file takes a flat dict of tensors "
                        f"{{name: Tensor}}, got {type(obj).__name__}")
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"ember.save to a .safetensors file: key {key!r} is not a string "
                            "(safetensors names tensors by strings)")
        if isinstance(value, Tensor):
            value = value.array
        if isinstance(value, dict):
            raise TypeError(f"ember.save to a .safetensors file: {key!r} is a nested dict; "
                            "safetensors holds one flat {name: tensor} dict (flatten the "
                            "names, e.g. 'model.fc.weight', or use an ember checkpoint)")
        if not (hasattr(value, "__array_interface__")
                or hasattr(value, "__cuda_array_interface__")):
            raise TypeError(f"ember.save to a .safetensors file: {key!r} is a "
                            f"{type(value).__name__}, not a tensor; safetensors holds "
                            "tensors only (use an ember checkpoint for other values)")
        array = np.asarray(backend.to_numpy(value), order="C")  # keeps 0-d arrays 0-d
        if array.dtype.hasobject or array.dtype.kind not in "biufc":
            raise TypeError(f"ember.save to a .safetensors file: {key!r} has dtype "
                            f"{array.dtype}, which safetensors cannot store")
        arrays[key] = array
    return _library().numpy.save(arrays)
