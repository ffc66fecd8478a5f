"""Shared by the mpirun workers: each check is a ``section`` whose verdict every rank writes
to a report file of its own (``$EMBER_TEST_REPORT/rank<r>.txt``; stdout may interleave)."""
import os
import traceback


def section(rank, name):
    def run(fn):
        try:
            fn()
            line = f"PASS {name}"
        except Exception:  # noqa: BLE001 - reported: the test fails on it
            why = traceback.format_exc().strip().splitlines()
            line = f"FAIL {name}: rank {rank}: {' | '.join(why[-3:])}"
        report(rank, line)
    return run


def report(rank, line):
    folder = os.environ.get("EMBER_TEST_REPORT")
    if folder:
        with open(os.path.join(folder, f"rank{rank}.txt"), "a") as f:
            f.write(line + "\n")
    print(line, flush=True)
