"""``ember.distributed``: processes training together, PyTorch's ``torch.distributed`` names.

Start N processes with ``mpirun -n N python script.py``; each calls
``init_process_group("mpi")`` and then ``get_rank()``, ``get_world_size()``, the collectives
(``all_reduce``, ``broadcast``, ``all_gather``, ``reduce_scatter``, ``barrier``; in place on
ember tensors) and ``destroy_process_group()``; ``new_group(ranks)`` makes a group of some of
the processes for them. ``ember.nn.parallel.DistributedDataParallel``
averages gradients over the group, ``ember.nn.SyncBatchNorm`` normalises over the whole
batch, ``ember.data.DistributedSampler`` gives each rank its shard. mpi4py is imported only
by ``init_process_group``.
"""
from ember.distributed.collectives import (
                                           all_gather,
                                           all_gather_into_tensor,
                                           all_reduce,
                                           barrier,
                                           broadcast,
                                           reduce_scatter,
                                           reduce_scatter_tensor,
)
from ember.distributed.mpi import launcher_world_size
from ember.distributed.process_group import (
                                             GroupMember,
                                             ProcessGroup,
                                             ReduceOp,
                                             Work,
                                             default_pg_timeout,
                                             destroy_process_group,
                                             get_backend,
                                             get_global_rank,
                                             get_group_rank,
                                             get_process_group_ranks,
                                             get_rank,
                                             get_world_size,
                                             init_process_group,
                                             is_initialized,
                                             new_group,
)

__all__ = [
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_reduce",
    "barrier",
    "broadcast",
    "default_pg_timeout",
    "destroy_process_group",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "launcher_world_size",
    "new_group",
    "reduce_scatter",
    "reduce_scatter_tensor",
]


def is_available() -> bool:
    """Whether ``ember.distributed`` can be used (always: the package is pure Python)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (checked without initialising MPI)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """False: the NCCL backend is not implemented in ember yet."""
    return False
