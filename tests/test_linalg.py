"""ember.linalg against torch.linalg: values and gradients (float64, batched, well-conditioned
random inputs), finite-difference gradchecks, and the error paths. Losses over eigenvectors and
singular vectors are sign-gauge invariant (projections V diag(w) V^T and |V|), as in PyTorch's
own tests, since each vector is only defined up to sign."""
import math

import numpy as np
import pytest

import ember
from tests._parity import EMBER, check_grad, check_op, import_torch

torch = import_torch()
INF = math.inf


def both(fn, inputs, **kw):
    """check_op of ``fn(m, *xs)`` with m = ember and m = torch."""
    check_op(lambda *xs: fn(EMBER, *xs), lambda *xs: fn(torch, *xs), inputs=inputs, **kw)


def general(*shape, seed=0):
    """Random square matrices, well conditioned (a multiple of I added)."""
    a = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return a + shape[-1] * np.eye(shape[-1])


def spd(*shape, seed=0):
    """Random symmetric positive-definite matrices."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return x @ x.swapaxes(-1, -2) + shape[-1] * np.eye(shape[-1])


def sym(*shape, seed=0):
    """Random symmetric matrices with well separated eigenvalues."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return x + x.swapaxes(-1, -2) + np.diag(np.arange(shape[-1]) * 3.0)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape)


def proj(m, V, rows=False):
    """A sign-gauge invariant function of the columns (rows) of V: sum_i w_i v_i v_i^T."""
    k = V.shape[-2] if rows else V.shape[-1]
    w = m.arange(1, k + 1, dtype=V.dtype)
    return (V.mT * w) @ V if rows else (V * w) @ V.mT


# --- norms -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ord", [2, 1, 3, 0.5, -1, INF, -INF, 0])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_vector_norm(ord, dim, keepdim):
    both(lambda m, x: m.linalg.vector_norm(x, ord, dim, keepdim), [rand(2, 3, 4)])


def test_vector_norm_dtype_and_empty_dim():
    both(lambda m, x: m.linalg.vector_norm(x, dim=()), [rand(2, 3)])
    both(lambda m, x: m.linalg.vector_norm(x, dtype=m.float64), [rand(2, 3).astype(np.float32)],
         dtype=np.float32)
    both(lambda m, x: m.linalg.vector_norm(x, 4), [rand(5).astype(np.float32)],
         dtype=np.float32)


@pytest.mark.parametrize("ord", ["fro", "nuc", INF, -INF, 1, -1, 2, -2])
@pytest.mark.parametrize("dim, keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False),
                                          ((-1, 1), True)])
def test_matrix_norm(ord, dim, keepdim):
    both(lambda m, x: m.linalg.matrix_norm(x, ord, dim, keepdim), [rand(2, 3, 4)])


@pytest.mark.parametrize("shape, ord, dim", [
    ((2, 3, 4), None, None), ((5,), 3, None), ((5,), None, None), ((3, 4), "nuc", None),
    ((3, 4), INF, None), ((3, 4), -1, None), ((2, 3, 4), 1, 1), ((2, 3, 4), None, (0, 1)),
    ((2, 3, 4), -2, (2, 1)), ((2, 3, 4), 0.5, (1,))])
def test_norm(shape, ord, dim):
    both(lambda m, x: m.linalg.norm(x, ord, dim), [rand(*shape)])
    both(lambda m, x: m.linalg.norm(x, ord, dim, keepdim=True), [rand(*shape)])


@pytest.mark.parametrize("fn", [
    lambda x: ember.linalg.vector_norm(x, 3, 1), lambda x: ember.linalg.matrix_norm(x, "nuc"),
    lambda x: ember.linalg.matrix_norm(x, -2), lambda x: ember.linalg.norm(x, INF, (0, 2))])
def test_norm_gradcheck(fn):
    check_grad(fn, inputs=[rand(2, 3, 4)])


def test_norm_errors():
    x, i = ember.ones(3, 3), ember.ones(3, dtype=ember.int64)
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: Expected a floating point.*Long"):
        ember.linalg.vector_norm(i)
    with pytest.raises(TypeError, match="argument 'ord' must be Number, not str"):
        ember.linalg.vector_norm(x, "fro")
    with pytest.raises(RuntimeError, match="matrix_norm: The input tensor A must have at least 2"):
        ember.linalg.matrix_norm(ember.ones(3))
    with pytest.raises(RuntimeError, match="matrix_norm: Order 3 not supported"):
        ember.linalg.matrix_norm(x, 3)
    with pytest.raises(RuntimeError, match="matrix_norm: dim must be a 2-tuple"):
        ember.linalg.matrix_norm(x, dim=(0,))
    with pytest.raises(RuntimeError, match="matrix_norm: dims must be different"):
        ember.linalg.matrix_norm(x, dim=(0, -2))
    with pytest.raises(RuntimeError, match=r"norm: If dim is not specified but ord is.*Got 3D"):
        ember.linalg.norm(ember.ones(2, 3, 4), 2)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: dim must be a 2-tuple. Got 0"):
        ember.linalg.norm(x, "fro", 0)
    with pytest.raises(RuntimeError, match=r"norm: If dim is specified.*Got \[0, 1, 2\]"):
        ember.linalg.norm(ember.ones(2, 3, 4), dim=(0, 1, 2))


# --- inverse, determinants, solve ------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3), (2, 1, 2, 2)])
def test_inv_det_slogdet(shape):
    both(lambda m, a: m.linalg.inv(a), [general(*shape)])
    both(lambda m, a: m.linalg.det(a), [general(*shape)])
    both(lambda m, a: tuple(m.linalg.slogdet(a)), [general(*shape) - 2 * np.eye(shape[-1])])
    both(lambda m, a: (a.det(), a.inverse()), [general(*shape)])


def test_det_of_a_singular_matrix_has_the_cofactor_gradient():
    """At an exactly singular A torch 2.13 returns a zero gradient (it scales by det(A) = 0);
    ember returns the cofactor matrix, the true derivative, which finite differences confirm."""
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])
    both(lambda m, a: m.linalg.det(a), [a], grad=False)
    check_grad(ember.linalg.det, inputs=[a])
    x = ember.tensor(a, requires_grad=True)
    ember.linalg.det(x).backward()
    assert abs(x.grad[0, 0].item() - 14.0) < 1e-10  # det([[4, 6], [-1, 2]])


def test_slogdet_returns_named_fields():
    out = ember.linalg.slogdet(ember.tensor(general(3, 3)))
    assert out._fields == ("sign", "logabsdet") and out.sign.item() in (1.0, -1.0)


@pytest.mark.parametrize("a_shape, b_shape, left", [
    ((3, 3), (3, 2), True), ((3, 3), (3,), True), ((2, 3, 3), (2, 3), True),
    ((2, 3, 3), (3,), True), ((2, 1, 3, 3), (4, 3, 2), True), ((3, 3), (2, 4, 3), False),
    ((2, 3, 3), (5, 3), False)])
def test_solve(a_shape, b_shape, left):
    both(lambda m, a, b: m.linalg.solve(a, b, left=left), [general(*a_shape), rand(*b_shape)])


@pytest.mark.parametrize("fn, inputs", [
    (lambda a: ember.linalg.inv(a), [general(2, 3, 3)]),
    (lambda a: ember.linalg.det(a), [general(2, 3, 3)]),
    (lambda a: ember.linalg.slogdet(a).logabsdet, [general(3, 3)]),
    (lambda a, b: ember.linalg.solve(a, b), [general(2, 3, 3), rand(3, 2)]),
    (lambda a, b: ember.linalg.solve(a, b, left=False), [general(3, 3), rand(2, 3)])])
def test_gradcheck(fn, inputs):
    check_grad(fn, inputs=inputs)


def test_inverse_errors():
    with pytest.raises(RuntimeError, match="linalg.inv: A must be batches of square matrices, "
                                           "but they are 2 by 3 matrices"):
        ember.linalg.inv(ember.ones(2, 3))
    with pytest.raises(RuntimeError, match="linalg.det: The input tensor A must have at least 2"):
        ember.linalg.det(ember.ones(3))
    with pytest.raises(RuntimeError, match="linalg.slogdet: Expected a floating point.*Long"):
        ember.linalg.slogdet(ember.ones(3, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="linalg.inv: Low precision dtypes not supported"):
        ember.linalg.inv(ember.ones(3, 3, dtype=ember.float16))
    with pytest.raises(ember.linalg.LinAlgError, match=r"linalg.inv: .*\(3, 3\) is singular"):
        ember.linalg.inv(ember.zeros(3, 3))
    assert issubclass(ember.linalg.LinAlgError, RuntimeError)
    with pytest.raises(TypeError, match="argument 'A' must be a Tensor"):
        ember.linalg.inv(np.eye(3))


def test_solve_errors():
    a = ember.tensor(general(3, 3))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B for the equation "
                                           r"AX = B \(3x3 and 4x2\)"):
        ember.linalg.solve(a, ember.ones(4, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match=r"equation XA = B \(3x3 and 3x1\)"):
        ember.linalg.solve(a, ember.ones(3, dtype=ember.float64), left=False)
    with pytest.raises(ember.linalg.LinAlgError, match="solve: .* singular"):
        ember.linalg.solve(ember.zeros(3, 3, dtype=ember.float64),
                           ember.ones(3, 2, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="solve: Expected A and B to have the same dtype"):
        ember.linalg.solve(a, ember.ones(3, 2))
    with pytest.raises(RuntimeError, match="found A of type Double and B of type Long"):
        ember.linalg.solve(a, ember.ones(3, dtype=ember.int64))


# --- factorizations --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, upper):
    both(lambda m, a: m.linalg.cholesky(a, upper=upper), [spd(*shape)])
    # through a symmetric construction, as a user's loss would build it
    both(lambda m, x: m.linalg.cholesky(x @ x.mT + 4 * m.eye(shape[-1], dtype=x.dtype),
                                        upper=upper), [rand(*shape)])


def test_cholesky_errors():
    with pytest.raises(ember.linalg.LinAlgError, match="linalg.cholesky: .*not positive-definite"):
        ember.linalg.cholesky(-ember.eye(3))
    with pytest.raises(RuntimeError, match="linalg.cholesky: A must be batches of square"):
        ember.linalg.cholesky(ember.ones(2, 3))


@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh(shape, uplo):
    def fn(m, a):
        w, v = m.linalg.eigh(a, UPLO=uplo)
        return w, proj(m, v), v.abs()
    both(fn, [sym(*shape)])
    both(lambda m, a: m.linalg.eigvalsh(a, UPLO=uplo), [sym(*shape)])
    both(lambda m, x: m.linalg.eigvalsh(x + x.mT), [rand(*shape)])


def test_eigh_named_fields_and_errors():
    out = ember.linalg.eigh(ember.tensor(sym(3, 3)))
    assert out._fields == ("eigenvalues", "eigenvectors")
    with pytest.raises(RuntimeError, match="Expected UPLO argument to be 'L' or 'U', but got X"):
        ember.linalg.eigh(ember.eye(3), UPLO="X")
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices"):
        ember.linalg.eigh(ember.ones(2, 3))


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3), (2, 3, 4)])
@pytest.mark.parametrize("full_matrices", [False, True])
def test_svd(shape, full_matrices):
    k = min(shape[-2:])

    def fn(m, a):
        u, s, vh = m.linalg.svd(a, full_matrices=full_matrices)
        u, vh = u[..., :, :k], vh[..., :k, :]
        return s, proj(m, u), proj(m, vh, rows=True), u.abs(), vh.abs(), u @ vh
    both(fn, [rand(*shape)])
    both(lambda m, a: m.linalg.svdvals(a), [rand(*shape)])


def test_svd_full_shapes_and_fields():
    out = ember.linalg.svd(ember.tensor(rand(5, 3)))
    assert out._fields == ("U", "S", "Vh")
    assert [tuple(t.shape) for t in out] == [(5, 5), (3,), (3, 3)]
    with pytest.raises(RuntimeError, match="linalg.svd: The input tensor A must have at least 2"):
        ember.linalg.svd(ember.ones(3))


@pytest.mark.parametrize("shape, mode", [((4, 4), "reduced"), ((5, 3), "reduced"),
                                         ((3, 5), "reduced"), ((2, 5, 3), "reduced"),
                                         ((2, 3, 5), "complete"), ((4, 4), "complete")])
def test_qr(shape, mode):
    both(lambda m, a: tuple(m.linalg.qr(a, mode=mode)), [rand(*shape)])


def test_qr_modes_and_errors():
    q, r = ember.linalg.qr(ember.tensor(rand(5, 3)), mode="complete")
    assert tuple(q.shape) == (5, 5) and tuple(r.shape) == (5, 3)
    both(lambda m, a: m.linalg.qr(a, mode="r").R, [rand(5, 3)], grad=False)
    assert tuple(ember.linalg.qr(ember.tensor(rand(3, 5)), mode="r").Q.shape) == (0,)
    with pytest.raises(RuntimeError, match="qr received unrecognized mode 'x'"):
        ember.linalg.qr(ember.eye(3), mode="x")
    a = ember.tensor(rand(5, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete' and nrows"):
        ember.linalg.qr(a, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="depends on Q, which is not computed when mode='r'"):
        ember.linalg.qr(a, mode="r").R.sum().backward()


@pytest.mark.parametrize("fn, inputs", [
    (lambda a: ember.linalg.cholesky(a @ a.mT + 3 * ember.eye(3, dtype=a.dtype)), [rand(2, 3, 3)]),
    (lambda a: ember.linalg.cholesky(a @ a.mT + 3 * ember.eye(3, dtype=a.dtype), upper=True),
     [rand(3, 3)]),
    (lambda a: proj(ember, ember.linalg.eigh(a + a.mT).eigenvectors), [sym(3, 3)]),
    (lambda a: ember.linalg.eigvalsh(a + a.mT), [sym(2, 3, 3)]),
    (lambda a: proj(ember, ember.linalg.svd(a, full_matrices=False).U), [rand(4, 3)]),
    (lambda a: proj(ember, ember.linalg.svd(a, full_matrices=False).Vh, rows=True), [rand(3, 4)]),
    (lambda a: ember.linalg.svdvals(a), [rand(2, 3, 4)]),
    (lambda a: tuple(ember.linalg.qr(a)), [rand(4, 3)]),
    (lambda a: tuple(ember.linalg.qr(a)), [rand(2, 3, 4)])])
def test_factorization_gradcheck(fn, inputs):
    check_grad(fn, inputs=inputs)


def test_float32_keeps_its_dtype():
    a = spd(3, 3).astype(np.float32)
    for fn in (lambda m, a: m.linalg.inv(a), lambda m, a: m.linalg.det(a),
               lambda m, a: m.linalg.cholesky(a), lambda m, a: m.linalg.eigvalsh(a),
               lambda m, a: m.linalg.svdvals(a), lambda m, a: m.linalg.qr(a).R,
               lambda m, a: m.linalg.matrix_norm(a, "nuc")):
        both(fn, [a], dtype=np.float32)


def test_namespace():
    from ember import linalg
    assert ember.linalg is linalg and linalg.matmul is ember.matmul
    assert ember.Tensor.det is linalg.det and ember.Tensor.inverse is linalg.inv
