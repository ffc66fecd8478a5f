"""The process group: which processes train together, and collectives on ember tensors.

``init_process_group(backend="mpi")`` reads rank and world size from MPI (the processes
``mpirun -n N`` started). Collectives work in place on a tensor's array (host arrays go to
MPI as they are; a GPU tensor is staged through host memory), bump the tensor's version, and
are waited with a deadline, the group's ``timeout``: a collective that does not complete in
time means a peer hung or died, and a rank that waits that long names the ranks that never
reached the collective on stderr and aborts the whole job (``MPI_Abort``) rather than hang.
"""
from __future__ import annotations

import datetime
import enum
import os
import sys
import time

import numpy as np

from ember import backend
from ember.ops.inplace import increment_version

__all__ = [
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "default_pg_timeout",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "group_of",
    "init_process_group",
    "is_initialized",
]

# PyTorch waits 30 minutes by default; ember 10 (PyTorch's NCCL default), and
# EMBER_DIST_TIMEOUT (seconds) sets the default for programs that do not pass ``timeout``
default_pg_timeout = datetime.timedelta(minutes=10)


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the ranks' values (PyTorch's names;
    ``AVG`` is the sum divided by the world size)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` blocks until it is done (or the
    group's timeout aborts the job); ``is_completed()`` asks without blocking."""

    def __init__(self, group, request, what, finish=None):
        self.group, self.request, self.what, self.finish = group, request, what, finish
        self.seq = group.seq
        self.done = False

    def is_completed(self) -> bool:
        if not self.done and self.group.backend.test(self.request):
            self._complete()
        return self.done

    def wait(self, timeout=None) -> bool:
        if not self.done:
            self.group.wait(self, timeout)
        return True

    def _complete(self):
        self.done = True
        if self.finish is not None:
            self.finish()
            self.finish = None


class ProcessGroup:
    """The processes of one job: ``rank`` of ``size``, a backend, a timeout in seconds."""

    def __init__(self, backend_impl, timeout):
        self.backend = backend_impl
        self.rank, self.size = backend_impl.rank, backend_impl.size
        self.timeout = float(timeout)
        self.seq = 0  # collectives started so far (the same count on every rank)

    def start(self, request, what, finish=None):
        self.seq += 1
        return Work(self, request, what, finish)

    def wait(self, work, timeout=None):
        """Poll ``work`` until it completes; past the deadline, name the silent ranks and
        abort the job (every rank's MPI processes are ended, the exit status is non-zero)."""
        limit = self.timeout if timeout is None else _seconds(timeout)
        start = time.monotonic()
        while not self.backend.test(work.request):
            waited = time.monotonic() - start
            if waited > limit:
                self.fail(work, limit)
            # poll at once for the first millisecond (MPI's own waits spin), then sleep up
            # to 1 ms between polls: ranks often share cores with each other
            time.sleep(0 if waited < 1e-3 else min(waited / 10, 1e-3))
        work._complete()

    def fail(self, work, limit):
        grace = min(max(limit / 2, 1.0), 10.0)
        silent = self.backend.silent_ranks(work.seq, grace)
        who = (", ".join(f"rank {r}" for r in silent) + " did not reach it" if silent else "every rank is waiting (they called different collectives)")
        sys.stdout.flush()
        print(f"ember.distributed: rank {self.rank}: {work.what} (collective #{work.seq}) did "
              f"not complete within {limit:g} s: {who} (hung or dead); aborting the job",
              file=sys.stderr, flush=True)
        self.backend.abort(1)
        raise RuntimeError(f"{work.what} timed out")  # pragma: no cover - Abort ends us


_WORLD = None  # the default process group


def _seconds(timeout):
    return timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the default process group. ``backend="mpi"`` (the default) takes rank and world
    size from MPI, i.e. from ``mpirun -n N``; ``world_size``/``rank`` if given must agree.
    ``timeout`` (a ``timedelta``) bounds every wait: past it the job is aborted with a
    message naming the ranks that did not arrive. ``init_method``, ``store`` and the rest of
    PyTorch's rendezvous arguments have no role with MPI (the launcher did the rendezvous)."""
    global _WORLD
    if _WORLD is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process "
                           "group twice!")
    name = (backend or "mpi").lower()
    if name == "nccl":
        raise RuntimeError("init_process_group: the 'nccl' backend is not implemented in "
                           "ember yet; use backend='mpi' (GPU tensors are staged through host "
                           "memory)")
    if name != "mpi":
        raise ValueError(f"init_process_group: unknown backend {backend!r}; ember has 'mpi'")
    from ember.distributed.mpi import MPIBackend
    impl = MPIBackend()
    for what, given, real in (("world_size", world_size, impl.size), ("rank", rank, impl.rank)):
        if given not in (-1, None) and given != real:
            raise ValueError(f"init_process_group: {what}={given} disagrees with MPI's "
                             f"{what} {real} (mpirun sets both)")
    if timeout is None:
        timeout = float(os.environ.get("EMBER_DIST_TIMEOUT", "") or
                        default_pg_timeout.total_seconds())
    _WORLD = ProcessGroup(impl, _seconds(timeout))


def destroy_process_group(group=None):
    """Leave the default process group (MPI itself stays initialised until exit)."""
    global _WORLD
    if _WORLD is not None and group in (None, _WORLD):
        _WORLD.backend.destroy()
        _WORLD = None


def is_initialized() -> bool:
    return _WORLD is not None


def group_of(group, what="distributed"):
    """``group`` or the default group; a ValueError when there is none."""
    if group is not None:
        return group
    if _WORLD is None:
        raise ValueError(f"{what}: default process group has not been initialized, please "
                         "make sure to call init_process_group.")
    return _WORLD


def get_rank(group=None) -> int:
    return group_of(group, "get_rank").rank


def get_world_size(group=None) -> int:
    return group_of(group, "get_world_size").size


def get_backend(group=None) -> str:
    return group_of(group, "get_backend").backend.name


# --- host staging of tensors ---------------------------------------------------------------
def host_array(array, what):
    """A C-contiguous NumPy array with ``array``'s values: the array itself when it already
    is one (MPI then reads and writes it in place), else a copy (a view, a GPU array)."""
    from ember.distributed.mpi import SUPPORTED
    if array.dtype not in SUPPORTED:
        raise TypeError(f"{what}: tensors of dtype {array.dtype} cannot be communicated "
                        f"(supported: {', '.join(sorted(map(str, SUPPORTED)))})")
    return np.ascontiguousarray(backend.to_numpy(array))


def write_back(tensor, host):
    """Put ``host``'s values into ``tensor``'s array (unless they are already there) and
    record the in-place write."""
    if host is not tensor.array:
        tensor.array[...] = backend.get_array_module(tensor.array).asarray(host)
    increment_version(tensor)
