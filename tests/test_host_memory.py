"""tinygan.host_memory: freed memory is kept for reuse (fewer page faults), and can be turned off."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tinygan import host_memory

ROOT = Path(__file__).resolve().parents[1]
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A step's worth of arrays made and freed in an order that leaves free space at the heap's
# top, as a training step does; prints the page faults of the last 5 of 8 such steps.
FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "tinygan":
    import tinygan
def step():
    live = []
    for i in range(12):
        live.append(np.ones(1_000_000 + 100_000 * i, np.float32))   # 4.0-8.4 MB each
        if i % 3 == 2:
            live.pop(0)
    del live
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(code: str, *args: str, keep: str = "1") -> str:
    env = dict(os.environ, TINYGAN_KEEP_MEMORY=keep, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_applied_when_tinygan_is_imported():
    assert host_memory.is_applied() is True


def test_opt_out_leaves_malloc_alone():
    code = "import tinygan; print(tinygan.host_memory.is_applied())"
    assert _run(code, keep="0") == "False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keeping_freed_memory_saves_page_faults():
    # Without it glibc trims the freed top of the heap each step and the next step faults
    # every page in again (~31,000 faults here); with it the pages are reused (~2,600).
    default = int(_run(FAULTS, "numpy"))
    kept = int(_run(FAULTS, "tinygan"))
    assert kept * 4 < default, (kept, default)
