"""tinygan.kernels.host_memory: freed memory is kept for reuse (fewer page faults), only where
a tinygan process asks for it (the CLI, the trainer), and can be turned off.

``import tinygan`` must leave malloc alone: a library does not change process-wide settings.
That is observed from outside, in a fresh process, by the page faults of a step's worth of
arrays made and freed: with malloc's defaults every step faults its pages in again."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tinygan.kernels import host_memory

ROOT = Path(__file__).resolve().parents[2]
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A step's worth of arrays made and freed in an order that leaves free space at the heap's
# top, as a training step does; prints the page faults of the last 5 of 8 such steps.
FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] in ("import", "keep"):
    import tinygan
if sys.argv[1] == "keep":
    tinygan.kernels.host_memory.keep_freed_memory()
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


def test_import_leaves_malloc_alone():
    code = "import tinygan; print(tinygan.kernels.host_memory.is_applied())"
    assert _run(code) == "None"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_cli_turns_it_on():
    code = ("import tinygan.cli, tinygan.kernels.host_memory as h; "
            "tinygan.cli.main(['models']); print(h.is_applied())")
    assert _run(code).splitlines()[-1] == "True"


def test_trainer_turns_it_on(monkeypatch):
    # fit() asks for it before its first step; stop it right there (no data, no model needed)
    from tinygan.train import loop

    class Asked(Exception):
        pass

    def keep():
        raise Asked
    monkeypatch.setattr(loop, "keep_freed_memory", keep)
    with pytest.raises(Asked):
        loop.fit(None, None, None, {}, model_name="dcgan", dataset="mnist", epochs=1)


def test_opt_out_leaves_malloc_alone():
    code = ("import tinygan; print(tinygan.kernels.host_memory.keep_freed_memory(), "
            "tinygan.kernels.host_memory.is_applied())")
    assert _run(code, keep="0") == "False False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keeping_freed_memory_saves_page_faults():
    # Without it glibc trims the freed top of the heap each step and the next step faults
    # every page in again (~31,000 faults here); with it the pages are reused (~2,600).
    # Importing tinygan alone must not change that: it faults like NumPy alone.
    default = int(_run(FAULTS, "numpy"))
    imported = int(_run(FAULTS, "import"))
    kept = int(_run(FAULTS, "keep"))
    assert kept * 4 < default, (kept, default)
    assert kept * 4 < imported, (kept, imported)
