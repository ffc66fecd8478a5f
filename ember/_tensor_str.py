"""How a tensor prints: PyTorch's format (``tensor([1.5000, 2.0000], requires_grad=True)``).
Printing is not autograd, so it lives beside tensor.py (as PyTorch's ``_tensor_str``)."""
from __future__ import annotations

import numpy as np

from ember import backend


def _float_formatter(arr):
    """PyTorch's choice of float format: ``1.`` when every value is whole, ``1.5000``
    otherwise, scientific when the magnitudes span too much; padded to one width."""
    if arr.size > 1000:  # summarised: only the printed corners (3 per end) matter
        for axis, n in enumerate(arr.shape):
            if n > 6:
                arr = np.take(arr, [0, 1, 2, n - 3, n - 2, n - 1], axis=axis)
    flat = arr.reshape(-1)
    finite = flat[np.isfinite(flat)].astype(np.float64)
    nonzero = np.abs(finite[finite != 0])
    big, small = (nonzero.max(), nonzero.min()) if nonzero.size else (0.0, 0.0)
    if np.all(finite == np.round(finite)):
        spec = "{:.4e}" if big > 1e8 else "{:.0f}."
    else:
        spec = "{:.4e}" if big / max(small, 1e-300) > 1000 or big > 1e8 or small < 1e-4 \
            else "{:.4f}"

    def fmt(v):
        return spec.format(v) if np.isfinite(v) else str(v)
    width = max((len(fmt(v)) for v in flat), default=0)
    return lambda v: fmt(v).rjust(width)


def format_tensor(t) -> str:
    arr = backend.to_numpy(t.array)
    formatter = {"float_kind": _float_formatter(arr)} if arr.dtype.kind == "f" else None
    body = np.array2string(arr, separator=", ", prefix="tensor(", threshold=1000,
                           edgeitems=3, max_line_width=81, formatter=formatter)
    body = body.replace(", ..., ", ",  ..., ")  # PyTorch pads the elision like a number
    extras = []
    default = arr.dtype in (backend.get_default_dtype(), np.int64, np.bool_)
    if arr.size == 0 and arr.shape != (0,):
        extras.append(f"size={tuple(arr.shape)}")
    if not default:
        extras.append(f"dtype=ember.{arr.dtype}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
