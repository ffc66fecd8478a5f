"""PyTorch's ``torch.accelerator``: the one kind of accelerator ember drives is an NVIDIA GPU
through CuPy, so these answer about CUDA (``EMBER_DISABLE_CUDA=1`` hides it)."""
from __future__ import annotations

from ember import backend

__all__ = ["current_accelerator", "current_device_index", "device_count", "is_available"]


def is_available() -> bool:
    """Whether a GPU is usable (CuPy imported and sees at least one)."""
    return backend.cuda_available()


def device_count() -> int:
    """How many GPUs ember sees (0 without CUDA)."""
    return backend.cuda_device_count()


def current_accelerator(check_available: bool = False):
    """``ember.device("cuda")`` where a GPU is usable, else None (``check_available`` is
    PyTorch's argument: ember only ever knows an available accelerator)."""
    return backend.Device("cuda") if is_available() else None


def current_device_index() -> int:
    """The GPU that ``"cuda"`` means: 0 in ember (it has no ``set_device``)."""
    if not is_available():
        raise RuntimeError("Cannot access accelerator device when none is available.")
    return 0
