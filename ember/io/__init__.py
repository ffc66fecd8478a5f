"""Reading and writing files: pickle-free, atomic, verified checkpoints; PyTorch's files
(``torch.save``), ``.safetensors`` and pickles of NumPy arrays read without running code.

``MAX_LOAD_BYTES``: the most bytes any loader allocates for one file (default 4 GiB; the
environment variable ``EMBER_MAX_LOAD_BYTES`` sets it at import, or assign
``ember.io.MAX_LOAD_BYTES`` at run time). See :mod:`ember.io.limits`.
"""
import sys
import types

from ember.io import limits
from ember.io.checkpoint import CheckpointError, load, load_checkpoint, save, save_checkpoint
from ember.io.limits import LoadLimitError
from ember.io.numpy_pickle import load_numpy_pickle
from ember.io.unpickle import UnsafeFileError

__all__ = ["MAX_LOAD_BYTES", "CheckpointError", "LoadLimitError", "UnsafeFileError", "load",
           "load_checkpoint", "load_numpy_pickle", "save", "save_checkpoint"]


class _IOModule(types.ModuleType):
    """``ember.io.MAX_LOAD_BYTES`` reads and sets ``ember.io.limits.MAX_LOAD_BYTES``, the
    one value every loader checks."""

    @property
    def MAX_LOAD_BYTES(self):
        return limits.MAX_LOAD_BYTES

    @MAX_LOAD_BYTES.setter
    def MAX_LOAD_BYTES(self, value):
        limits.MAX_LOAD_BYTES = int(value)


sys.modules[__name__].__class__ = _IOModule
