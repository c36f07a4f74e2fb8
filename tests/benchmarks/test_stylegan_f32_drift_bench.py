"""benchmarks/stylegan_f32_drift.py: tinygan's and the twin's float64 steps agree to rounding, and
each float32 run drifts from its float64 run by a small but nonzero amount (its rounding)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")      # the twin's side
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stylegan_f32_drift.py"


def test_float64_runs_agree_and_float32_runs_drift_by_rounding():
    out = subprocess.run([sys.executable, str(SCRIPT), "--steps", "3", "--batch", "8"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = re.findall(r"^\s+(\d+)" + r"\s+(\S+)" * 6 + r"\s*$", out.stdout, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 3], out.stdout
    for _, *cells in rows:
        tg_g, tg_d, tw_g, tw_d, both_g, both_d = (float(c) for c in cells)
        assert both_g < 1e-12 and both_d < 1e-12           # float64: the same step
        for d in (tg_g, tg_d, tw_g, tw_d):                   # float32: rounding, not a bug
            assert 0 < d < 1e-3
