"""The in-place GEMM on strided views (ember/kernels/blas.py) against NumPy's matmul."""
import os
import subprocess
import sys

import numpy as np
import pytest

from ember.kernels import blas as _blas

needs_blas = pytest.mark.skipif(not _blas.available(np.float32) and not os.environ.get("CI"),
                                reason="NumPy's BLAS was not found")


def test_found_on_ci():
    """The fast convolution route depends on it: on CI (Linux, NumPy's wheel) it must load."""
    if os.environ.get("CI"):
        assert _blas.available(np.float32) and _blas.available(np.float64)
    assert not _blas.available(np.int64) and not _blas.available(np.complex128)


@needs_blas
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_matches_matmul_on_views(dtype, tol, beta):
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((6, 50)).astype(dtype)
    cases = [
        (rng.standard_normal((4, 6)), wide[:, 3:40]),           # a column window (ld > cols)
        (rng.standard_normal((6, 4)).T, wide[:, 7:20]),         # a transposed operand
        (rng.standard_normal((4, 6)), wide[:, 5:45].T[:6].T),   # a window, transposed twice
        (rng.standard_normal((8, 12))[::2, ::2], wide[:, ::3]),  # not BLAS-able: copied
    ]
    for a, b in cases:
        a = a.astype(dtype)
        big = rng.standard_normal((a.shape[0], b.shape[1] + 9)).astype(dtype)
        out = big[:, 2:2 + b.shape[1]]  # rows of the output are strided too
        expected = a @ b + beta * out
        _blas.gemm(a, b, out, beta)
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@needs_blas
def test_beta_zero_ignores_garbage():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    out = np.full((2, 4), np.nan)
    np.testing.assert_array_equal(_blas.gemm(a, b, out), np.full((2, 4), 3.0))


@needs_blas
def test_empty_shapes():
    out = np.full((2, 3), 4.0)
    _blas.gemm(np.empty((2, 0)), np.empty((0, 3)), out, beta=0.5)
    np.testing.assert_array_equal(out, np.full((2, 3), 2.0))
    _blas.gemm(np.empty((0, 2)), np.ones((2, 3)), np.empty((0, 3)))


@needs_blas
def test_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        _blas.gemm(np.ones((2, 3)), np.ones((4, 5)), np.empty((2, 5)))
    with pytest.raises(TypeError, match="float32"):
        _blas.gemm(np.ones((2, 3), np.float32), np.ones((3, 2)), np.empty((2, 2)))
    with pytest.raises(ValueError, match="contiguous rows"):
        _blas.gemm(np.ones((2, 3)), np.ones((3, 4)), np.empty((4, 2)).T)


def test_disabled_by_environment_and_convolutions_still_run():
    code = ("import numpy as np, ember, ember.nn.functional as F\n"
            "from ember.kernels import blas as _blas\n"
            "assert not _blas.available(np.float32)\n"
            "x = ember.randn(2, 8, 6, 6, requires_grad=True)\n"
            "F.conv2d(x, ember.randn(8, 8, 3, 3), padding=1).sum().backward()\n"
            "print('ok', tuple(x.grad.shape))")
    env = dict(os.environ, EMBER_DISABLE_BLAS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ok (2, 8, 6, 6)" in out.stdout
