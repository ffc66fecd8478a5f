"""Bounded reads: a small file must not make ember allocate without limit.

Every loader (``ember.load``, ``ember.io.load_checkpoint``, ``Trainer.resume``, ``ember
predict``) compares what a file *declares* (ZIP members' uncompressed sizes, a ``.npy``
header's shape and dtype, an image's width and height) with the file's real size and with
one limit, ``ember.io.MAX_LOAD_BYTES``, before reading or decompressing anything.

The limit defaults to 4 GiB. Raise it for bigger files with the environment variable
``EMBER_MAX_LOAD_BYTES`` (read when ember is imported, e.g. ``EMBER_MAX_LOAD_BYTES=16e9``)
or at run time with ``ember.io.MAX_LOAD_BYTES = 16 * 2**30``.
"""
from __future__ import annotations

import io
import math
import os
import stat

import numpy as np

DEFAULT_MAX_LOAD_BYTES = 4 * 2**30


class CheckpointError(RuntimeError):
    """A file that is not a readable, intact ember checkpoint."""


class LoadLimitError(ValueError):
    """A file that declares more data than it holds, or more than ``MAX_LOAD_BYTES``."""


def default_limit() -> int:
    """``EMBER_MAX_LOAD_BYTES`` if set (an integer, ``16e9`` allowed), else 4 GiB."""
    raw = os.environ.get("EMBER_MAX_LOAD_BYTES")
    if not raw:
        return DEFAULT_MAX_LOAD_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"EMBER_MAX_LOAD_BYTES must be a number of bytes, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"EMBER_MAX_LOAD_BYTES must be positive, got {raw!r}")
    return value


MAX_LOAD_BYTES = default_limit()


def max_load_bytes() -> int:
    """The limit in force (``ember.io.MAX_LOAD_BYTES``, read at each load)."""
    return int(MAX_LOAD_BYTES)


def _size(n):
    """``4 GiB``, ``1.5 MiB (1,572,864 bytes)``, ``1000 bytes``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            text = f"{n / scale:.4g} {unit}"
            return text if n % scale == 0 else f"{text} ({n:,} bytes)"
    return f"{n} bytes"


def check_size(nbytes, what, at_least=False) -> None:
    """Raise :class:`LoadLimitError` if ``nbytes`` exceeds the limit (``at_least``: the
    reading stopped there, the real size may be larger)."""
    limit = max_load_bytes()
    if nbytes > limit:
        need = "" if at_least else f"needs {_size(nbytes)}, which "
        raise LoadLimitError(
            f"{what} {need}exceeds the load limit of {_size(limit)}; if the "
            "file is trusted, raise ember.io.MAX_LOAD_BYTES (or set the environment variable "
            "EMBER_MAX_LOAD_BYTES)")


def check_file(path) -> None:
    """The file at ``path`` is a regular file (opening a FIFO would block forever) that fits
    the limit (checked before it is read into memory)."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError("is not a regular file (a FIFO, socket or device); pass a file")
    check_size(info.st_size, "the file")


def check_zip(zf) -> None:
    """Refuse a ZIP archive whose members inflate past the limit (a "zip bomb"), before
    anything is decompressed."""
    total = 0
    for info in zf.infolist():
        check_size(info.file_size, f"member {info.filename!r} (declared uncompressed size)")
        total += info.file_size
    check_size(total, f"the archive's {len(zf.infolist())} members together (uncompressed)")


def npy_header(fp, what):
    """``(shape, dtype, data offset)`` of the ``.npy`` in the binary file ``fp``."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            if version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
            else:  # 3.0 (utf-8 field names) has no public reader
                shape, _, dtype = np.lib.format._read_array_header(fp, version)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except ValueError as e:
        raise LoadLimitError(f"{what} has no readable .npy header ({e})") from None
    return tuple(shape), dtype, fp.tell()


def check_npy(fp, size, what):
    """Check the ``.npy`` header read from ``fp`` (``size`` bytes in all) against the data
    really there and the limit; return ``(shape, dtype)``. ``fp`` is left where it was."""
    start = fp.tell()
    shape, dtype, offset = npy_header(fp, what)
    fp.seek(start)
    if dtype.hasobject:
        return shape, dtype  # refused by read_array(allow_pickle=False) with its own message
    need = math.prod(shape) * dtype.itemsize
    check_size(need, f"{what} (shape {shape}, {dtype})")
    have = size - (offset - start)
    if need > have:
        raise LoadLimitError(f"{what} declares shape {shape} of {dtype} ({need} bytes) but "
                             f"holds only {have} bytes of data: it is truncated or damaged")
    return shape, dtype


def read_npy_bytes(payload, what):
    """The array in the ``.npy`` bytes ``payload``, header checked first, never unpickled."""
    fp = io.BytesIO(payload)
    check_npy(fp, len(payload), what)
    return np.lib.format.read_array(fp, allow_pickle=False)


def read_npy_file(path):
    """``numpy.load(path, allow_pickle=False)`` for a ``.npy`` file, header checked first."""
    with open(path, "rb") as fh:
        check_npy(fh, os.path.getsize(path), f"'{path}'")
        return np.lib.format.read_array(fh, allow_pickle=False)


def check_image(path) -> None:
    """Refuse an image whose width x height would decode past the limit, reading only its
    header (Pillow opens lazily)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib depends on Pillow
        return
    try:
        with Image.open(path) as im:
            width, height = im.size
            bands = len(im.getbands())
    except Image.DecompressionBombError:
        width, height, bands = math.inf, math.inf, 4
    except OSError:
        return  # not an image Pillow knows; the decoder reports it
    # decoded as float32 (4 bytes) per band by matplotlib
    need = width * height * max(bands, 1) * 4
    if not math.isfinite(need):
        raise LoadLimitError(f"'{path}': the image's dimensions are too large to decode "
                             "(Pillow's decompression-bomb check)")
    check_size(need, f"'{path}' ({width} x {height} image, {bands} bands as float32)")
