"""Creating tensors (tensor, zeros, randn, ...) and converting them (clone, cast, to_device)."""
from __future__ import annotations

import numbers

import numpy as np

from ember import backend
from ember.autograd.function import Function
from ember.tensor import Size, Tensor, _as_array


def _sizes(size, keyword=None):
    if keyword is not None:  # zeros(size=(2, 3)), as PyTorch accepts
        if size:
            raise TypeError("pass the size positionally or as size=, not both")
        size = (keyword,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _new(array, requires_grad):
    t = Tensor._make(array)
    return t.requires_grad_(True) if requires_grad else t


def _float_dtype(dtype):
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _xp(device):
    return backend.Device("cpu" if device is None else device).xp


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (lists, numbers, NumPy arrays, tensors)."""
    arr = _as_array(data, dtype, device)
    if arr is data or (isinstance(data, Tensor) and arr is data.array):
        arr = arr.copy()  # never share memory with the source (use as_tensor for that)
    return _new(arr, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like :func:`tensor` but shares memory with a NumPy array of the right dtype."""
    return Tensor._make(_as_array(data, dtype, device))


def from_numpy(array):
    """A tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def zeros(*size_, dtype=None, device=None, requires_grad=False, size=None):
    return _new(_xp(device).zeros(_sizes(size_, size), _float_dtype(dtype)), requires_grad)


def ones(*size_, dtype=None, device=None, requires_grad=False, size=None):
    return _new(_xp(device).ones(_sizes(size_, size), _float_dtype(dtype)), requires_grad)


def empty(*size_, dtype=None, device=None, requires_grad=False, size=None):
    return _new(_xp(device).empty(_sizes(size_, size), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64 if isinstance(
            fill_value, (int, np.integer)) else backend.get_default_dtype()
    return _new(_xp(device).full(tuple(size), fill_value, np.dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else backend.get_default_dtype()
    return _new(_xp(device).arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _new(_xp(device).linspace(start, end, steps, dtype=_float_dtype(dtype)),
                requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _new(_xp(device).eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def random_uniform(shape, low, high, dtype, device):
    gen = backend.generator(device)
    dtype = np.dtype(dtype)
    if isinstance(gen, np.random.Generator):
        u = gen.random(tuple(shape), dtype=dtype if dtype.kind == "f" and dtype.itemsize >= 4
                       else np.float64).astype(dtype, copy=False)
    else:
        u = gen.random_sample(tuple(shape), dtype=dtype)
    return u * (high - low) + low if (low, high) != (0, 1) else u


def random_normal(shape, mean, std, dtype, device):
    gen = backend.generator(device)
    dtype = np.dtype(dtype)
    if isinstance(gen, np.random.Generator):
        z = gen.standard_normal(tuple(shape), dtype=dtype if dtype.kind == "f" and
                                dtype.itemsize >= 4 else np.float64).astype(dtype, copy=False)
    else:
        z = gen.standard_normal(tuple(shape), dtype=dtype)
    return z * std + mean if (mean, std) != (0, 1) else z


def rand(*size_, dtype=None, device=None, requires_grad=False, size=None):
    """Uniform on [0, 1), from the device's seeded generator (see ``ember.manual_seed``)."""
    return _new(random_uniform(_sizes(size_, size), 0, 1, _float_dtype(dtype), device or "cpu"),
                requires_grad)


def randn(*size_, dtype=None, device=None, requires_grad=False, size=None):
    """Standard normal samples, from the device's seeded generator."""
    return _new(random_normal(_sizes(size_, size), 0, 1, _float_dtype(dtype), device or "cpu"),
                requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers in ``[low, high)``: ``randint(low, high, size)`` or ``randint(high, size)``."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    gen = backend.generator(device or "cpu")
    dtype = np.dtype(np.int64 if dtype is None else dtype)
    if isinstance(gen, np.random.Generator):
        return Tensor._make(gen.integers(low, high, tuple(size), dtype=dtype))
    return Tensor._make(gen.randint(low, high, tuple(size), dtype=dtype))


def randperm(n, device=None):
    gen = backend.generator(device or "cpu")
    return Tensor._make(gen.permutation(n).astype(np.int64))


def _like(maker):
    def like(x, dtype=None, device=None, requires_grad=False):
        return maker(*x.shape, dtype=dtype or x.dtype, device=device or x.device,
                     requires_grad=requires_grad)
    like.__name__ = maker.__name__ + "_like"
    like.__doc__ = f"``{maker.__name__}`` with the shape, dtype and device of ``x``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def _new_method(maker):
    def method(x, *size, dtype=None, device=None, requires_grad=False, **kw):
        return maker(*size, dtype=dtype or x.dtype, device=device or x.device,
                     requires_grad=requires_grad, **kw)
    method.__name__ = "new_" + maker.__name__
    method.__doc__ = (f"``{maker.__name__}`` with this tensor's dtype and device unless "
                      "``dtype=`` / ``device=`` are given (PyTorch's ``Tensor.new_*``).")
    return method


new_zeros, new_ones, new_empty, new_full = map(_new_method, (zeros, ones, empty, full))
new_tensor = _new_method(tensor)


def legacy_array(args, dtype=None, device=None, name="Tensor"):
    """The array ``torch.Tensor(*args)`` (or ``torch.LongTensor(*args)``, ...) would hold."""
    want = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    if len(args) == 1 and isinstance(args[0], Size) or not args:
        args = tuple(args[0]) if args else (0,)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        if any(a < 0 for a in args):
            raise RuntimeError(f"{name}: negative dimension in size {tuple(args)}")
        return backend.Device(device or "cpu").xp.empty(tuple(int(a) for a in args), want)
    if len(args) != 1 or isinstance(args[0], (numbers.Number, np.generic)):
        raise TypeError(f"{name}(): expected one data argument (a sequence, an array or a "
                        f"tensor) or sizes (ints), got {tuple(type(a).__name__ for a in args)}")
    if isinstance(args[0], Tensor):
        if dtype is not None and args[0].dtype != want:
            raise TypeError(f"{name}(): expected a tensor of dtype {want}, got {args[0].dtype}")
        want = args[0].dtype  # an alias of the tensor, as PyTorch's
    return _as_array(args[0], want, device)


def _legacy_type(dtype, name):
    def make(*data, device=None):
        return Tensor._make(legacy_array(data, dtype, device, name))
    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"PyTorch's legacy ``torch.{name}(data)`` / ``torch.{name}(*sizes)``: a "
                    f"{np.dtype(dtype)} tensor (data is converted; sizes give an "
                    "uninitialised tensor). A function, not a class: ``isinstance(t, "
                    f"ember.{name})`` does not work; test ``t.dtype`` instead.")
    return make


FloatTensor, DoubleTensor, LongTensor, IntTensor, BoolTensor = (
    _legacy_type(d, n + "Tensor") for d, n in ((np.float32, "Float"), (np.float64, "Double"),
                                              (np.int64, "Long"), (np.int32, "Int"),
                                              (np.bool_, "Bool")))


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


# --- conversions that keep the graph --------------------------------------------------

class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class Cast(Function):
    def forward(self, x, *, dtype):
        self.dtype = x.dtype
        return x.astype(dtype)

    def backward(self, gy):
        return gy.astype(self.dtype)


class ToDevice(Function):
    def forward(self, x, *, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, gy):
        return backend.to_device(gy, self.source)


class CopyFrom(Function):
    """The value of ``src`` broadcast into ``x``'s shape and dtype (``x.copy_(src)``)."""

    def forward(self, x, src):
        return self.xp.broadcast_to(src.astype(x.dtype, copy=False), x.shape).copy()

    def backward(self, gy):
        return None, gy


def clone(x):
    return Clone.apply(x)


def cast(x, dtype):
    return Cast.apply(x, dtype=np.dtype(dtype))


def to_device(x, device):
    return ToDevice.apply(x, device=backend.Device(device))


def copy_from(x, src):
    if not isinstance(src, Tensor):
        src = as_tensor(src)
    if src.device != x.device:
        src = to_device(src, x.device)
    return CopyFrom.apply(x, src)
