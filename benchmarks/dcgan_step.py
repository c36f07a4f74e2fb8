"""Images per second of a full DCGAN training step, tinygan against PyTorch, and peak memory.

One step is what the trainer does per batch: a D update (real batch and a batch
of fakes made without a graph into G, non-saturating GAN loss, Adam) then a G
update (fresh fakes through D, Adam), batch 64, the canonical 28x28 DCGAN of
tinygan/models/dcgan.py.  PyTorch runs the same network, losses and optimizer
settings.  Each framework runs in its own subprocess, so each one's peak
memory (the growth of the resident set over the process's state after building
the model: activations, gradients, optimizer state, workspace) is its own; the
two subprocesses alternate ``--rounds`` times and the best images/s of each is
kept (least disturbed by other load on a shared machine).

    python benchmarks/dcgan_step.py [--steps 20] [--rounds 3] [--threads 2] [--json OUT]

Ratio: tinygan images/s / PyTorch images/s (higher is better; target >= 0.8).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import sides as available_sides, thread_env  # noqa: E402


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    """Reset the peak-RSS mark to the current RSS (Linux: clear_refs 5); return the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def _measure(step, steps: int, batch: int) -> dict:
    """Run ``step`` once to warm up, then ``steps`` times: images/s and peak memory growth."""
    base = _reset_peak()
    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t
    return {"images_per_s": steps * batch / dt, "peak_mb": _status_mb("VmHWM") - base}


def run_tinygan(steps: int, batch: int) -> dict:
    sys.path.insert(0, os.path.join(HERE, ".."))
    import numpy as np
    import tinygan
    from tinygan.kernels.host_memory import keep_freed_memory
    keep_freed_memory()     # as the trainer and the CLI do (import tinygan leaves malloc alone)
    from side_by_side import dcgan_optimizers, gan_step
    from tinygan.models import FAMILIES
    tinygan.manual_seed(0)
    model = FAMILIES["dcgan"]()
    d_opt, g_opt = dcgan_optimizers(model)
    real = tinygan.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32))
    def step():
        gan_step(model, d_opt, g_opt, real, batch)

    return _measure(step, steps, batch)


def run_torch(steps: int, batch: int) -> dict:
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    sys.path.insert(0, HERE)
    from torch_dcgan import build
    G, D = build(torch)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    def step():
        with torch.no_grad():
            fake = G(torch.randn(batch, 100))
        loss_d = (F.binary_cross_entropy_with_logits(D(real), ones)
                  + F.binary_cross_entropy_with_logits(D(fake), zeros))
        d_opt.zero_grad()
        loss_d.backward()
        d_opt.step()
        # D's weights are constants in G's step (tinygan's families freeze them the same way),
        # so neither framework computes D's weight gradients there.
        D.requires_grad_(False)
        loss_g = F.binary_cross_entropy_with_logits(D(G(torch.randn(batch, 100))), ones)
        g_opt.zero_grad()
        loss_g.backward()
        g_opt.step()
        D.requires_grad_(True)

    return dict(_measure(step, steps, batch), torch=torch.__version__,
                threads=torch.get_num_threads())


def child(side: str, steps: int, batch: int) -> None:
    result = run_tinygan(steps, batch) if side == "tinygan" else run_torch(steps, batch)
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json")
    ap.add_argument("--child", choices=["tinygan", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.steps, args.batch)
    env, sides = thread_env(args.threads), available_sides()
    best: dict = {}
    for _ in range(args.rounds):
        for side in sides:
            out = subprocess.run([sys.executable, __file__, "--child", side, "--steps", str(args.steps),
                                  "--batch", str(args.batch)], env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{side} failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if side not in best or r["images_per_s"] > best[side]["images_per_s"]:
                best[side] = r
    print(f"DCGAN training step (D then G), batch {args.batch}, {args.steps} steps, best of "
          f"{args.rounds} rounds, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    for side in sides:
        print(f"  {side:8s} {best[side]['images_per_s']:8.0f} images/s   peak memory "
              f"+{best[side]['peak_mb']:.0f} MiB")
    if "torch" in best:
        ratio = best["tinygan"]["images_per_s"] / best["torch"]["images_per_s"]
        best["ratio"] = ratio
        print(f"  ratio tinygan/torch: {ratio:.2f}x (target >= 0.8x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(best, f, indent=1)


if __name__ == "__main__":
    main()
