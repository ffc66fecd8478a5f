"""Data-parallel training over processes (``torch.nn.parallel``)."""
from ember.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
