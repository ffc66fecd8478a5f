"""The ops as the ``ember`` namespace exposes them: where PyTorch wants a Tensor, a NumPy
array, a list or a number gets PyTorch's TypeError, not an AttributeError from inside the op.
Tensor methods and ember's own calls use the ops themselves (no check on their hot path)."""
from __future__ import annotations

import functools

from ember import ops
from ember.tensor import Tensor


def _refuse(name, argument, got):
    kind = "a Tensor" if argument == "input" else "a sequence of Tensors"
    return TypeError(f"{name}(): argument '{argument}' must be {kind}, not "
                     f"{type(got).__name__}; make one with ember.tensor(...) or "
                     "ember.from_numpy(...)")


def _tensor_first(name):
    fn = getattr(ops, name)

    @functools.wraps(fn)
    def op(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise _refuse(name, "input", input)
        return fn(input, *args, **kwargs)
    op.__name__ = op.__qualname__ = name
    return op


def _tensors_first(name):
    fn = getattr(ops, name)

    @functools.wraps(fn)
    def op(tensors, *args, **kwargs):
        if isinstance(tensors, Tensor):
            raise _refuse(name, "tensors", tensors)
        tensors = list(tensors)  # a generator is read once, here
        for t in tensors:
            if not isinstance(t, Tensor):
                raise _refuse(name, "tensors", t)
        return fn(tensors, *args, **kwargs)
    op.__name__ = op.__qualname__ = name
    return op


# the ops whose first argument must be a Tensor (binary ops take numbers on either side)
_TENSOR_FIRST = (
    "abs", "all", "amax", "amin", "any", "argmax", "argmin", "broadcast_to", "ceil", "chunk",
    "clamp", "clip", "clone", "cos", "cumsum", "exp", "expand", "expand_as", "flatten", "flip",
    "floor", "gather", "index_select", "isfinite", "isinf", "isnan", "log", "log10", "log1p",
    "log2", "log_softmax", "logical_not", "logsumexp", "masked_fill", "max", "mean", "min",
    "neg", "norm", "pad", "permute", "prod", "reciprocal", "relu", "repeat", "reshape",
    "reshape_as", "roll", "round", "rsqrt", "scatter_add", "sigmoid", "sign", "sin",
    "softmax", "split", "sqrt", "square", "squeeze", "std", "sum", "swapaxes", "tanh",
    "transpose", "unflatten", "unsqueeze", "var", "view", "view_as",
    "argsort", "cummax", "cummin", "cumprod", "diag", "diagonal", "kthvalue", "logcumsumexp",
    "narrow", "outer", "repeat_interleave", "sort", "take_along_dim", "topk", "trace", "tril",
    "triu", "index_add", "index_copy", "index_fill", "masked_scatter", "scatter",
    "scatter_reduce", "erf", "erfinv", "atan2", "hypot", "lerp", "nan_to_num", "var_mean",
    "std_mean", "addmm", "baddbmm", "addcmul", "addcdiv", "tensordot", "kron", "cdist",
    "unique", "nonzero", "multinomial", "searchsorted", "histc", "bincount")
_TENSORS_FIRST = ("cat", "concat", "concatenate", "stack")


def checked_namespace():
    """The checked ops, by name, for the ``ember`` namespace."""
    return {**{n: _tensor_first(n) for n in _TENSOR_FIRST},
            **{n: _tensors_first(n) for n in _TENSORS_FIRST}}
