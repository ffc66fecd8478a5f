"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict; and the
trivial layers Identity, Flatten and Unflatten."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter
from ember.tensor import Tensor

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
           "Identity", "Flatten", "Unflatten"]


class _Numbered(Module):
    """Children numbered ``0``, ``1``, ... in order (Sequential, ModuleList)."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class Sequential(_Numbered):
    """Modules called in order; ``Sequential(a, b)`` or ``Sequential(OrderedDict(...))``."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[idx]


class ModuleList(_Numbered):
    """A list of modules whose parameters are registered (keys ``0``, ``1``, ...)."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[str(idx % len(self))]

    def __setitem__(self, idx, module):
        self.add_module(str(idx % len(self)), module)


    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)


class ModuleDict(Module):
    """A dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Identity(Module):
    """Returns its input (a placeholder, e.g. where a model drops a layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        return x.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# --- parameter containers -----------------------------------------------------------------

def _as_parameter(value):
    """A Tensor that is not a Parameter becomes one (sharing its memory), as in PyTorch;
    Parameters and other objects are stored as they are."""
    return Parameter(value) if isinstance(value, Tensor) and not isinstance(value, Parameter) \
        else value


def _store(module, name, value):
    """Set ``name`` to ``value``; a Parameter replacing a Parameter keeps its place in the
    state_dict order, as in PyTorch."""
    value = _as_parameter(value)
    if isinstance(value, Parameter) and name in module._parameters:
        module._parameters[name] = value
    else:
        setattr(module, name, value)


def _describe(value, typename):
    """One line of a parameter container's repr, in PyTorch's words."""
    if not isinstance(value, Tensor):
        return f"Object of type: {type(value).__name__}"
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    size = "x".join(str(n) for n in value.shape)
    device = f" ({value.device})" if value.device.type != "cpu" else ""
    return f"{kind} containing: [{typename(value)} of size {size}{device}]"


def _repr(module):
    """PyTorch's Module repr for a container whose lines are all in ``extra_repr``."""
    extra = module.extra_repr()
    lines = extra.split("\n") if extra else []
    if len(lines) > 1:
        return f"{type(module).__name__}(\n  " + "\n  ".join(lines) + "\n)"
    return f"{type(module).__name__}({extra})"


class ParameterList(Module):
    """A list of parameters registered under the names ``0``, ``1``, ... (their state_dict
    keys), so a model can hold a variable number of them. Tensors appended become
    Parameters; other objects are kept but not registered.

    ``ParameterList([p0, p1])``; ``append``, ``extend``, ``+=``, ``pl[i]`` (negative and
    slices too), ``pl[i] = p``, ``len``, iteration.
    """

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _index(self, idx):
        idx = int(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"ParameterList: index {idx} is out of range for a list of "
                             f"{len(self)}")
        return idx % len(self)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(len(self))[idx]])
        return getattr(self, str(self._index(idx)))

    def __setitem__(self, idx, value):
        _store(self, str(self._index(idx)), value)

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        """Add ``value`` at the end (a Tensor becomes a Parameter); returns the list."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values):
        """Append every item of the iterable ``values``; returns the list."""
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(f"  ({i}): {_describe(p, lambda t: f'ember.{t.dtype}')}"
                         for i, p in enumerate(self))

    __repr__ = _repr

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """A dict of parameters registered under their (string) keys, which are their state_dict
    keys. Tensors stored become Parameters; other objects are kept but not registered.

    Dict methods: ``pd[k]``, ``pd[k] = p``, ``del pd[k]``, ``in``, ``len``, iteration over
    keys, ``keys/values/items``, ``get``, ``pop``, ``popitem``, ``setdefault``, ``update``,
    ``clear``, ``copy``, ``fromkeys``, ``|``. As in PyTorch, ``update`` with a plain dict
    inserts in sorted key order (an OrderedDict or ParameterDict keeps its order).
    """

    def __init__(self, parameters=None):
        super().__init__()
        self._keys = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _check_key(key):
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict: keys must be strings, got {type(key).__name__}")
        return key

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        self._keys[self._check_key(key)] = None
        _store(self, key, value)

    def __delitem__(self, key):
        del self._keys[key]
        delattr(self, key)

    def __len__(self):
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __reversed__(self):
        return reversed(list(self._keys))

    def __contains__(self, key):
        return key in self._keys

    def keys(self):
        return self._keys.keys()

    def values(self):
        return [self[k] for k in self._keys]

    def items(self):
        return [(k, self[k]) for k in self._keys]

    def get(self, key, default=None):
        return getattr(self, key) if key in self._keys else default

    def pop(self, key):
        """Remove ``key`` and return its value."""
        value = self[key]
        del self[key]
        return value

    def popitem(self):
        """Remove and return the last inserted ``(key, value)``."""
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        for key in list(self._keys):
            del self[key]

    def copy(self):
        """A new ParameterDict holding the same parameters (not copies of them)."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys, default=None):
        """A new ParameterDict with ``keys``, each holding ``default``."""
        return ParameterDict((k, default) for k in keys)

    def update(self, values):
        """Add the pairs of a mapping, a ParameterDict or an iterable of ``(key, value)``."""
        if isinstance(values, (OrderedDict, ParameterDict)):
            pairs = list(values.items())
        elif isinstance(values, Mapping):
            pairs = sorted(values.items())
        elif isinstance(values, Iterable) and not isinstance(values, (str, Tensor)):
            pairs = []
            for j, pair in enumerate(values):
                if not isinstance(pair, Iterable) or len(pair := tuple(pair)) != 2:
                    raise ValueError(f"ParameterDict.update: element #{j} of the iterable is "
                                     f"not a (key, value) pair")
                pairs.append(pair)
        else:
            raise TypeError(f"ParameterDict.update should be called with an iterable of "
                            f"key/value pairs, but got {type(values).__name__}")
        for key, value in pairs:
            self[key] = value

    def __or__(self, other):
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other):
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other):
        self.update(other)
        return self

    def extra_repr(self):
        return "\n".join(f"  ({k}): {_describe(p, lambda t: f'ember.{t.dtype}')}"
                         for k, p in self.items())

    __repr__ = _repr

    def __call__(self, *args, **kwargs):
        raise RuntimeError("ParameterDict should not be called.")
