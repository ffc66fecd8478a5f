"""Lazy layers: the input size (``in_features``, ``in_channels``, ``num_features``) is read from
the first input, as in PyTorch. Until then the parameters are ``UninitializedParameter``s;
the first call materialises and initialises them and the layer becomes its plain class
(``LazyLinear`` -> ``Linear``). Run one batch through the model before building its optimizer.
"""
from __future__ import annotations

from ember.nn.modules.conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from ember.nn.modules.instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from ember.nn.modules.linear import Linear
from ember.nn.modules.normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d
from ember.nn.parameter import UninitializedBuffer, UninitializedParameter
from ember.ops.creation import empty

__all__ = ["LazyModuleMixin", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
           "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
           "LazyInstanceNorm2d", "LazyInstanceNorm3d"]


def _infer_parameters(module, args):
    """The forward pre-hook of a lazy layer: size it from the input, then become plain."""
    module.initialize_parameters(*args)
    module._lazy_hook.remove()
    del module.__dict__["_lazy_hook"]
    module.__class__ = module.cls_to_become


class LazyModuleMixin:
    """Mixed into a layer class (before it) with ``cls_to_become`` and an
    ``initialize_parameters(input)`` that materialises the uninitialised parameters."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self):
        tensors = (*self._parameters.values(), *self._buffers.values())
        return any(isinstance(t, (UninitializedParameter, UninitializedBuffer))
                   for t in tensors)

    def _uninitialize(self, *names, buffers=()):
        """Replace these parameters (and buffers) by uninitialised ones of their dtype and
        device; absent ones (``bias=False``) stay None."""
        for name in names:
            if self._parameters.get(name) is not None:
                p = self._parameters[name]
                self._parameters[name] = UninitializedParameter(_like(p), p.requires_grad)
        for name in buffers:
            if self._buffers.get(name) is not None:
                self._buffers[name] = UninitializedBuffer(_like(self._buffers[name]))

    def _materialize(self, shapes):
        for name, shape in shapes.items():
            t = self._parameters.get(name, self._buffers.get(name))
            if t is not None:
                t.materialize(shape)

    def reset_parameters(self):
        """Initialise once sized (the plain class's constructor calls this while sizes are
        still 0, where initialisers such as Kaiming's have no fan-in to scale by)."""
        sized = all(t is None or t.array.size for t in self._parameters.values())
        if sized and not self.has_uninitialized_params():
            super().reset_parameters()


def _like(t):
    """An empty (0,) array of ``t``'s dtype and device."""
    return empty(0, dtype=t.dtype, device=t.device).array


def _channels(input, batched_ndim):
    """The channel count: dim 1 of a batched input, dim 0 of an unbatched one (``None``:
    always dim 1, as batch norm's (N, C) and (N, C, L) inputs)."""
    return input.shape[1] if batched_ndim in (None, input.ndim) else input.shape[0]


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`Linear` whose ``in_features`` is the last dimension of its first input.
    Args: out_features, bias=True."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, out_features, bias, device, dtype)
        self._uninitialize("weight", "bias")

    def initialize_parameters(self, input):
        self.in_features = input.shape[-1]
        self._materialize({"weight": (self.out_features, self.in_features),
                           "bias": (self.out_features,)})
        self.reset_parameters()


class _LazyConv(LazyModuleMixin):
    def _lazy_init(self):
        self._uninitialize("weight", "bias")

    def initialize_parameters(self, input):
        self.in_channels = _channels(input, self._d + 2)
        inner = (self.in_channels, self.out_channels // self.groups) if self.transposed else \
            (self.out_channels, self.in_channels // self.groups)
        self._materialize({"weight": (*inner, *self.kernel_size), "bias": (self.out_channels,)})
        self.reset_parameters()


def _lazy_conv(cls):
    """The lazy twin of a convolution class: same arguments without ``in_channels``."""
    def __init__(self, out_channels, kernel_size, *args, **kwargs):
        cls.__init__(self, 0, out_channels, kernel_size, *args, **kwargs)
        self._lazy_init()
        self._lazy_hook = self.register_forward_pre_hook(_infer_parameters)
    lazy = type(f"Lazy{cls.__name__}", (_LazyConv, cls), {
        "cls_to_become": cls, "__init__": __init__, "__module__": __name__,
        "__doc__": f"A :class:`{cls.__name__}` whose ``in_channels`` is read from its first "
                   f"input; arguments as {cls.__name__} without ``in_channels``."})
    return lazy


LazyConv1d, LazyConv2d, LazyConv3d = (_lazy_conv(c) for c in (Conv1d, Conv2d, Conv3d))
LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d = (
    _lazy_conv(c) for c in (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d))


class _LazyNorm(LazyModuleMixin):
    def initialize_parameters(self, input):
        self.num_features = _channels(input, self._batched_ndim)
        shape = (self.num_features,)
        self._materialize({name: shape for name in
                           ("weight", "bias", "running_mean", "running_var")})
        self.reset_parameters()


def _lazy_norm(cls, batched_ndim):
    """The lazy twin of a batch or instance norm class: its arguments without
    ``num_features``, and (as PyTorch) affine and running statistics on by default."""
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):  # PyTorch's defaults for every lazy norm
        cls.__init__(self, 0, eps, momentum, affine, track_running_stats, device, dtype)
        self._uninitialize("weight", "bias", buffers=("running_mean", "running_var"))
        self._lazy_hook = self.register_forward_pre_hook(_infer_parameters)
    return type(f"Lazy{cls.__name__}", (_LazyNorm, cls), {
        "cls_to_become": cls, "__init__": __init__, "_batched_ndim": batched_ndim,
        "__module__": __name__,
        "__doc__": f"A :class:`{cls.__name__}` whose ``num_features`` is read from its first "
                   "input. Args: eps, momentum, affine=True, track_running_stats=True."})


LazyBatchNorm1d = _lazy_norm(BatchNorm1d, None)  # (N, C) or (N, C, L): channels at dim 1
LazyBatchNorm2d = _lazy_norm(BatchNorm2d, None)
LazyBatchNorm3d = _lazy_norm(BatchNorm3d, None)
LazyInstanceNorm1d = _lazy_norm(InstanceNorm1d, 3)
LazyInstanceNorm2d = _lazy_norm(InstanceNorm2d, 4)
LazyInstanceNorm3d = _lazy_norm(InstanceNorm3d, 5)
