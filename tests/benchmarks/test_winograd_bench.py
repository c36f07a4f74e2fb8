"""benchmarks/winograd.py: its Winograd convolutions (both forms) are right, and it reports
what it measured.

The script's claim (benchmarks/README.md, "Winograd in NumPy") is about the speed of a
correct F(2x2, 3x3) convolution, so the float64 agreement with ``F.conv2d`` that it checks
before timing is asserted here, and a wrong input shape must be refused by name.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "winograd.py"


def test_winograd_benchmark_agrees_with_conv2d_and_reports(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--repeat", "1", "--json", str(tmp_path / "w.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "w.json").read_text())
    # float64 rounding of two different summation orders over 9*C terms: ~1e-15
    assert result["max_rel_diff_f64"] < 1e-12
    assert [r["shape"] for r in result["rows"]] == [[64, 32, 32, 32], [64, 32, 16, 32], [64, 64, 8, 64]]
    for r in result["rows"]:
        assert r["tinygan_ms"] > 0 and r["winograd_ms"] > 0 and r["gemm_ms"] > 0
        assert r["winograd_matrix_ms"] > 0
        n, c, h, o = r["shape"]
        assert abs(r["gemm_gflops"] - 2 * n * h * h * 9 * c * o / r["gemm_ms"] / 1e6) < 1e-9 * r["gemm_gflops"]
        assert f"{r['tinygan_ms']:10.2f} {r['winograd_ms']:11.2f}" in out.stdout


def test_winograd_refuses_odd_sizes_and_wrong_weights():
    code = (
        "import sys, numpy as np; sys.path.insert(0, %r); import winograd as wg\n"
        "for form in (wg.winograd_conv3x3, wg.winograd_conv3x3_matrix):\n"
        "    for xs, ws in [((1, 5, 4, 3), (2, 3, 3, 3)), ((1, 4, 4, 3), (2, 4, 3, 3))]:\n"
        "        try:\n"
        "            form(np.zeros(xs), np.zeros(ws))\n"
        "        except ValueError as e:\n"
        "            assert form.__name__ + ':' in str(e) and str(xs) in str(e), e\n"
        "        else:\n"
        "            raise SystemExit('not refused: %%s %%s %%s' %% (form.__name__, xs, ws))\n"
    ) % str(SCRIPT.parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
