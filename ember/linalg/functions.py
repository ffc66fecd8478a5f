"""The Functions behind ``ember.linalg``: forward with ``xp.linalg`` (NumPy or CuPy), backward
with the formulas PyTorch's autograd uses (torch/csrc/autograd/FunctionsManual.cpp), on raw
arrays. ``a`` is a (batch of) matrix input, ``g*`` an upstream gradient, ``mT`` a transpose of
the last two axes. Real dtypes only (float32, float64)."""
from __future__ import annotations

import numpy as np

from ember.autograd.function import Function


class LinAlgError(RuntimeError):
    """A matrix had no inverse, factorization or solution (PyTorch's
    ``torch.linalg.LinAlgError``, also a RuntimeError)."""


def _mT(x):
    return x.swapaxes(-1, -2)


def _set_diagonal(xp, m, values):
    """``m`` with its last-two-axes diagonal set to ``values`` (a copy)."""
    m = m.copy()
    i = xp.arange(m.shape[-1])
    m[..., i, i] = values
    return m


def _lapack(call, message, *args, **kwargs):
    """Run an ``xp.linalg`` routine; its LinAlgError becomes ember's, with ``message``."""
    try:
        return call(*args, **kwargs)
    except np.linalg.LinAlgError as e:
        raise LinAlgError(f"{message} ({e})") from None


def _inv(xp, a, name):
    return _lapack(xp.linalg.inv, f"{name}: the inversion could not be completed because the "
                   f"input matrix of shape {tuple(a.shape)} is singular", a)


class Inv(Function):
    def forward(self, a):
        y = _inv(self.xp, a, "linalg.inv")
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved
        yt = _mT(y)
        return -(yt @ gy @ yt)  # d(A^-1) = -A^-1 dA A^-1


class Det(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.linalg.det(a)

    def backward(self, gy):
        (a,) = self.saved
        return gy[..., None, None] * _cofactor(self.xp, a)


def _cofactor(xp, a):
    """The cofactor matrix det(A) A^-T, from the SVD so that it holds for singular A too:
    A = U S V^T gives cof(A) = det(U) det(V) U diag(prod_{j != i} s_j) V^T."""
    u, s, vh = xp.linalg.svd(a)
    n = s.shape[-1]
    ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    before = xp.concatenate([ones, xp.cumprod(s, axis=-1)[..., :n - 1]], axis=-1)
    after = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(s, -1), -1)[..., :n - 1]], -1), -1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return sign[..., None, None] * ((u * (before * after)[..., None, :]) @ vh)


class Slogdet(Function):
    def forward(self, a):
        sign, logabsdet = self.xp.linalg.slogdet(a)
        self.save_for_backward(a)
        return sign, logabsdet

    def backward(self, gsign, glogabsdet):  # the sign is piecewise constant: no gradient
        (a,) = self.saved
        return glogabsdet[..., None, None] * _mT(_inv(self.xp, a, "linalg.slogdet"))


class Solve(Function):
    """X = A^-1 B for matrices B (..., n, k); batch dims broadcast (the engine sums the
    gradients back to each input's shape)."""

    def forward(self, a, b):
        xp = self.xp
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = xp.broadcast_to(a, batch + a.shape[-2:])
        b = xp.broadcast_to(b, batch + b.shape[-2:])
        x = _lapack(xp.linalg.solve, "torch.linalg.solve: The solver failed because the input "
                    f"matrix of shape {tuple(a.shape)} is singular", a, b)
        self.save_for_backward(a, x)
        return x

    def backward(self, gx):
        a, x = self.saved
        gb = _lapack(self.xp.linalg.solve, "linalg.solve backward: singular matrix", _mT(a), gx)
        return (-(gb @ _mT(x)) if self.needs_input_grad[0] else None), gb


class Cholesky(Function):
    def forward(self, a, *, upper):
        lower = _lapack(self.xp.linalg.cholesky, "linalg.cholesky: The factorization could not "
                        "be completed because the input is not positive-definite (input of "
                        f"shape {tuple(a.shape)})", a)
        self.upper = upper
        self.save_for_backward(lower)
        return _mT(lower).copy() if upper else lower

    def backward(self, gy):
        xp, (lower,) = self.xp, self.saved
        gl = _mT(gy) if self.upper else gy
        # PyTorch's cholesky_backward: gA = L^-T Phi(L^T gL) L^-1, Phi symmetrising the lower
        # triangle with the diagonal halved
        p = xp.tril(_mT(lower) @ gl)
        p = 0.5 * (p + _mT(xp.tril(p, -1)))
        linv = _inv(xp, lower, "linalg.cholesky backward")
        return _mT(linv) @ p @ linv


class Eigh(Function):
    def forward(self, a, *, uplo):
        w, v = self.xp.linalg.eigh(a, UPLO=uplo)
        self.save_for_backward(w, v)
        return w, v

    def backward(self, gw, gv):
        xp, (w, v) = self.xp, self.saved
        vt = _mT(v)
        vtgv = vt @ gv
        skew = 0.5 * (vtgv - _mT(vtgv))  # gauge invariant: only the skew part matters
        gaps = _set_diagonal(xp, w[..., None, :] - w[..., :, None], 1)
        return v @ _set_diagonal(xp, skew / gaps, gw) @ vt


class Svd(Function):
    """U, S, Vh (``outputs="usv"``) or S alone (``"s"``, svdvals). With full_matrices the
    gradient comes through the first k = min(m, n) columns of U and rows of Vh, as PyTorch's."""

    def forward(self, a, *, full_matrices, outputs):
        xp = self.xp
        if outputs == "s" and not self.needs_input_grad[0]:
            return xp.linalg.svd(a, compute_uv=False)
        u, s, vh = xp.linalg.svd(a, full_matrices=full_matrices)
        self.outputs = outputs
        self.save_for_backward(u, s, vh)
        return (u, s, vh) if outputs == "usv" else s

    def backward(self, *grads):
        xp, (u, s, vh) = self.xp, self.saved
        k = s.shape[-1]
        u, vh = u[..., :, :k], vh[..., :k, :]
        if self.outputs == "s":  # svdvals: gA = U diag(gS) Vh
            return (u * grads[0][..., None, :]) @ vh
        gu, gs, gvh = grads[0][..., :, :k], grads[1], grads[2][..., :k, :]
        m, n = u.shape[-2], vh.shape[-1]
        utgu = _mT(u) @ gu
        utgu = utgu - _mT(utgu)
        vtgv = vh @ _mT(gvh)
        vtgv = vtgv - _mT(vtgv)
        s2 = s * s
        gaps = _set_diagonal(xp, s2[..., None, :] - s2[..., :, None], 1)
        inner = (utgu * s[..., None, :] + s[..., :, None] * vtgv) / gaps
        inner = _set_diagonal(xp, inner, xp.diagonal(inner, 0, -2, -1) + gs)
        if m > n:  # gA = [U inner + (I - U U^T) gU S^-1] Vh
            gus = gu / s[..., None, :]
            return (u @ inner + gus - u @ (_mT(u) @ gus)) @ vh
        if m < n:  # gA = U [inner Vh + S^-1 gVh (I - V V^T)]
            sgv = gvh / s[..., :, None]
            return u @ (inner @ vh + sgv - (sgv @ _mT(vh)) @ vh)
        return u @ inner @ vh


class Qr(Function):
    def forward(self, a, *, mode):
        xp = self.xp
        self.mode = mode
        if mode == "r":
            return xp.empty((0,), dtype=a.dtype), xp.linalg.qr(a, mode="r")
        q, r = xp.linalg.qr(a, mode=mode)
        self.save_for_backward(q, r)
        return q, r

    def backward(self, gq, gr):
        if self.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                               "when mode='r'. Please use linalg.qr(A, mode='reduced') if you "
                               "are going to differentiate through linalg.qr.")
        xp, (q, r) = self.xp, self.saved
        m, n = q.shape[-2], r.shape[-1]
        if self.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when "
                               "mode='complete' and nrows > ncols.")
        if m >= n:
            return _qr_tall_backward(xp, gq, gr, q, r)
        # A = [X | Y] with X = Q R1 square and Y = Q R2: X's QR carries the rest
        r1, r2, gr1, gr2 = r[..., :, :m], r[..., :, m:], gr[..., :, :m], gr[..., :, m:]
        gx = _qr_tall_backward(xp, gq + (q @ r2) @ _mT(gr2), gr1, q, r1)
        return xp.concatenate([gx, q @ gr2], axis=-1)


def _qr_tall_backward(xp, gq, gr, q, r):
    """m >= n: gA = (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q (copyltu mirrors the
    lower triangle onto the upper one)."""
    mm = r @ _mT(gr) - _mT(gq) @ q
    mm = xp.tril(mm) + _mT(xp.tril(mm, -1))
    b = gq + q @ mm
    return _mT(_lapack(xp.linalg.solve, "linalg.qr backward: R is singular", r, _mT(b)))
