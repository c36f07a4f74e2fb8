"""Images per second of a DCGAN training step on a GPU: tinygan (CuPy) against PyTorch (CUDA).

The step is benchmarks/dcgan_step.py's (a D update, then a G update with D's weights
frozen; non-saturating loss; Adam 2e-4, betas (0.5, 0.999); the canonical 28x28 DCGAN of
tinygan/models/dcgan.py), run on ``cuda`` at several batch sizes.  Each framework runs
in its own subprocess; timing brackets ``--steps`` steps with a device synchronize at
both ends, after ``--warmup`` steps (CuPy compiles its elementwise kernels on first use;
cuDNN picks its algorithms).  Peak GPU memory: CuPy's memory pool high-water mark
(``used_bytes`` sampled after each step -- an underestimate of the true peak inside a
step) and ``torch.cuda.max_memory_allocated``.

    python benchmarks/gpu_dcgan_step.py [--batches 64 256 1024] [--steps 30] [--json OUT]

Ratio: tinygan images/s / PyTorch images/s (higher is better).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_tinygan(batch: int, steps: int, warmup: int) -> dict:
    sys.path.insert(0, os.path.join(HERE, ".."))
    import cupy
    import tinygan
    sys.path.insert(0, HERE)
    from side_by_side import dcgan_optimizers, gan_step
    from tinygan.models import FAMILIES
    tinygan.manual_seed(0)
    model = FAMILIES["dcgan"]().to("cuda")
    d_opt, g_opt = dcgan_optimizers(model)
    real = tinygan.rand(batch, 1, 28, 28, device="cuda") * 2 - 1
    pool = cupy.get_default_memory_pool()
    peak = [0]

    def step():
        gan_step(model, d_opt, g_opt, real, batch)
        peak[0] = max(peak[0], pool.used_bytes())

    for _ in range(warmup):
        step()
    cupy.cuda.Device().synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    cupy.cuda.Device().synchronize()
    dt = time.perf_counter() - t
    return {"images_per_s": steps * batch / dt, "ms_per_step": 1e3 * dt / steps,
            "peak_gpu_mb": peak[0] / 2 ** 20, "cupy": cupy.__version__}


def run_torch(batch: int, steps: int, warmup: int) -> dict:
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    dev = "cuda"
    torch.backends.cudnn.benchmark = True
    sys.path.insert(0, HERE)
    from torch_dcgan import build
    G, D = build(torch)
    G, D = G.to(dev), D.to(dev)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, 28, 28, device=dev) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=dev), torch.zeros(batch, 1, device=dev)

    def step():
        with torch.no_grad():
            fake = G(torch.randn(batch, 100, device=dev))
        loss_d = (F.binary_cross_entropy_with_logits(D(real), ones)
                  + F.binary_cross_entropy_with_logits(D(fake), zeros))
        d_opt.zero_grad()
        loss_d.backward()
        d_opt.step()
        D.requires_grad_(False)
        loss_g = F.binary_cross_entropy_with_logits(D(G(torch.randn(batch, 100, device=dev))), ones)
        g_opt.zero_grad()
        loss_g.backward()
        g_opt.step()
        D.requires_grad_(True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return {"images_per_s": steps * batch / dt, "ms_per_step": 1e3 * dt / steps,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2 ** 20, "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        side, batch = args.child[0], int(args.child[1])
        fn = run_tinygan if side == "tinygan" else run_torch
        print(json.dumps(fn(batch, args.steps, args.warmup)))
        return
    rows = []
    print(f"{'batch':>6} {'tinygan img/s':>14} {'torch img/s':>12} {'ratio':>6} "
          f"{'tinygan ms':>10} {'torch ms':>9} {'tg MiB':>7} {'pt MiB':>7}")
    for batch in args.batches:
        res = {}
        for side in ("tinygan", "torch"):
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--warmup",
                                  str(args.warmup), "--child", side, str(batch)],
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr[-3000:], file=sys.stderr)
                res[side] = None
            else:
                res[side] = json.loads(out.stdout.strip().splitlines()[-1])
        tg, pt = res["tinygan"], res["torch"]
        ratio = tg["images_per_s"] / pt["images_per_s"] if tg and pt else float("nan")
        rows.append({"batch": batch, "tinygan": tg, "torch": pt, "ratio": ratio})
        f = lambda r, k, fmt: format(r[k], fmt) if r else "-"
        print(f"{batch:>6} {f(tg, 'images_per_s', '14.0f')} {f(pt, 'images_per_s', '12.0f')} {ratio:6.2f} "
              f"{f(tg, 'ms_per_step', '10.2f')} {f(pt, 'ms_per_step', '9.2f')} "
              f"{f(tg, 'peak_gpu_mb', '7.0f')} {f(pt, 'peak_gpu_mb', '7.0f')}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
