"""Batch norm on CuPy in a handful of kernel launches.

Written with array operations, as in ``norm.py``, a training batch norm is some twenty
CuPy launches per forward and fifteen per backward, most of them on (C,) vectors: every
``momentum * mean``, ``sqrt`` or ``1 /`` is its own kernel with its own ~10-20 us of host
time. A ResNet step on a GPU is bound by exactly that host time (docs/benchmarks.md), so
here each stage is one launch: the per-channel sums, the centring, the (C,) statistics
and running averages together, and the affine map. The formulas are ``norm.py``'s, so the
two agree to rounding (tests/test_cuda.py checks them in float64).

Only imported where CuPy arrays arrive; the kernels compile once per dtype on first use.
"""
from __future__ import annotations

import functools

from ember import backend

_AXES = (0, 2)  # the (N, C, M) view's batch and spatial axes


@functools.cache
def _kernels():
    cp = backend.cupy
    elementwise, reduction = cp.ElementwiseKernel, cp.ReductionKernel
    return {
        # ndarray.sum over axes (0, 2) of a contiguous (N, C, M) costs ~100 us of host time
        # on CuPy 14; a ReductionKernel ~15
        "sum": reduction("T x", "T y", "x", "a + b", "y = a", "0", "ember_bn_sum"),
        "dot": reduction("T a, T b", "T y", "a * b", "a + b", "y = a", "0", "ember_bn_dot"),
        "center": elementwise("T x, T s, float64 m", "T xc", "xc = x - (T)(s / m)",
                              "ember_bn_center"),
        "batch_stats": elementwise(
            "T s, T ss, T w, float64 m, float64 momentum, float64 eps",
            "T invstd, T scale, R rm, R rv",
            """
            invstd = (T)1 / sqrt(ss / (T)m + (T)eps);
            scale = invstd * w;
            rm = momentum * (s / (T)m) + (1 - momentum) * rm;
            rv = momentum * (ss / (T)(m - 1)) + (1 - momentum) * rv;
            """, "ember_bn_batch_stats"),
        "running_stats": elementwise(
            "R rm, R rv, T w, T b, float64 eps", "T mean, T invstd, T scale, T shift",
            """
            mean = (T)rm;
            invstd = (T)1 / sqrt((T)rv + (T)eps);
            scale = invstd * w;
            shift = b - mean * scale;
            """, "ember_bn_running_stats"),
        "affine": elementwise("T x, T scale, T shift", "T y", "y = x * scale + shift",
                              "ember_bn_affine"),
        "grad": elementwise(
            "T g, T xc, T sum_g, T dot, T invstd, T scale, float64 m", "T gx",
            "gx = (g - sum_g / (T)m - xc * (invstd * invstd * dot / (T)m)) * scale",
            "ember_bn_grad"),
    }


def fits(x, *params):
    """Whether these kernels take the call: ``x`` is a CuPy array and the parameters given
    share its dtype."""
    return backend.cupy is not None and isinstance(x, backend.cupy.ndarray) and all(
        p is None or p.dtype == x.dtype for p in params)


def batch_forward(x3, weight, bias, running_mean, running_var, momentum, eps, inplace):
    """Training: (y, xc, invstd, scale) for ``x3`` (N, C, M), the running statistics (if
    given) updated in place; ``y`` overwrites ``xc`` when ``inplace``."""
    k, cp = _kernels(), backend.cupy
    m = x3.shape[0] * x3.shape[2]
    s = k["sum"](x3, axis=_AXES)
    xc = k["center"](x3, s[:, None], m)
    ss = k["dot"](xc, xc, axis=_AXES)
    if running_mean is None:  # nothing to update: the kernel writes into throw-aways
        running_mean, running_var, momentum = cp.empty_like(s), cp.empty_like(s), 0.0
    invstd, scale = cp.empty_like(s), cp.empty_like(s)
    k["batch_stats"](s, ss, 1 if weight is None else weight, m, momentum, eps,
                     invstd, scale, running_mean, running_var)
    shift = 0 if bias is None else bias[:, None]
    y = k["affine"](xc, scale[:, None], shift, *((xc,) if inplace else ()))
    return y, xc, invstd, scale


def running_forward(x3, weight, bias, running_mean, running_var, eps):
    """Evaluation: (y, mean, invstd, scale) normalised by the running statistics."""
    k, cp = _kernels(), backend.cupy
    # outputs given: without weight and bias no argument would say their dtype
    mean, invstd, scale, shift = (cp.empty(x3.shape[1], x3.dtype) for _ in range(4))
    k["running_stats"](running_mean, running_var, 1 if weight is None else weight,
                       0 if bias is None else bias, eps, mean, invstd, scale, shift)
    return k["affine"](x3, scale[:, None], shift[:, None]), mean, invstd, scale


def batch_backward(gy3, xc, invstd, scale):
    """Training backward: (gx, sum of gy, sum of gy * xc) over the batch and spatial axes."""
    k = _kernels()
    m = gy3.shape[0] * gy3.shape[2]
    sum_gy = k["sum"](gy3, axis=_AXES)
    dot = k["dot"](gy3, xc, axis=_AXES)
    gx = k["grad"](gy3, xc, sum_gy[:, None], dot[:, None], invstd[:, None], scale[:, None], m)
    return gx, sum_gy, dot
