"""Wall time of a 1-epoch MNIST DCGAN run through the CLI, against the PyTorch recipe.

The target: ``tinygan train dcgan --epochs 1`` within 1.25x
the wall time of the same recipe in PyTorch on the same machine.  Both are timed as
whole processes, start to exit -- imports, loading MNIST, 937 steps of batch 64 -- so
tinygan pays for everything its CLI does around the steps (the progress bar is off
with ``--quiet``; the epoch's sample grid, losses.png, metrics.jsonl and checkpoint are
written as always) and PyTorch for its imports (``dcgan_quality_torch.py
--train-only``: the same network, initialization, loss, optimizer and batch, no
scoring).  The two alternate ``--rounds`` times with the same thread count; the
fastest of each is kept.

    python benchmarks/dcgan_epoch.py [--rounds 1] [--threads 1] [--epochs 1]

Ratio: tinygan wall time / PyTorch wall time (lower is better; target <= 1.25).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import sides as available_sides, thread_env  # noqa: E402
ROOT = os.path.dirname(HERE)


def timed(cmd: list, env: dict) -> float:
    """Seconds from start to exit of ``cmd`` (run from the repository root); raises on failure."""
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    env, have_torch = thread_env(args.threads), "torch" in available_sides()
    best = {"tinygan": float("inf"), "torch": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            run = os.path.join(tmp, f"run{r}")
            best["tinygan"] = min(best["tinygan"], timed(
                [sys.executable, "-m", "tinygan", "train", "dcgan", "--epochs", str(args.epochs),
                 "--device", "cpu", "--out", run, "--quiet"], env))
            print(f"round {r + 1}: tinygan {best['tinygan']:.0f} s", flush=True)
            if have_torch:
                best["torch"] = min(best["torch"], timed(
                    [sys.executable, os.path.join(HERE, "dcgan_quality_torch.py"), "--epochs",
                     str(args.epochs), "--device", "cpu", "--train-only"], env))
                print(f"round {r + 1}: torch {best['torch']:.0f} s", flush=True)
    print(f"DCGAN, {args.epochs} epoch(s) of MNIST through the CLI, {args.threads} thread(s), "
          f"best of {args.rounds}, load average {os.getloadavg()[0]:.1f}")
    print(f"  tinygan  {best['tinygan']:7.1f} s")
    if have_torch:
        print(f"  torch    {best['torch']:7.1f} s")
        print(f"  ratio tinygan/torch wall time: {best['tinygan'] / best['torch']:.2f}x (target <= 1.25x)")


if __name__ == "__main__":
    main()
