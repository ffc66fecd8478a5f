"""The process group: which processes train together, and collectives on ember tensors.

``init_process_group(backend="mpi")`` reads rank and world size from MPI (the processes
``mpirun -n N`` started). Collectives work in place on a tensor's array (host arrays go to
MPI as they are; a GPU tensor is staged through host memory), bump the tensor's version, and
are waited with a deadline, the group's ``timeout``: a collective that does not complete in
time means a peer hung or died, and a rank that waits that long names the ranks that never
reached the collective on stderr and aborts the whole job (``MPI_Abort``) rather than hang.

``new_group(ranks)`` makes a group of some of the default group's processes (its own MPI
communicators); collectives and DDP take it as ``group=`` / ``process_group=``.
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
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "default_pg_timeout",
    "destroy_process_group",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group_of",
    "init_process_group",
    "is_initialized",
    "is_member",
    "new_group",
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
    """Processes that communicate together: ``rank`` of ``size`` (this process's rank in the
    group), ``ranks`` (the group's processes as ranks of the default group), a backend, a
    timeout in seconds."""

    def __init__(self, backend_impl, timeout, ranks=None):
        self.backend = backend_impl
        self.rank, self.size = backend_impl.rank, backend_impl.size
        self.ranks = list(range(self.size)) if ranks is None else list(ranks)
        self.timeout = float(timeout)
        self.seq = 0  # collectives started so far (the same count on every rank)
        self.destroyed = False

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
        silent = [self.ranks[r] for r in self.backend.silent_ranks(work.seq, grace)]
        who = (", ".join(f"rank {r}" for r in silent) + " did not reach it" if silent else "every rank is waiting (they called different collectives)")
        sys.stdout.flush()
        where = f" in the group of ranks {self.ranks}" if _WORLD is not None and \
            self.ranks != _WORLD.ranks else ""
        print(f"ember.distributed: rank {self.ranks[self.rank]}: {work.what}{where} "
              f"(collective #{work.seq}) did "
              f"not complete within {limit:g} s: {who} (hung or dead); aborting the job",
              file=sys.stderr, flush=True)
        self.backend.abort(1)
        raise RuntimeError(f"{work.what} timed out")  # pragma: no cover - Abort ends us


_WORLD = None  # the default process group
_SUBGROUPS = []  # the groups new_group made (destroyed with the default group)


class _WorldMeta(type):
    @property
    def WORLD(cls):  # PyTorch's name
        return _WORLD


class GroupMember(metaclass=_WorldMeta):
    """PyTorch's ``GroupMember``: ``WORLD`` is the default group, ``NON_GROUP_MEMBER`` what
    :func:`new_group` returns on a process outside the new group (collectives on it do
    nothing, as PyTorch)."""
    NON_GROUP_MEMBER = -100


def is_member(group):
    """False for ``GroupMember.NON_GROUP_MEMBER``."""
    return not (isinstance(group, int) and group == GroupMember.NON_GROUP_MEMBER)


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
    """Leave ``group``, by default the default process group and every group made from it
    (MPI itself stays initialised until exit)."""
    global _WORLD
    if group is not None and group is not _WORLD:
        if is_member(group) and not group.destroyed:
            group.backend.destroy()
            group.destroyed = True
        if group in _SUBGROUPS:
            _SUBGROUPS.remove(group)
        return
    if _WORLD is not None:
        while _SUBGROUPS:
            destroy_process_group(_SUBGROUPS[-1])
        _WORLD.backend.destroy()
        _WORLD.destroyed = True
        _WORLD = None


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None, device_id=None):
    """A process group of the default group's processes ``ranks`` (default: all of them),
    PyTorch's ``torch.distributed.new_group``: group rank i is the i-th smallest of
    ``ranks``. Every process of the default group calls it with the same ``ranks`` (PyTorch's
    rule; with MPI only the members communicate, so with
    ``use_local_synchronization=True`` only they need to); a process outside gets
    ``GroupMember.NON_GROUP_MEMBER``. Pass the group as ``group=`` to the collectives (ranks
    and sizes in them are the group's; ``broadcast``'s ``src`` is a global rank,
    ``group_src`` a group rank) or as DistributedDataParallel's ``process_group``. Its
    timeout defaults to the default group's."""
    world = group_of(None, "new_group")
    if backend not in (None, world.backend.name):
        raise ValueError(f"new_group: backend {backend!r} differs from the default group's "
                         f"{world.backend.name!r} (ember has one backend per job)")
    if ranks is None:
        ranks = range(world.size)
    ranks = list(ranks)
    bad = [r for r in ranks if isinstance(r, bool) or not isinstance(r, (int, np.integer))
           or not 0 <= r < world.size]
    if bad or not ranks or len(set(ranks)) != len(ranks):
        raise ValueError(f"new_group: ranks must be distinct ranks of the default group (0 to "
                         f"{world.size - 1}), at least one; got {ranks}")
    ranks = sorted(int(r) for r in ranks)
    if world.rank not in ranks:
        return GroupMember.NON_GROUP_MEMBER
    group = ProcessGroup(world.backend.subgroup(ranks),
                         world.timeout if timeout is None else _seconds(timeout), ranks)
    _SUBGROUPS.append(group)
    return group


def is_initialized() -> bool:
    return _WORLD is not None


def group_of(group, what="distributed"):
    """``group`` or the default group; a ValueError when there is none (or ``group`` was
    destroyed). ``GroupMember.NON_GROUP_MEMBER`` is returned as it is."""
    if group is not None:
        if getattr(group, "destroyed", False):
            raise ValueError(f"{what}: the process group was destroyed")
        return group
    if _WORLD is None:
        raise ValueError(f"{what}: default process group has not been initialized, please "
                         "make sure to call init_process_group.")
    return _WORLD


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (-1 outside it, as PyTorch)."""
    g = group_of(group, "get_rank")
    return g.rank if is_member(g) else -1


def get_world_size(group=None) -> int:
    """The number of processes in ``group`` (-1 outside it, as PyTorch)."""
    g = group_of(group, "get_world_size")
    return g.size if is_member(g) else -1


def get_process_group_ranks(group):
    """The ranks (in the default group) of ``group``'s processes, in group-rank order."""
    g = group_of(group, "get_process_group_ranks")
    if not is_member(g):
        raise ValueError("get_process_group_ranks: this process is not in the group")
    return list(g.ranks)


def get_global_rank(group, group_rank):
    """The default group's rank of ``group``'s rank ``group_rank``."""
    ranks = get_process_group_ranks(group)
    if not 0 <= group_rank < len(ranks):
        raise ValueError(f"get_global_rank: group rank {group_rank} is not in a group of "
                         f"{len(ranks)}")
    return ranks[group_rank]


def get_group_rank(group, global_rank):
    """``group``'s rank of the default group's rank ``global_rank``."""
    ranks = get_process_group_ranks(group)
    if global_rank not in ranks:
        raise ValueError(f"get_group_rank: global rank {global_rank} is not part of the "
                         f"group of ranks {ranks}")
    return ranks.index(global_rank)


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
