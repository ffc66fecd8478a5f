"""The host allocator tuning in ember.backend: freed activation-sized blocks are reused."""
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt is glibc's")

# like a training step: hold six 8 MiB activations, free them all, again; print the page
# faults of the last 9 rounds (by default glibc trims the freed top of the heap each time)
SCRIPT = """
import resource, numpy as np, ember
def step():
    return [np.ones(1 << 21, np.float32) for _ in range(6)]
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(9):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=dict(base, **env),
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@glibc
def test_freed_blocks_are_reused_without_page_faults():
    assert faults() < 500  # 9 x 6 x 2048 pages fault without the tuning


@glibc
def test_can_be_turned_off():
    assert faults(EMBER_MALLOC_TUNING="0") > 9 * 2048
