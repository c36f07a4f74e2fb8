"""benchmarks/stylegan_quality.py per image (``--images``): either side's step runs in the same
loop and is scored like ``tinygan eval``.  The same seed gives both sides the same batches, so
the images seen are counted the same way, and each prints one JSON line per count in --at."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stylegan_quality.py"


def _run(side: str) -> list:
    out = subprocess.run([sys.executable, str(SCRIPT), "--side", side, "--images", "--at", "32,64",
                          "--n", "500", "--threads", "1", "--seed", "1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _check(rows: list, framework: str) -> None:
    assert [(r["steps"], r["images"]) for r in rows] == [(1, 32), (2, 64)]
    for r in rows:
        assert r["framework"].startswith(framework) and r["n_samples"] == 500
        assert r["seed"] == 1 and r["threads"] == 1
        # a generator after two steps is far from the data: a large FID, a score near 1-2
        assert math.isfinite(r["fid"]) and r["fid"] > 100
        assert 1.0 <= r["classifier_score"] < 10.0


def test_tinygan_side_per_image(mnist):
    _check(_run("tinygan"), "tinygan")


def test_torch_side_per_image(mnist):
    pytest.importorskip("torch")
    _check(_run("torch"), "torch")
