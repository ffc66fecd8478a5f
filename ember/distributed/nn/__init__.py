"""Collectives that autograd records (``torch.distributed.nn``)."""
from ember.distributed.nn import functional

__all__ = ["functional"]
