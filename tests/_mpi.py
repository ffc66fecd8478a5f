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
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
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
                            cwd=str(ROOT))
    if check and result.returncode != 0:
        raise AssertionError(f"mpirun -n {n} {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result
