"""Finite-difference gradient checks (the CS231n tool), public for users' own functions."""
from __future__ import annotations

import numpy as np

from ember import backend
from ember.autograd.grad_mode import no_grad
from ember.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree; the message says where."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _check_inputs(inputs):
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {t.dtype}; finite differences "
                            "need float64 inputs (use .double())")
    return inputs


def numerical_jacobian(fn, inputs, i, eps):
    """d(outputs)/d(inputs[i]) by central differences, one column per input element."""
    x = inputs[i].array  # perturbed in place, element by element (any memory layout)
    cols = []
    with no_grad():
        for k in range(x.size):
            at = tuple(int(j) for j in np.unravel_index(k, x.shape))
            orig = x[at].item()
            x[at] = orig + eps
            plus = [backend.to_numpy(o.array).astype(np.float64).ravel()
                    for o in _outputs(fn, inputs) if isinstance(o, Tensor)]
            x[at] = orig - eps
            minus = [backend.to_numpy(o.array).astype(np.float64).ravel()
                     for o in _outputs(fn, inputs) if isinstance(o, Tensor)]
            x[at] = orig
            cols.append(np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)]))
    return np.stack(cols, axis=1)  # (total output elements, input elements)


def analytical_jacobian(fn, inputs, i):
    """The same Jacobian from backward: one backward pass per output element."""
    from ember.autograd.engine import run_backward
    outs = [o for o in _outputs(fn, inputs) if isinstance(o, Tensor)]
    rows = []
    for j, o in enumerate(outs):
        for k in range(o.numel()):
            if not o.requires_grad:
                rows.append(np.zeros(inputs[i].numel()))
                continue
            seed = backend.get_array_module(o.array).zeros(o.numel(), o.array.dtype)
            seed[k] = 1
            seed = seed.reshape(o.array.shape)
            g, = run_backward([o], [seed], retain_graph=True, inputs=[inputs[i]])
            rows.append(np.zeros(inputs[i].numel()) if g is None else
                        backend.to_numpy(g).astype(np.float64).ravel())
    return np.stack(rows, axis=0)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              fast_mode=False, seed=0):
    """Compare backward's gradients of ``fn(*inputs)`` with central finite differences.

    Every input that requires grad must be float64. With ``fast_mode=True`` only the
    projection ``u^T J v`` for random ``u``, ``v`` is compared (one backward pass, two
    function calls per input; for large inputs). Returns True, or raises
    :class:`GradcheckError` naming the input, the element and both values.
    """
    inputs = _check_inputs(inputs)
    rng = np.random.default_rng(seed)
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        if fast_mode:
            ok, msg = _fast_check(fn, inputs, i, eps, atol, rtol, rng)
        else:
            num = numerical_jacobian(fn, inputs, i, eps)
            ana = analytical_jacobian(fn, inputs, i)
            bad = ~np.isclose(ana, num, rtol=rtol, atol=atol)
            ok = not bad.any()
            if not ok:
                o, k = map(int, np.argwhere(bad)[0])
                where = tuple(int(j) for j in np.unravel_index(k, tuple(t.shape)))
                msg = (f"gradcheck: input {i} (shape {tuple(t.shape)}), element {where}, "
                       f"output element {o}: analytical {ana[o, k]:.10g} vs numerical "
                       f"{num[o, k]:.10g} ({int(bad.sum())} of {bad.size} entries differ)")
        if not ok:
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def _fast_check(fn, inputs, i, eps, atol, rtol, rng):
    from ember.autograd.engine import run_backward
    t = inputs[i]
    outs = [o for o in _outputs(fn, inputs) if isinstance(o, Tensor)]
    us = [rng.standard_normal(o.shape) for o in outs]
    v = rng.standard_normal(t.shape)
    xp = backend.get_array_module(t.array)
    grads = run_backward([o for o in outs if o.requires_grad],
                         [xp.asarray(u, dtype=o.dtype) for u, o in zip(us, outs)
                          if o.requires_grad], retain_graph=True, inputs=[t])
    ana = 0.0 if grads[0] is None else float((backend.to_numpy(grads[0]) * v).sum())
    orig = t.array.copy()
    with no_grad():
        t.array[...] = orig + eps * xp.asarray(v)
        plus = [backend.to_numpy(o.array) for o in _outputs(fn, inputs) if isinstance(o, Tensor)]
        t.array[...] = orig - eps * xp.asarray(v)
        minus = [backend.to_numpy(o.array) for o in _outputs(fn, inputs)
                 if isinstance(o, Tensor)]
        t.array[...] = orig
    num = float(sum(((p - m) / (2 * eps) * u).sum() for p, m, u in zip(plus, minus, us)))
    ok = abs(ana - num) <= atol + rtol * abs(num)
    return ok, (f"gradcheck (fast mode): input {i} (shape {tuple(t.shape)}): u^T J v "
                f"analytical {ana:.10g} vs numerical {num:.10g}")
