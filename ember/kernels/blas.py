"""``C = A @ B + beta * C`` on strided views: the GEMM that ``numpy.matmul`` cannot express.

NumPy's matmul always writes a fresh result (no ``beta``) and copies any operand whose rows
are not laid out as a plain matrix. Convolution by per-offset accumulation needs exactly
those two things: nine (or K) products added into one output, each reading a shifted window
of a flat padded input in place. So this module calls the ``?gemm`` of the BLAS that NumPy
itself loaded, through ctypes (which drops the GIL for the call).

Finding that library is best effort (NumPy's wheels bundle scipy-openblas with suffixed,
64-bit-integer symbols; system builds link a plain ``libblas``/``libopenblas``). Where none
is found :func:`available` is False and callers keep their pure-NumPy route. Set
``EMBER_DISABLE_BLAS=1`` to force that route.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

__all__ = ["available", "gemm"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# (symbol prefix, symbol suffix, integer type): NumPy >= 2 wheels, then ILP64, then LP64.
_FLAVOURS = (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64),
             ("cblas_", "", ctypes.c_int))


def _candidate_libraries():
    """Shared libraries that may hold NumPy's BLAS: its bundled ones first, then whatever
    BLAS this process has mapped (Linux)."""
    root = os.path.dirname(np.__file__)
    paths = []
    for pattern in ("../numpy.libs/*blas*", ".dylibs/*blas*", "../numpy.libs/*.so*"):
        paths += sorted(glob.glob(os.path.join(root, pattern)))
    try:
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if "/" in line}
        paths += sorted(p for p in mapped if "blas" in os.path.basename(p))
    except OSError:
        pass
    return list(dict.fromkeys(p for p in paths if os.path.isfile(p)))


def _load():
    """{dtype: gemm function} from the first library that has both ?gemm symbols."""
    if os.environ.get("EMBER_DISABLE_BLAS", "") not in ("", "0"):
        return {}
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, cint in _FLAVOURS:
            try:
                fns = {np.dtype(np.float32): getattr(lib, f"{prefix}sgemm{suffix}"),
                       np.dtype(np.float64): getattr(lib, f"{prefix}dgemm{suffix}")}
            except AttributeError:
                continue
            for dtype, fn in fns.items():
                real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, cint, cint, cint,
                               real, ctypes.c_void_p, cint, ctypes.c_void_p, cint, real,
                               ctypes.c_void_p, cint]
                fn.restype = None
            if _works(fns):
                return fns
    return {}


def _works(fns):
    """A library that answers a small product wrongly (a wrong integer width) is not used."""
    rng = np.random.default_rng(0)
    for dtype, fn in fns.items():
        a, b = rng.standard_normal((3, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
        c = np.ones((3, 4), dtype)
        _call(fn, a, b, c, 1.0)
        if not np.allclose(c, a @ b + 1.0):
            return False
    return True


def _operand(m):
    """(transpose flag, leading dimension, array) for a matrix BLAS can read in place (one
    unit stride, the other a multiple no smaller than the row), else a contiguous copy."""
    item = m.itemsize
    rows, cols = m.shape
    s0, s1 = m.strides
    if (s1 == item or cols == 1) and s0 % item == 0 and s0 // item >= max(cols, 1):
        return _NO_TRANS, s0 // item, m
    if (s0 == item or rows == 1) and s1 % item == 0 and s1 // item >= max(rows, 1):
        return _TRANS, s1 // item, m
    return _NO_TRANS, cols, np.ascontiguousarray(m)


def _call(fn, a, b, c, beta):
    ta, lda, a = _operand(a)
    tb, ldb, b = _operand(b)
    (m, k), n = a.shape, b.shape[1]
    fn(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
       c.ctypes.data, c.strides[0] // c.itemsize)


_FNS = _load()


def available(dtype) -> bool:
    """Whether :func:`gemm` runs for arrays of ``dtype`` (float32 and float64, when NumPy's
    BLAS was found)."""
    return np.dtype(dtype) in _FNS


def gemm(a, b, out, beta=0.0):
    """``out[...] = a @ b + beta * out`` for 2-D NumPy arrays of one dtype, in place.

    ``a`` and ``b`` may be any views with one unit stride (transposes, column windows of a
    wider array); ``out`` needs unit column stride. Not thread-compatible with other users of
    the same ``out``, like any in-place write."""
    if a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"gemm: shapes {a.shape} @ {b.shape} -> {out.shape} do not fit")
    if not a.dtype == b.dtype == out.dtype or not available(out.dtype):
        raise TypeError(f"gemm: needs one float32/float64 dtype with NumPy's BLAS found, got "
                        f"{a.dtype}, {b.dtype}, {out.dtype}")
    if 0 in out.shape:
        return out
    if out.strides[1] != out.itemsize and out.shape[1] > 1 \
            or out.strides[0] < out.shape[1] * out.itemsize:
        raise ValueError("gemm: out must have contiguous rows")
    if a.shape[1] == 0:
        out *= beta
        return out
    _call(_FNS[out.dtype], a, b, out, beta)
    return out
