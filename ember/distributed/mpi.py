"""The MPI backend: collectives over mpi4py's buffer (upper-case) methods on NumPy arrays.

Every collective is started non-blocking (``Iallreduce``, ``Ibcast``, ``Iallgather``,
``Ireduce_scatter_block``, ``Ibarrier``) and waited by the process group, which polls the
request against a deadline: a blocking ``Allreduce`` cannot be given up on when a peer hangs,
a polled ``Iallreduce`` can (``ProcessGroup.wait``). mpi4py is imported here, lazily: importing
``mpi4py.MPI`` initialises MPI, which only a process that asks for a process group should do.
"""
from __future__ import annotations

import time

import numpy as np

_HANG_TAG = 7131  # point-to-point tag of the "I am waiting at collective #k" reports

# dtypes MPI reduces natively (float16 has no MPI type)
SUPPORTED = {np.dtype(t) for t in ("float32", "float64", "complex64", "complex128", "int8",
                                   "int16", "int32", "int64", "uint8", "bool")}


def load_mpi():
    """``mpi4py.MPI``, or a RuntimeError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise RuntimeError("init_process_group(backend='mpi') needs mpi4py and an MPI "
                           "runtime: pip install 'ember[distributed]' (and Open MPI: apt-get "
                           f"install openmpi-bin libopenmpi-dev); {e}") from None
    return MPI


class MPIBackend:
    """One communicator (a duplicate of ``COMM_WORLD``, so ember's collectives never mix with
    the user's own MPI traffic) and a second one for fault reports."""

    name = "mpi"

    def __init__(self):
        MPI = self.MPI = load_mpi()
        self.comm = MPI.COMM_WORLD.Dup()
        self.control = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.ops = {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN,
                    "max": MPI.MAX}

    def subgroup(self, ranks):
        """A backend over this one's processes ``ranks`` (sorted; group rank i is
        ``ranks[i]``), built with ``MPI_Comm_create_group``: only those processes call it.
        Its two communicators are derived from this backend's, so its traffic never mixes
        with theirs."""
        sub = object.__new__(MPIBackend)
        sub.MPI, sub.ops = self.MPI, self.ops
        sub.comm, sub.control = (c.Create_group(c.Get_group().Incl(list(ranks)))
                                 for c in (self.comm, self.control))
        sub.rank, sub.size = sub.comm.Get_rank(), sub.comm.Get_size()
        return sub

    # --- collectives on contiguous host arrays; each returns an MPI request ------------------
    def allreduce(self, buf, op):
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.ops[op])

    def broadcast(self, buf, src):
        return self.comm.Ibcast(buf, root=src)

    def allgather(self, send, recv):
        return self.comm.Iallgather(send, recv)

    def reduce_scatter_block(self, send, recv, op):
        return self.comm.Ireduce_scatter_block(send, recv, op=self.ops[op])

    def barrier(self):
        return self.comm.Ibarrier()

    @staticmethod
    def test(request):
        return request.Test()

    # --- faults ------------------------------------------------------------------------------
    def silent_ranks(self, seq, grace):
        """Tell every rank "I am stuck at collective ``seq``" and listen for ``grace`` seconds
        for the same report from the others: the ranks never heard from are the ones that
        did not reach the collective (hung, busy or dead)."""
        note = np.array([seq], dtype=np.int64)
        sends = [self.control.Isend(note, dest=r, tag=_HANG_TAG)
                 for r in range(self.size) if r != self.rank]
        heard, status, got = {self.rank}, self.MPI.Status(), np.empty(1, np.int64)
        deadline = time.monotonic() + grace
        while len(heard) < self.size and time.monotonic() < deadline:
            if self.control.Iprobe(source=self.MPI.ANY_SOURCE, tag=_HANG_TAG, status=status):
                self.control.Recv(got, source=status.Get_source(), tag=_HANG_TAG)
                heard.add(status.Get_source())
            else:
                time.sleep(0.01)
        del sends  # never waited: the job is aborted next
        return sorted(set(range(self.size)) - heard)

    def abort(self, code=1):
        self.MPI.COMM_WORLD.Abort(code)

    def destroy(self):
        for comm in (self.comm, self.control):
            comm.Free()


def launcher_world_size():
    """The number of processes an MPI launcher started this one among (Open MPI's, MPICH's
    or PMIx's environment), or None outside ``mpirun``; read without initialising MPI."""
    import os
    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return None
