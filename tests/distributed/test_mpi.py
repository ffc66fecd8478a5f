"""The MPI backend: the launcher's world size, and faults: a rank killed or hung on purpose
makes the whole job exit non-zero within the timeout, naming the rank, and a checkpoint
written before the fault stays intact (tests/distributed/_worker_fault.py)."""
import time

import numpy as np
import pytest
from _mpi import mpirun

import ember
from ember.distributed.mpi import launcher_world_size


def test_launcher_world_size(monkeypatch):
    for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert launcher_world_size() is None
    monkeypatch.setenv("PMI_SIZE", "4")
    assert launcher_world_size() == 4
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
    assert launcher_world_size() == 3


@pytest.mark.parametrize("mode, n", [("kill", 2), ("hang", 3), ("error", 2)])
def test_a_failed_rank_stops_the_job_naming_it(mode, n, tmp_path):
    path = tmp_path / "before.ckpt"
    start = time.monotonic()
    result = mpirun(n, "_worker_fault.py", mode, str(path), timeout=60, check=False,
                    env={"EMBER_DIST_TIMEOUT": "60"})
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert "was never stopped" not in output
    last = n - 1
    if mode == "kill":  # Open MPI's launcher names the dead rank
        assert f"rank {last}" in output, output
    elif mode == "error":  # the failing rank aborts the job as it exits, not after 60 s
        assert f"ember: rank {last} stopped before the end of the run" in output, output
    else:  # the watchdog: 2 s timeout, then the live ranks name the silent one
        assert f"did not complete within 2 s: rank {last} did not reach it" in output, output
        assert "rank 1 did not" not in output or last == 1
    saved = ember.load(path)
    assert saved["step"] == 2 and np.all(saved["t"].numpy() == n ** 2)
