"""Reading and writing files: pickle-free, atomic, verified checkpoints."""
from ember.io.checkpoint import CheckpointError, load, load_checkpoint, save, save_checkpoint

__all__ = ["CheckpointError", "load", "load_checkpoint", "save", "save_checkpoint"]
