"""``ember.linalg``: PyTorch's ``torch.linalg`` basics, with gradients.

Norms (``norm``, ``vector_norm``, ``matrix_norm``), ``inv``, ``det``, ``slogdet``, ``solve``,
``cholesky``, ``eigh`` / ``eigvalsh``, ``svd`` / ``svdvals`` and ``qr``, with torch.linalg's
names, signatures, leading batch dimensions and errors (``LinAlgError`` is a RuntimeError, as
``torch.linalg.LinAlgError``). The decompositions run on ``xp.linalg`` (NumPy or CuPy) in
float32 or float64; their gradients are PyTorch's formulas (``ember/linalg/functions.py``);
the norms are compositions of ops. Like PyTorch, ``Tensor.det`` and ``Tensor.inverse`` are
methods (bound here, since the core does not import this module).
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from ember import ops
from ember.linalg.functions import Cholesky, Det, Eigh, Inv, LinAlgError, Qr, Slogdet, Solve, Svd
from ember.ops.linalg import matmul
from ember.ops.reduction import Norm
from ember.tensor import Tensor

__all__ = ["LinAlgError", "cholesky", "det", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "norm", "qr", "slogdet", "solve", "svd", "svdvals", "vector_norm"]

# the named tuples torch.return_types gives
linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])

_TORCH_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
                "uint8": "Byte", "bool": "Bool", "float16": "Half", "float32": "Float",
                "float64": "Double"}


def _torch_name(dtype):
    return _TORCH_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _check_float(name, a, low_precision=False):
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}(): argument 'A' must be a Tensor, not {type(a).__name__}")
    if a.dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. "
                           f"Got {_torch_name(a.dtype)}")
    if not low_precision and a.dtype.itemsize < 4:
        raise RuntimeError(f"{name}: Low precision dtypes not supported. "
                           f"Got {_torch_name(a.dtype)}")


def _check_matrix(name, a, square=True):
    _check_float(name, a)
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if square and a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")


def inv(A):
    """The inverse of a square matrix (or of each in a batch); LinAlgError if singular."""
    _check_matrix("linalg.inv", A)
    return Inv.apply(A)


def det(A):
    """The determinant of a square matrix (or of each in a batch)."""
    _check_matrix("linalg.det", A)
    return Det.apply(A)


def slogdet(A):
    """``(sign, logabsdet)``: the sign of the determinant and the log of its absolute value;
    only ``logabsdet`` has a gradient."""
    _check_matrix("linalg.slogdet", A)
    return linalg_slogdet(*Slogdet.apply(A))


def solve(A, B, left=True):
    """X with ``A X = B`` (``X A = B`` when ``left=False``). B is a batch of vectors when it
    is 1-D or has A's shape without the last dim; batch dims broadcast."""
    _check_matrix("linalg.solve", A)
    if isinstance(B, Tensor) and B.dtype != A.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {_torch_name(A.dtype)} and B of type "
                           f"{_torch_name(B.dtype)} instead")
    _check_float("linalg.solve", B)
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    n = A.shape[-1]
    if vector and left:
        B = ops.unsqueeze(B, -1)
    elif vector:  # torch reads B as an (n, 1) matrix here, which cannot solve X A = B
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"XA = B ({n}x{n} and {B.shape[-1]}x1)")
    rows = B.shape[-2] if left else B.shape[-1]
    if B.ndim < 2 or rows != n:
        b_shape = "x".join(str(s) for s in B.shape[-2:])
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {b_shape})")
    if left:
        X = Solve.apply(A, B)
        return ops.squeeze(X, -1) if vector else X
    return ops.swapaxes(Solve.apply(ops.swapaxes(A, -1, -2), ops.swapaxes(B, -1, -2)), -1, -2)


def cholesky(A, upper=False):
    """L, lower triangular with ``L L^T = A`` for a symmetric positive-definite A (only its
    lower triangle is read); ``upper=True`` returns ``L^T``. LinAlgError if not positive
    definite."""
    _check_matrix("linalg.cholesky", A)
    return Cholesky.apply(A, upper=bool(upper))


def eigh(A, UPLO="L"):
    """``(eigenvalues, eigenvectors)`` of a symmetric matrix, eigenvalues ascending, reading
    the lower (``UPLO="L"``) or upper triangle. Eigenvectors are defined up to sign: losses
    that depend on the sign have no meaningful gradient."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    _check_matrix("linalg.eigh", A)
    return linalg_eigh(*Eigh.apply(A, uplo=UPLO))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of a symmetric matrix, ascending."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    _check_matrix("linalg.eigvalsh", A)
    return Eigh.apply(A, uplo=UPLO)[0]


def svd(A, full_matrices=True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, S descending. Singular vectors are defined up
    to sign; gradients assume distinct singular values, as PyTorch's."""
    _check_matrix("linalg.svd", A, square=False)
    return linalg_svd(*Svd.apply(A, full_matrices=bool(full_matrices), outputs="usv"))


def svdvals(A):
    """The singular values of A, descending."""
    _check_matrix("linalg.svdvals", A, square=False)
    return Svd.apply(A, full_matrices=False, outputs="s")


def qr(A, mode="reduced"):
    """``(Q, R)`` with ``A = Q R``; mode ``"reduced"`` (Q is m x k, k = min(m, n)),
    ``"complete"`` (Q is m x m) or ``"r"`` (Q is empty, no gradient)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           "'reduced' (default), 'r', or 'complete'")
    _check_matrix("linalg.qr", A, square=False)
    return linalg_qr(*Qr.apply(A, mode=mode))


# --- norms -----------------------------------------------------------------------------------
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The ord-norm of x over ``dim`` (all dims, flattened, by default): ``sum(|x|^ord)^(1/ord)``
    for any real ord, inf / -inf the largest / smallest magnitude, 0 the count of non-zeros."""
    if not isinstance(ord, (int, float)) or isinstance(ord, bool):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    _check_float("linalg.vector_norm", x, low_precision=True)
    if dtype is not None:
        x = x.to(dtype)
    dims = None if dim is None or (not isinstance(dim, int) and len(dim) == 0) else dim
    return Norm.apply(x, p=float(ord), axes=_axes(dims, x.ndim), keepdim=keepdim)


def _axes(dim, ndim):
    """``dim`` (None, an int or a sequence) as sorted non-negative axes; None: all."""
    if dim is None or ndim == 0:
        return tuple(range(ndim))
    out = set()
    for d in ((dim,) if isinstance(dim, int) else dim):
        if not -ndim <= d < ndim:
            raise IndexError(f"linalg.vector_norm: dimension out of range (expected to be in "
                             f"range of [{-ndim}, {ndim - 1}], but got {d})")
        out.add(d % ndim)
    return tuple(sorted(out))


_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """A matrix norm over the two dims ``dim``: "fro" (Frobenius), "nuc" (the sum of singular
    values), inf / -inf (max / min absolute row sum), 1 / -1 (max / min absolute column sum),
    2 / -2 (the largest / smallest singular value)."""
    _check_float("linalg.matrix_norm", A, low_precision=True)
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if isinstance(dim, int) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got "
                           f"{dim if isinstance(dim, int) else ' '.join(map(str, dim))}")
    d0, d1 = (d % A.ndim if -A.ndim <= d < A.ndim else d for d in dim)
    if not (0 <= d0 < A.ndim and 0 <= d1 < A.ndim):
        raise IndexError(f"linalg.matrix_norm: dimension out of range (expected to be in range "
                         f"of [{-A.ndim}, {A.ndim - 1}], but got {dim})")
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        _check_float("linalg.matrix_norm", A)  # through the SVD: float32 / float64 only
        rest = [d for d in range(A.ndim) if d not in (d0, d1)]
        s = svdvals(ops.permute(A, *rest, d0, d1))
        y = ops.sum(s, -1) if ord == "nuc" else ops.amax(s, -1) if ord == 2 else \
            ops.amin(s, -1)
        if keepdim:
            for d in sorted((d0, d1)):
                y = ops.unsqueeze(y, d)
        return y
    # inf: the largest absolute row sum (sum along dim[1], then max along dim[0]); 1: columns
    summed, picked = (d1, d0) if abs(ord) == math.inf else (d0, d1)
    rows = ops.sum(ops.abs(A), summed, keepdim=True)
    y = ops.amax(rows, picked, keepdim=True) if ord > 0 else ops.amin(rows, picked, keepdim=True)
    return y if keepdim else ops.squeeze(ops.squeeze(y, max(d0, d1)), min(d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """A vector or matrix norm: with ``dim`` an int (or 1-tuple) a vector norm, a 2-tuple a
    matrix norm; without ``dim``, ``ord`` decides by A's dimension (1-D: vector, 2-D: matrix)
    and no ``ord`` means the 2-norm of A flattened."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1 and not isinstance(ord, str):  # a str ord names a matrix norm
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) in (1, 2):
            return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                           f"Got {list(dims)}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must "
                           f"be 1D or 2D. Got {A.ndim}D.")
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)


# torch.Tensor.det and torch.Tensor.inverse (the core does not import this module)
Tensor.det = det
Tensor.inverse = inv
