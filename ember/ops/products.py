"""Products composed from matmul and einsum (gradients from theirs): addmm, baddbmm,
tensordot, kron, cdist."""
from __future__ import annotations

import string

from ember.ops.linalg import einsum, matmul
from ember.ops.reduction import norm


def _scaled_sum(input, product, beta, alpha):
    product = product if alpha == 1 else product * alpha
    return product if beta == 0 else product + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` for matrices (``input`` broadcasts; with
    beta=0 it is ignored, nan included)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: mat1 and mat2 must be matrices, got shapes "
                           f"{tuple(mat1.shape)} and {tuple(mat2.shape)}")
    return _scaled_sum(input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * (batch1 @ batch2)`` for batches of matrices (b, n, m)."""
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(f"baddbmm: batch1 and batch2 must be 3-D with one batch size, got "
                           f"shapes {tuple(batch1.shape)} and {tuple(batch2.shape)}")
    return _scaled_sum(input, matmul(batch1, batch2), beta, alpha)


def tensordot(a, b, dims=2):
    """Sum over the last ``dims`` dims of ``a`` and the first of ``b`` (or over the dims
    listed in ``dims = (dims_a, dims_b)``)."""
    if isinstance(dims, int):
        dims = (list(range(a.ndim - dims, a.ndim)), list(range(dims)))
    da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    if len(da) != len(db) or any(a.shape[i] != b.shape[j] for i, j in zip(da, db)):
        raise RuntimeError(f"tensordot: contracted dims {da} of {tuple(a.shape)} and {db} of "
                           f"{tuple(b.shape)} do not match")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [sa[da[db.index(j)]] if j in db else next(letters) for j in range(b.ndim)]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb)
                                                            if j not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def kron(input, other):
    """The Kronecker product: block (i, j, ...) is ``input[i, j, ...] * other``."""
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
    sa, sb = string.ascii_lowercase[:n], string.ascii_uppercase[:n]
    out = einsum(f"{sa},{sb}->" + "".join(x + y for x, y in zip(sa, sb)), a, b)
    return out.reshape(tuple(p * q for p, q in zip(a.shape, b.shape)))


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` (.., P, M) and of ``x2`` (.., R, M):
    shape (.., P, R)."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: x1 and x2 must be at least 2-D with the same number of "
                           f"columns, got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist: p value for the p-norm must be >= 0, got {p}")
    return norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, dim=-1)
