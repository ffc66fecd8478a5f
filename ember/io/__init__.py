"""Reading and writing files: pickle-free, atomic, verified checkpoints.

``MAX_LOAD_BYTES``: the most bytes any loader allocates for one file (default 4 GiB; the
environment variable ``EMBER_MAX_LOAD_BYTES`` sets it at import, or assign
``ember.io.MAX_LOAD_BYTES`` at run time). See :mod:`ember.io.limits`.
"""
from ember.io.checkpoint import CheckpointError, load, load_checkpoint, save, save_checkpoint
from ember.io.limits import LoadLimitError, default_limit

MAX_LOAD_BYTES = default_limit()

__all__ = ["MAX_LOAD_BYTES", "CheckpointError", "LoadLimitError", "load", "load_checkpoint",
           "save", "save_checkpoint"]
