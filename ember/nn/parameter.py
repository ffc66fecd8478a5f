"""Parameter: a tensor that a Module registers as trainable."""
from __future__ import annotations

from ember import backend
from ember.tensor import Tensor, _as_array


class Parameter(Tensor):
    """A leaf tensor that requires grad and is registered when assigned to a Module."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _as_array([])
        self._init(_as_array(data))
        self.requires_grad = bool(requires_grad) and self.array.dtype.kind in "fc"

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """Marks a tensor to register as a (persistent by default) buffer when assigned."""

    __slots__ = ("persistent",)

    def __init__(self, data, persistent=True):
        self._init(_as_array(data))
        self.persistent = persistent


class _Uninitialized:
    """A tensor of a lazy layer whose shape is not known until the first input: it holds no
    values (an empty array of the right dtype and device) until ``materialize``."""

    __slots__ = ()

    def materialize(self, shape):
        """Give it an (uninitialised) array of ``shape``; it becomes its plain class."""
        xp = backend.get_array_module(self.array)
        self.array = xp.empty(shape, self.array.dtype)
        self.__class__ = self._plain

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter of a lazy layer, sized and initialised on the layer's first call."""

    __slots__ = ()
    _plain = Parameter


class UninitializedBuffer(_Uninitialized, Buffer):
    """A buffer of a lazy layer (running statistics), sized on the layer's first call."""

    __slots__ = ()
    _plain = Buffer
