"""benchmarks/thread_overhead.py runs and reports what it measured: the cost of one map, and a
StyleGAN-lite step's time split between the calling thread and the helper (which must have
taken part of the work: otherwise the pool would not be splitting anything)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "thread_overhead.py"


def test_thread_overhead_benchmark_runs_and_the_helper_takes_work():
    out = subprocess.run([sys.executable, str(SCRIPT), "--threads", "2", "--steps", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    maps = re.findall(r"items of +(\d+) us: both in the caller +(\d+) us, split +(\d+) us", out.stdout)
    assert len(maps) == 3 and all(int(a) > 0 and int(b) > 0 and int(c) > 0 for a, b, c in maps)
    assert re.search(r"1 thread : +[\d.]+ ms a step", out.stdout)
    m = re.search(r"2 threads: +([\d.]+) ms a step, (\d+) maps; the caller +([\d.]+) ms in items "
                  r"and +([\d.-]+) ms outside them, the helpers +([\d.]+) ms in items", out.stdout)
    assert m, out.stdout
    step, n_maps, caller, _, helpers = (float(v) for v in m.groups())
    assert n_maps > 0 and caller > 0 and helpers > 0 and caller < step
