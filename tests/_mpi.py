"""Run a script under ``mpirun -n N`` from a test (the multi-process tests of
ember.distributed, DDP, SyncBatchNorm and ``ember train`` on several processes).

Without mpirun or mpi4py the tests skip, and fail when ``CI`` is set (CI installs Open MPI).
"""
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKERS = Path(__file__).resolve().parent / "distributed"


@functools.cache
def launcher():
    """The mpirun command line prefix, or None where MPI is missing."""
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None or importlib.util.find_spec("mpi4py") is None:
        return None
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                             check=False).stdout
    extra = []
    if "Open MPI" in version or "OpenRTE" in version:
        extra = ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return [mpirun, *extra]


def require_mpi():
    if launcher() is None:
        if os.environ.get("CI"):
            pytest.fail("mpirun or mpi4py is missing: CI must install Open MPI "
                        "(apt-get install openmpi-bin libopenmpi-dev) and mpi4py")
        pytest.skip("needs mpirun and mpi4py (pip install 'ember[distributed]')")


def mpirun(n, *command, timeout=120, env=None, check=True):
    """Run ``command`` (a worker script under tests/distributed, or ``-m ember ...``) on
    ``n`` processes; returns the CompletedProcess (stdout and stderr as text)."""
    require_mpi()
    args = [str(WORKERS / command[0])] + list(command[1:]) if command[0].endswith(".py") \
        else list(command)
    full_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                    PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                    EMBER_DISABLE_CUDA="1", **(env or {}))
    result = subprocess.run([*launcher(), "-n", str(n), sys.executable, *args],
                            capture_output=True, text=True, timeout=timeout, env=full_env,
                            cwd=str(ROOT), check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"mpirun -n {n} {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@functools.cache
def sections(n, script):
    """Run a worker once per session and split its report: each rank writes ``PASS
    <section>`` or ``FAIL <section>: <why>`` lines to a file of its own in
    ``$EMBER_TEST_REPORT``; several test files read the sections. ``script`` is a worker's
    file name, or a tuple of it and its arguments."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        command = script if isinstance(script, tuple) else (script,)
        mpirun(n, *command, env={"EMBER_TEST_REPORT": folder})
        lines = [line for p in sorted(Path(folder).glob("rank*.txt"))
                 for line in p.read_text().splitlines()]
    found = {}
    for line in lines:
        if line.startswith(("PASS ", "FAIL ")):
            verdict, _, rest = line.partition(" ")
            name, _, why = rest.partition(": ")
            found.setdefault(name, []).append((verdict, why))
    return found


def assert_section(n, script, name):
    """Every rank reported PASS for ``name`` (and nothing failed there)."""
    script = script if isinstance(script, (str, tuple)) else tuple(script)
    found = sections(n, script).get(name)
    assert found, f"{script} on {n} processes printed nothing for {name!r}"
    bad = [why for verdict, why in found if verdict == "FAIL"]
    assert not bad, f"{name} on {n} processes: " + "; ".join(bad)
    assert len(found) == n, f"{name}: {len(found)} of {n} ranks reported"


class _Done:
    """An MPI request that is already complete."""

    @staticmethod
    def Test():
        return True


class Loopback:
    """A one-process backend (every collective is the identity): DDP's and SyncBatchNorm's
    logic runs in the test process without MPI. ``stuck=True`` makes requests never
    complete, to test the deadline."""

    name = "loopback"
    rank, size = 0, 1

    def __init__(self, stuck=False):
        self.stuck, self.aborted = stuck, None

    def _request(self):
        return type("Stuck", (), {"Test": staticmethod(lambda: False)})() if self.stuck \
            else _Done()

    def allreduce(self, buf, op):
        return self._request()

    def broadcast(self, buf, src):
        return self._request()

    def allgather(self, send, recv):
        recv[...] = send.reshape(recv.shape)
        return self._request()

    def reduce_scatter_block(self, send, recv, op):
        recv[...] = send.reshape(recv.shape)
        return self._request()

    def barrier(self):
        return self._request()

    @staticmethod
    def test(request):
        return request.Test()

    def silent_ranks(self, seq, grace):
        return []

    def abort(self, code=1):
        self.aborted = code
        raise SystemExit(code)

    def destroy(self):
        pass


def loopback_group(stuck=False, timeout=60.0):
    from ember.distributed import ProcessGroup
    return ProcessGroup(Loopback(stuck), timeout)
