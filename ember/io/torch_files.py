"""PyTorch's files (``torch.save``) read without PyTorch and without running pickle code.

``torch.save`` (PyTorch >= 1.6) writes a ZIP archive: ``<name>/data.pkl`` (the object, a
pickle whose tensors refer to storages by persistent id), ``<name>/data/<key>`` (each
storage's raw bytes), ``<name>/byteorder`` and version records. ``ember.load`` hands such an
archive to :func:`read`, which interprets ``data.pkl`` with :mod:`ember.io.unpickle` and an
allow-list of exactly what a weights file holds:

- ``collections.OrderedDict`` (state_dicts; their ``_metadata`` is kept as an attribute);
- ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_tensor_v3`` (and the first
  ``_rebuild_tensor`` of old files; a tensor: a view of a storage with an offset, a shape and
  strides) and ``torch._utils._rebuild_parameter``;
- the storage types (``torch.FloatStorage``, ... , ``torch.storage.UntypedStorage``) and
  the dtypes (``torch.float32``, ...) that name a storage's element type.

Everything else (``builtins.eval``, ``os.system``, a pickled ``nn.Module`` class, NumPy
scalars) raises :class:`~ember.io.unpickle.UnsafeFileError` naming the file and the global,
and nothing in the file runs. Tensors come back as ember Tensors (``Parameter`` where the
file has one) with their dtype, shape and strides; tensors that share a storage in the file
share memory (they are NumPy views of one buffer). ``bfloat16``, which NumPy lacks, is
widened to ``float32`` (exactly); quantized storages are refused. PyTorch's legacy format
(before 1.6, or ``_use_new_zipfile_serialization=False``: a stream of pickles followed by the
storages) is read by :func:`read_legacy` with the same allow-list.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ember.io import limits
from ember.io.limits import CheckpointError
from ember.io.unpickle import unpickle
from ember.tensor import Tensor

__all__ = ["is_legacy", "read", "read_legacy"]

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_MAGIC = LEGACY_MAGIC_NUMBER.to_bytes(10, "little")
LEGACY_PROTOCOL = 1001
LEGACY_MESSAGE = (
    "this PyTorch file in the legacy format (torch.save before PyTorch 1.6, or "
    "_use_new_zipfile_serialization=False) is not one ember reads ({}). Re-save it with the "
    "default format of PyTorch >= 1.6: torch.save(torch.load(path, weights_only=True), "
    "new_path), then ember.load(new_path)")
_HINT = ("ember reads tensors, state_dicts and plain Python values (numbers, strings, "
         "lists, tuples, dicts) from PyTorch files. If the file pickles a whole model or "
         "other objects and you trust it, re-save what you need in PyTorch: "
         "torch.save(model.state_dict(), path)")

_STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64"}
_UNSUPPORTED_STORAGES = ("QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage",
                         "QUInt2x4Storage", "ComplexHalfStorage")
_TORCH_DTYPES = {
    "float64": "float64", "double": "float64", "float32": "float32", "float": "float32",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64",
    "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
    "uint64": "uint64", "bool": "bool", "complex128": "complex128", "cdouble": "complex128",
    "complex64": "complex64", "cfloat": "complex64"}


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. in a persistent id (never called)."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


class _DType:
    """Stands for ``torch.float32`` & co. (``_rebuild_tensor_v3``'s dtype argument)."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype


class _Storage:
    """One storage of the archive: its key, saved location, element type and size."""

    def __init__(self, key, location, dtype, numel):
        self.key, self.location, self.dtype, self.numel = key, location, dtype, numel


def _itemsize(dtype):
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


class _ZipStorages:
    """The storages of a ZIP archive: members ``<prefix>data/<key>``."""

    def __init__(self, zf, prefix):
        self.zf, self.prefix = zf, prefix
        self.big_endian = False
        order = prefix + "byteorder"
        if order in zf.namelist():
            value = self.member(order).strip()
            if value not in (b"little", b"big"):
                raise CheckpointError(f"its byteorder record is {value[:16]!r}, not little/big")
            self.big_endian = value == b"big"

    def member(self, name):
        try:
            return self.zf.read(name)
        except KeyError:
            raise CheckpointError(f"member {name!r} is missing: the file is incomplete or was "
                                  "altered") from None
        except Exception as e:  # noqa: BLE001 - a bad CRC-32, any damaged zip field
            raise CheckpointError(f"member {name!r} is corrupt ({e}): the file was altered "
                                  "or cut short") from None

    def size(self, key):
        name = f"{self.prefix}data/{key}"
        try:
            return self.zf.getinfo(name).file_size
        except KeyError:
            raise CheckpointError(f"member {name!r} is missing: the file is incomplete or was "
                                  "altered") from None

    def read(self, key):
        return self.member(f"{self.prefix}data/{key}")


class _StreamStorages:
    """The storages of a legacy file: ``{key: bytes}`` cut from the stream after the pickles
    (always little-endian there)."""

    big_endian = False

    def __init__(self, blobs):
        self.blobs = blobs

    def size(self, key):
        if key not in self.blobs:
            raise CheckpointError(f"storage {key!r} is not in the file's list of storages")
        return len(self.blobs[key])

    def read(self, key):
        return self.blobs[key]


class _Archive:
    """The allowed constructors of one file, building tensors on its storages; with
    ``source=None`` a dry run that only records each storage's type and size (the legacy
    format lists its storages after the pickle that uses them)."""

    def __init__(self, source, place):
        self.source, self.place = source, place
        self.storages = {}   # key -> _Storage (one object per key)
        self.arrays = {}     # (key, dtype) -> the storage's elements as one 1-D array

    # --- persistent ids: ('storage', storage_type, key, location, numel) -------------------

    def persistent_load(self, pid):
        # the legacy format adds a sixth item, view_metadata (None but for pre-0.4 views)
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and type(pid[4]) is int and pid[4] >= 0
                and (len(pid) == 5 or pid[5] is None)):
            raise CheckpointError(f"the pickle refers to external data {_short(pid)} that "
                                  "is not a tensor storage")
        _, kind, key, location, numel = pid[:5]
        if kind.dtype is None:
            raise CheckpointError(f"it holds a {kind.name} (quantized or complex32 tensors), "
                                  "which ember does not support")
        if key in self.storages:
            return self.storages[key]
        if "/" in key or key in ("", ".", ".."):
            raise CheckpointError(f"storage key {key!r} is not a plain name")
        dtype = kind.dtype  # "uint8" bytes for UntypedStorage: the tensor gives the type
        need = numel * _itemsize(dtype)
        have = need if self.source is None else self.source.size(key)
        if have < need:
            raise CheckpointError(f"storage {key!r} declares {numel} elements of {dtype} "
                                  f"({need} bytes) but holds {have} bytes: the file "
                                  "is truncated or damaged")
        self.storages[key] = _Storage(key, location, dtype, numel)
        return self.storages[key]

    def elements(self, storage, dtype):
        """The storage's bytes as a 1-D array of ``dtype`` (native byte order; bfloat16
        widened to float32), made once per storage and type so views share it."""
        cache = (storage.key, dtype)
        if cache not in self.arrays:
            nbytes = storage.numel * _itemsize(storage.dtype)
            raw = bytearray(self.source.read(storage.key)[:nbytes])
            order = ">" if self.source.big_endian else "<"
            src = np.dtype("uint16" if dtype == "bfloat16" else dtype).newbyteorder(order)
            usable = len(raw) // src.itemsize * src.itemsize
            flat = np.frombuffer(raw, dtype=src, count=usable // src.itemsize)
            if dtype == "bfloat16":
                flat = (flat.astype(np.uint32) << 16).view(np.float32)
            elif src.byteorder not in ("=", "|") and src != src.newbyteorder("="):
                flat = flat.astype(src.newbyteorder("="))
            self.arrays[cache] = flat
        return self.arrays[cache]

    # --- the allowed constructors ------------------------------------------------------------

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad, hooks,
                       metadata=None, dtype=None):
        if not isinstance(storage, _Storage):
            raise CheckpointError("a tensor's storage is not a storage of the file")
        _check_plain(hooks, "backward hooks")
        _check_plain(metadata, "metadata (conjugate/negative bits)")
        size, stride = _ints(size, "size"), _ints(stride, "stride")
        if type(offset) is not int or offset < 0 or len(size) != len(stride):
            raise CheckpointError(f"a tensor has a bad layout (offset {_short(offset)}, size "
                                  f"{_short(size)}, stride {_short(stride)})")
        dtype = storage.dtype if dtype is None else dtype
        nominal = math.prod(size)
        limits.check_size(nominal * (4 if dtype == "bfloat16" else _itemsize(dtype)),
                          f"a tensor of shape {tuple(size)}")
        if self.source is None:
            return None  # a dry run
        flat = self.elements(storage, dtype)
        if nominal == 0:  # no element is read: any offset and strides are harmless
            array = np.lib.stride_tricks.as_strided(
                flat[:0], shape=size, strides=[s * flat.itemsize for s in stride])
        else:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= len(flat):
                raise CheckpointError(
                    f"a tensor of shape {tuple(size)} (offset {offset}, stride "
                    f"{tuple(stride)}) reaches element {last} of a storage of {len(flat)}: "
                    "the file is damaged")
            array = np.lib.stride_tricks.as_strided(
                flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride])
        return Tensor._make(self.place(array, storage.location),
                            requires_grad=bool(requires_grad))

    def rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad, hooks,
                          metadata=None):
        return self.rebuild_tensor(storage, offset, size, stride, requires_grad, hooks,
                                   metadata)

    def rebuild_tensor_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype,
                          metadata=None):
        if not isinstance(dtype, _DType):
            raise CheckpointError("_rebuild_tensor_v3's dtype is not a torch dtype")
        if not isinstance(storage, _Storage) or storage.dtype not in ("uint8", dtype.dtype):
            raise CheckpointError(f"a tensor of {dtype.dtype} is built on a storage that is "
                                  "not untyped bytes")
        return self.rebuild_tensor(storage, offset, size, stride, requires_grad, hooks,
                                   metadata, dtype=dtype.dtype)

    def rebuild_parameter(self, data, requires_grad, hooks):
        from ember.nn.parameter import Parameter
        if self.source is None:
            return None  # a dry run
        if not isinstance(data, Tensor):
            raise CheckpointError("a Parameter's data is not a tensor")
        _check_plain(hooks, "backward hooks")
        return Parameter(data.array, requires_grad=bool(requires_grad))

    def allowed(self):
        def ordered_dict(*args):
            if args and not (len(args) == 1 and isinstance(args[0], (list, tuple))):
                raise CheckpointError("OrderedDict takes at most a list of pairs")
            return OrderedDict(*args)

        def rebuild_tensor(storage, offset, size, stride):  # PyTorch < 1.0's files
            return self.rebuild_tensor(storage, offset, size, stride, False, None)

        def rebuild_tensor_v2(*args):
            return self.rebuild_tensor_v2(*args)

        def rebuild_tensor_v3(*args):
            return self.rebuild_tensor_v3(*args)

        def rebuild_parameter(*args):
            return self.rebuild_parameter(*args)

        table = {("collections", "OrderedDict"): ordered_dict,
                 ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
                 ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
                 ("torch._utils", "_rebuild_tensor_v3"): rebuild_tensor_v3,
                 ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
                 ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage", "uint8"),
                 ("torch", "UntypedStorage"): _StorageType("UntypedStorage", "uint8")}
        for name, dtype in _STORAGE_DTYPES.items():
            table[("torch", name)] = _StorageType(name, dtype)
        for name in _UNSUPPORTED_STORAGES:
            table[("torch", name)] = _StorageType(name, None)
        for name, dtype in _TORCH_DTYPES.items():
            table[("torch", name)] = _DType(name, dtype)
        return table


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(
            type(v) is int and v >= 0 for v in value):
        raise CheckpointError(f"a tensor's {what} {_short(value)} is not a tuple of "
                              "non-negative integers")
    return list(value)


def _check_plain(value, what):
    if value is not None and not (isinstance(value, dict) and not value):
        raise CheckpointError(f"a tensor carries {what} ({_short(value)}), which ember does "
                              "not restore")


def is_legacy(raw) -> bool:
    """Whether ``raw`` starts like PyTorch's legacy (non-ZIP) format: a pickle of its magic
    number (in any protocol; nothing but plain data is read to tell)."""
    if raw[:1] != b"\x80":
        return False
    if raw[1:2] == b"\x02":
        return raw[2:4] == b"\x8a\x0a" and raw[4:14] == LEGACY_MAGIC
    try:
        magic, _ = unpickle(raw[:64], {}, what="", return_end=True)
    except CheckpointError:
        return False
    return magic == LEGACY_MAGIC_NUMBER


def data_pickle(names):
    """The name of the archive's ``<name>/data.pkl`` record, or None."""
    for name in names:
        parts = name.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl" and parts[0]:
            return name
    return None


def read(zf, names, place, what="the file's data.pkl"):
    """The object a ``torch.save`` ZIP archive ``zf`` holds, tensors placed by
    ``place(array, saved_location)``."""
    pkl = data_pickle(names)
    if pkl is None:
        raise CheckpointError("a ZIP archive with a data.pkl that is not at <name>/data.pkl, "
                              "as torch.save writes it")
    source = _ZipStorages(zf, pkl[:-len("data.pkl")])
    archive = _Archive(source, place)
    data = source.member(pkl)
    return unpickle(data, archive.allowed(), what=what, hint=_HINT,
                    persistent_load=archive.persistent_load)


def read_legacy(raw, place, what="the file"):
    """The object in PyTorch's legacy (non-ZIP) format: pickles of the magic number, the
    protocol version (1001) and system information, the object (storages by persistent id),
    the sorted list of storage keys; then each storage as an 8-byte little-endian element
    count and its little-endian bytes. The object's pickle runs twice through the same
    allow-list: a dry run learns each storage's type and size (listed only after it), the
    second builds the tensors."""
    def fail(reason):
        raise CheckpointError(LEGACY_MESSAGE.format(reason))

    def plain(pos):
        return unpickle(raw, {}, what=what, hint=_HINT, start=pos, return_end=True)

    magic, pos = plain(0)
    protocol, pos = plain(pos)
    if magic != LEGACY_MAGIC_NUMBER or protocol != LEGACY_PROTOCOL:
        fail(f"protocol {_short(protocol)}")
    info, main = plain(pos)
    if not isinstance(info, dict):
        fail("its system information is not a dict")
    dry = _Archive(None, place)
    _, pos = unpickle(raw, dry.allowed(), what=what, hint=_HINT, start=main, return_end=True,
                      persistent_load=dry.persistent_load)
    keys, pos = plain(pos)
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)
            and set(keys) == set(dry.storages) and len(keys) == len(dry.storages)):
        raise CheckpointError("its list of storages does not match the storages its tensors "
                              "use: the file is damaged")
    blobs = {}
    for key in keys:
        storage = dry.storages[key]
        if pos + 8 > len(raw):
            raise CheckpointError(f"storage {key!r} is cut off: the file is truncated")
        count = int.from_bytes(raw[pos:pos + 8], "little", signed=True)
        nbytes = storage.numel * _itemsize(storage.dtype)
        if count != storage.numel:
            raise CheckpointError(f"storage {key!r} holds {count} elements, its tensors "
                                  f"declare {storage.numel}: the file is damaged")
        if pos + 8 + nbytes > len(raw):
            raise CheckpointError(f"storage {key!r} needs {nbytes} bytes, "
                                  f"{len(raw) - pos - 8} are left: the file is truncated")
        blobs[key] = raw[pos + 8:pos + 8 + nbytes]
        pos += 8 + nbytes
    archive = _Archive(_StreamStorages(blobs), place)
    return unpickle(raw, archive.allowed(), what=what, hint=_HINT, start=main,
                    persistent_load=archive.persistent_load)
