"""benchmarks/cyclegan_step.py runs on the CPU and reports what it measured, consistently.

The CUDA path (``--device cuda``, run by ``make gpu-check``) is the same code with a device
string and synchronization; here the smallest run (batch 2, one timed step) checks that both
children start, step and report, and that the printed ratio is the one of the figures.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cyclegan_step.py"


def test_cyclegan_step_benchmark_runs_and_reports(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--batch", "2", "--repeat", "1",
                          "--threads", "1", "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    sides = ["tinygan"] + (["torch"] if "torch" in result else [])
    for side in sides:
        r = result[side]
        assert r["step_s"] > 0
        # images/s is the batch of 2 (domain A's images) over the step's time
        assert r["images_per_s"] == pytest.approx(2 / r["step_s"], rel=1e-12)
        assert f"{side:8s} {r['images_per_s']:9.1f}  {1000 * r['step_s']:8.1f}" in out.stdout
    assert "preset cpu, batch 2, cpu" in out.stdout
    if "torch" in result:
        assert result["torch"]["threads"] == 1
        assert result["ratio"] == pytest.approx(
            result["tinygan"]["images_per_s"] / result["torch"]["images_per_s"], rel=1e-12)
        assert f"ratio tinygan/torch: {result['ratio']:.2f}x" in out.stdout


@pytest.mark.parametrize("bad", [["--repeat", "0"], ["--batch", "0"], ["--device", "tpu"],
                                 ["--preset", "big"]])
def test_cyclegan_step_benchmark_refuses_bad_arguments(bad):
    out = subprocess.run([sys.executable, str(SCRIPT)] + bad, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and ("must be at least 1" in out.stderr
                                    or "invalid choice" in out.stderr), out.stderr
