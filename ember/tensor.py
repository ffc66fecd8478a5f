"""Tensor: an array (NumPy or CuPy) plus what autograd needs to know about it.

``Tensor.array`` is the raw NumPy/CuPy array (ember's own name; the internals read it);
``Tensor.data`` is PyTorch's: a tensor sharing the memory, outside the graph. Every method
that computes is one line calling ``ember.ops``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ember import backend


def _as_array(data, dtype=None, device=None):
    """Build an array from Python data, NumPy/CuPy arrays or Tensors (PyTorch's dtype rules:
    Python floats become the default dtype, ints int64, bools bool)."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        dtype = np.dtype(dtype)
    if isinstance(data, np.generic) or backend.is_array(data):
        arr = data
    else:
        arr = np.asarray(_to_host_list(data))
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(backend.get_default_dtype())
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64)
            elif arr.dtype.kind not in "bc":
                raise TypeError(f"cannot make a tensor from {type(data).__name__} "
                                f"(array of dtype {arr.dtype})")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    if device is not None:
        arr = backend.to_device(arr, device)
    elif not isinstance(arr, np.ndarray) and isinstance(arr, np.generic):
        arr = np.asarray(arr)
    return arr


def _to_host_list(data):
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        return [_to_host_list(d) for d in data]
    if isinstance(data, Tensor):
        return backend.to_numpy(data.array)
    return data


class Tensor:
    """An n-dimensional array that records the operations done on it for backpropagation.

    Create tensors with :func:`ember.tensor`, :func:`ember.zeros`, :func:`ember.randn`, ...
    """

    __slots__ = ("__weakref__", "_hooks", "_out_idx", "_version", "array", "grad", "grad_fn",
                 "requires_grad")
    __array_priority__ = 1000  # NumPy scalars on the left defer to our reflected operators

    def __init__(self, *data, requires_grad=False, dtype=None, device=None):
        """PyTorch's legacy constructor: ``Tensor(data)`` converts lists and arrays to the
        default dtype (``Tensor([1, 2])`` is float32), ``Tensor(2, 3)`` or ``Tensor(size)``
        is uninitialised, ``Tensor(t)`` shares ``t``'s memory and dtype. ``dtype=`` and
        ``requires_grad=`` are ember's additions; :func:`ember.tensor` infers the dtype."""
        self._init(_creation.legacy_array(data, dtype, device), requires_grad)

    def _init(self, array, requires_grad=False):
        self.array = array
        self.requires_grad = False
        self.grad = None
        self.grad_fn = None
        self._out_idx = 0
        self._version = [0]
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, array, requires_grad=False):
        """Wrap an array without checks (the hot path of every op)."""
        t = object.__new__(cls)
        t.array = np.asarray(array) if isinstance(array, np.generic) else array
        t.requires_grad = requires_grad
        t.grad = None
        t.grad_fn = None
        t._out_idx = 0
        t._version = [0]
        t._hooks = None
        return t

    # --- autograd ---------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, "
                               f"got dtype {self.array.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) only applies to leaf tensors; "
                               "use .detach() for a tensor computed from others")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires grad, or with
        ``inputs`` (a Tensor or a sequence) into those tensors' ``.grad`` only."""
        from ember.autograd.engine import backward_inputs, run_backward
        if inputs is not None:
            inputs = backward_inputs(inputs)
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad and has no "
                               "grad_fn: no input of the computation had requires_grad=True")
        if gradient is None:
            if self.array.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar output, got "
                                   f"shape {self.shape}; pass gradient= of the same shape")
            g = backend.get_array_module(self.array).ones_like(self.array)
        else:
            g = _as_array(gradient).astype(self.array.dtype, copy=True)
            if g.shape != self.array.shape:
                raise RuntimeError(f"backward(): gradient of shape {g.shape} does not match the "
                                   f"tensor's shape {self.array.shape}")
        run_backward([self], [g], retain_graph, inputs, accumulate=True)

    def register_hook(self, hook):
        """Call ``hook(grad) -> Tensor | None`` when this tensor's gradient is computed;
        a returned tensor replaces the gradient. Returns a handle: ``handle.remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            return _HookHandle(self._hooks, hook)
        return _HookHandle(self.grad_fn.register_hook(self._out_idx, hook), hook)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (explainability needs it);
        it holds the gradient after every hook, as in PyTorch."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self.grad_fn is None or self.retains_grad:
            return
        import weakref
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                g = g.array.copy()
                if t.grad is None:
                    t.grad = Tensor._make(g)
                else:
                    t.grad.array = t.grad.array + g
        keep.retains_grad = True
        self.grad_fn.register_hook(self._out_idx, keep)

    @property
    def retains_grad(self) -> bool:
        if self.grad_fn is None:
            return False
        hooks = self.grad_fn.__dict__.get("_hooks", {}).get(self._out_idx, ())
        return any(getattr(h, "retains_grad", False) for h in hooks)

    def detach(self):
        """A tensor sharing this one's data (and version counter), cut from the graph."""
        t = Tensor._make(self.array)
        t._version = self._version
        return t

    @property
    def data(self):
        """A tensor sharing this one's memory, outside the graph, as PyTorch's ``.data``:
        in-place writes through it are invisible to autograd (its version counter is its
        own), which is why ``detach()`` is usually the better choice."""
        return Tensor._make(self.array)

    @data.setter
    def data(self, value):
        """``t.data = other`` makes ``t`` hold ``other``'s array (any shape), as PyTorch."""
        if not isinstance(value, Tensor):
            raise TypeError(f"tensor.data must be set to a Tensor, got {type(value).__name__}")
        self.array = value.array

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    # --- properties -------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self.array.shape)

    def size(self, dim=None):
        return Size(self.array.shape) if dim is None else self.array.shape[dim]

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def numel(self):
        return int(self.array.size)

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        return backend.device_of(self.array)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    is_xpu = is_mps = property(lambda self: False, doc="ember runs on CPUs and CUDA GPUs only")

    @property
    def T(self):
        return _ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return _ops.transpose(self, -2, -1)

    def element_size(self):
        return self.array.itemsize

    # --- conversion -------------------------------------------------------------------
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        if self.device.type != "cpu":
            raise TypeError(f"can't convert a {self.device} tensor to NumPy; use .cpu() first")
        return self.array

    def item(self):
        if self.array.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.array.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    def to(self, *args, dtype=None, device=None, copy=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, backend.Device)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None and backend.Device(device) != self.device:
            out = _ops.to_device(out, backend.Device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _ops.cast(out, np.dtype(dtype))
        if copy and out is self:
            out = _ops.clone(self)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(
            device, int) else device)

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def clone(self):
        return _ops.clone(self)

    def contiguous(self):
        return self

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("can't convert a tensor that requires grad to a NumPy array; "
                               "use tensor.detach()")
        arr = backend.to_numpy(self.array)
        return arr if dtype is None else arr.astype(dtype)

    def __repr__(self):
        from ember._tensor_str import format_tensor
        return format_tensor(self)

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.array.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.array)

    def __format__(self, spec):
        """``f"{t:.2f}"`` formats a 0-d tensor as its number, as PyTorch (other tensors
        take only an empty format spec)."""
        if self.array.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return repr(self)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    # --- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    # in place: a += b records correctly or refuses clearly (see ops.inplace)
    def __iadd__(self, other):
        return _ops.inplace(self, _ops.add, other)

    def __isub__(self, other):
        return _ops.inplace(self, _ops.sub, other)

    def __imul__(self, other):
        return _ops.inplace(self, _ops.mul, other)

    def __itruediv__(self, other):
        return _ops.inplace(self, _ops.div, other)

    def add_(self, other, alpha=1):
        return _ops.inplace(self, _ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, alpha=1):
        return _ops.inplace(self, _ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return _ops.inplace(self, _ops.mul, other)

    def div_(self, other):
        return _ops.inplace(self, _ops.div, other)

    def pow_(self, exponent):
        return _ops.inplace(self, _ops.pow, exponent)

    def clamp_(self, min=None, max=None):
        return _ops.inplace(self, lambda x: _ops.clamp(x, min, max))

    def relu_(self):
        return _ops.inplace(self, _ops.relu)

    def copy_(self, src):
        return _ops.inplace(self, _ops.copy_from, src)

    def zero_(self):
        return _ops.fill_(self, 0)

    def fill_(self, value):
        return _ops.fill_(self, value)

    def __setitem__(self, key, value):
        _ops.setitem(self, key, value)

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    # --- comparisons and logic (no gradient) --------------------------------------------
    def __eq__(self, other):
        return _ops.eq(self, other)

    def __ne__(self, other):
        return _ops.ne(self, other)

    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)

    def __and__(self, other):
        return _ops.logical_and(self, other) if self.dtype == np.bool_ else \
            _ops.bitwise_and(self, other)

    def __or__(self, other):
        return _ops.logical_or(self, other) if self.dtype == np.bool_ else \
            _ops.bitwise_or(self, other)

    def __xor__(self, other):
        return _ops.logical_xor(self, other)

    def __invert__(self):
        return _ops.logical_not(self)


class _HookHandle:
    """Returned by :meth:`Tensor.register_hook`; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


class Size(tuple):
    """A shape, as PyTorch's ``torch.Size``: a tuple that prints as ``ember.Size([2, 3])``."""

    def numel(self):
        return int(np.prod(self, dtype=np.int64))

    def __repr__(self):
        return f"ember.Size({list(self)})"


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number)


from ember import ops as _ops

# Methods that are the op itself, with the tensor as first argument (x.exp() is exp(x)).
for _name in (
        "exp", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "abs", "sign", "sin", "cos",
        "tanh", "sigmoid", "relu", "clamp", "clip", "maximum", "minimum", "neg", "reciprocal",
        "square", "pow", "add", "sub", "mul", "div", "matmul", "mm", "bmm", "floor", "ceil",
        "round",
        "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "prod",
        "logsumexp", "norm", "all", "any", "cumsum",
        "reshape", "view", "permute", "transpose", "squeeze", "unsqueeze", "flatten",
        "unflatten", "expand", "expand_as", "repeat", "split", "chunk", "flip", "roll",
        "view_as", "reshape_as", "gather", "scatter_add", "index_select", "masked_fill",
        "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
        "isnan", "isinf", "isfinite", "softmax", "log_softmax", "allclose",
        "sort", "argsort", "topk", "kthvalue", "cumprod", "cummax", "cummin", "logcumsumexp",
        "tril", "triu", "diag", "diagonal", "trace", "outer", "narrow", "take_along_dim",
        "repeat_interleave", "scatter", "scatter_reduce", "index_add", "index_copy",
        "index_fill", "masked_scatter", "erf", "erfinv", "atan2", "hypot", "lerp",
        "nan_to_num", "addmm", "baddbmm", "addcmul", "addcdiv", "kron", "unique", "nonzero",
        "multinomial", "histc", "bincount"):
    setattr(Tensor, _name, getattr(_ops, _name))


def _inplace_method(op):
    def method(self, *args, **kwargs):
        return _ops.inplace(self, lambda x, *a: op(x, *a, **kwargs), *args)
    method.__name__ = op.__name__ + "_"
    return method


# x.scatter_(...) is x = x.scatter(...) written in place (recorded in a graph)
for _name in ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy",
              "index_fill", "masked_scatter", "masked_fill"):
    setattr(Tensor, _name + "_", _inplace_method(getattr(_ops, _name)))

from ember.ops import creation as _creation  # noqa: E402 - after Tensor, as ops above
from ember.ops import sampling as _sampling  # noqa: E402

for _name in ("new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"):
    setattr(Tensor, _name, getattr(_creation, _name))
for _name in ("random_", "uniform_", "normal_", "bernoulli_", "exponential_"):
    setattr(Tensor, _name, getattr(_sampling, _name))
