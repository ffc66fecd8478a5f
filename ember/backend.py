"""The array backend: the only module that knows NumPy from CuPy.

Everything else asks this module for the array module (``xp``) of its arrays, for a
:class:`Device`, or for the random generator of a device. CuPy is optional: importing ember
never requires it, and ``EMBER_DISABLE_CUDA=1`` hides it even when it is installed.

It also tunes the host allocator (see :func:`keep_freed_host_memory`).
"""
from __future__ import annotations

import ctypes
import os
import platform

import numpy as np

cupy = None
if os.environ.get("EMBER_DISABLE_CUDA", "") not in ("1", "true", "yes"):
    try:  # pragma: no cover - depends on the machine
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            cupy = None
    except Exception:  # ImportError, or a CuPy without a driver
        cupy = None


def keep_freed_host_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 32 MiB for reuse instead of handing
    them back to the system; return whether it took effect.

    A training step allocates and frees activations of several MiB each. By default glibc
    serves such blocks with fresh ``mmap`` pages and unmaps them on free, so every step pays
    a page fault per 4 KiB touched: 40,000 faults, about 15% of a ResNet-20 step on two
    cores (measured; PyTorch's CPU steps gain about 10%). With a 32 MiB mmap threshold and
    a 1 GiB trim threshold they come from the heap and stay there, as a caching allocator
    would keep them; peak memory is unchanged. Called when ember is imported on glibc
    systems, unless ``EMBER_MALLOC_TUNING=0`` or the process set ``MALLOC_*`` itself.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a libc without mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30))


if os.environ.get("EMBER_MALLOC_TUNING", "1") not in ("0", "false", "no") and not any(
        k.startswith("MALLOC_") for k in os.environ):
    keep_freed_host_memory()

# dtypes, exposed as ember.float32 etc. They are NumPy dtype objects, shared with CuPy.
float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_dtype = [float32]


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get from Python floats (float32 unless changed)."""
    return _default_dtype[0]


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (float32 or float64)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype expects a floating dtype, got {dtype}")
    _default_dtype[0] = dtype


def cuda_available() -> bool:
    """True when CuPy imported and sees at least one GPU."""
    return cupy is not None


def cuda_device_count() -> int:
    return cupy.cuda.runtime.getDeviceCount() if cupy is not None else 0


class Device:
    """Where a tensor lives: ``Device("cpu")``, ``Device("cuda")``, ``Device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            spec, index = spec.type, spec.index
        spec = str(spec)
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        if idx:
            if not idx.isdigit():
                raise ValueError(f"bad device index in {spec!r}: expected 'cuda:N'")
            index = int(idx)
        if kind == "cuda" and index is None:
            index = 0
        self.type = kind
        self.index = index if kind == "cuda" else None

    @property
    def xp(self):
        if self.type == "cpu":
            return np
        if cupy is None:
            raise RuntimeError(
                f"device {self} requested but CUDA is not available: install CuPy "
                "(pip install cupy-cuda12x) on a machine with an NVIDIA GPU")
        if self.index >= cuda_device_count():
            raise RuntimeError(f"device {self} requested but only {cuda_device_count()} GPU(s)")
        return cupy

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


CPU = Device("cpu")


def get_array_module(*arrays):
    """``numpy`` or ``cupy``, whichever holds the arrays (numpy when CuPy is absent)."""
    if cupy is not None:
        for a in arrays:
            if isinstance(a, cupy.ndarray):
                return cupy
    return np


def is_array(x) -> bool:
    """Whether ``x`` is a NumPy or a CuPy array."""
    return isinstance(x, np.ndarray) or (cupy is not None and isinstance(x, cupy.ndarray))


def device_of(array) -> Device:
    if cupy is not None and isinstance(array, cupy.ndarray):
        return Device("cuda", array.device.id)
    return CPU


def to_device(array, device):
    """Copy (or pass through) an array onto ``device``."""
    device = Device(device)
    if device.type == "cpu":
        return to_numpy(array)
    xp = device.xp
    with cupy.cuda.Device(device.index):
        return xp.asarray(array)


def to_numpy(array) -> np.ndarray:
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return np.asarray(array)


def memory_owner(array):
    """The object owning ``array``'s memory: the same for an array and all its views."""
    base = getattr(array, "base", None)
    return array if base is None else base


# --- random numbers: one generator per device ------------------------------------------

_generators: dict = {}


def _new_generator(device: Device, seed):
    if device.type == "cpu":
        return np.random.Generator(np.random.PCG64(seed))
    with cupy.cuda.Device(device.index):
        return cupy.random.RandomState(seed)


def generator(device=CPU):
    """The random generator of ``device`` (a NumPy ``Generator`` or a CuPy ``RandomState``)."""
    device = Device(device)
    gen = _generators.get(device)
    if gen is None:
        gen = _generators[device] = _new_generator(device, None)
    return gen


def manual_seed(seed: int, devices=None) -> None:
    """Seed every device's generator (or only those in ``devices``), so that initialisation,
    dropout, shuffling and augmentation repeat exactly: the CPU gets ``seed``, GPU ``k`` gets
    ``seed + 1 + k``."""
    seed = int(seed)
    everyone = [CPU] + [Device("cuda", i) for i in range(cuda_device_count())]
    for i, device in enumerate(everyone):
        if devices is None or device in devices:
            _generators[device] = _new_generator(device, seed + i)


def get_rng_state() -> dict:
    """The CPU generator's state as a JSON-serialisable dict."""
    return generator(CPU).bit_generator.state


def set_rng_state(state: dict) -> None:
    generator(CPU).bit_generator.state = state


def index_add(target, key, values):
    """``target[key] += values`` in place, adding repeated indices (``add.at`` of NumPy or
    CuPy, whichever holds ``target``)."""
    get_array_module(target).add.at(target, key, values)
