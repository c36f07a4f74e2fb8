"""Images per second of BigGAN-lite's training iteration, tinygan against its PyTorch twin.

One iteration is what ``tinygan train biggan`` does with two real batches: two D steps (hinge
loss on the real batch and a batch of fakes through D as one batch, backward, Adam 4e-4) and
one G step (hinge, D's weights constants, Adam 1e-4), betas (0, 0.999), spectral norm's power
iteration in every layer of each forward -- tinygan/train/biggan.py's BigGANStepper against
benchmarks/biggan_torch.py's Stepper: the same networks and initialization (tinygan's state,
u and v included, copied in), the same schedule and optimizer settings.  Both sides step on
the same fixed batch in [-1, 1] with labels 0..9, 0.. (images/s = 2 x batch / iteration).
Each iteration is timed as its two calls (the first a D step, the second a D step and the G
step: "D" and "G" below are the first and the difference), synchronized on CUDA; the fastest
of ``--repeat`` iterations after one warm-up iteration counts.  Each side runs in its own
subprocess with the same thread count (OMP, OpenBLAS, MKL and TINYGAN_NUM_THREADS set to
``--threads``; torch.set_num_threads too); the two alternate ``--rounds`` times and the best
of each is kept (least disturbed by other load).

    python benchmarks/biggan_step.py [--preset cpu|gpu] [--batch 64] [--repeat 3] [--rounds 1]
                                     [--threads 1] [--device cpu|cuda] [--json OUT]

Ratio: tinygan images/s / PyTorch images/s (higher is better; target >= 0.7 on CUDA with the
gpu preset).
"""
from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import race, step_arguments, sync as _sync  # noqa: E402


def _family(preset: str, device: str):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import tinygan
    from tinygan.models.biggan import BigGAN
    tinygan.manual_seed(0)
    return BigGAN(preset).to(device)


def _real(batch: int):
    """The fixed batch: uniform in [-1, 1] (seeded), labels 0..9, 0.. (NumPy arrays)."""
    import numpy as np
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 1, 32, 32)).astype(np.float32)
    return x, np.arange(batch) % 10


def _time(step, repeat: int, device: str, side: str) -> dict:
    """The fastest of ``repeat`` iterations (after one warm-up): its D call, its D+G call."""
    best = None
    for i in range(repeat + 1):
        times = []
        for _ in range(2):
            _sync(device, side)
            t = time.perf_counter()
            step()
            _sync(device, side)
            times.append(time.perf_counter() - t)
        if i and (best is None or sum(times) < sum(best)):
            best = times
    return {"iteration_s": sum(best), "d_step_s": best[0], "g_step_s": best[1] - best[0]}


def run_tinygan(preset: str, batch: int, repeat: int, device: str) -> dict:
    import tinygan
    from tinygan.kernels.host_memory import keep_freed_memory
    from tinygan.train.biggan import BigGANStepper
    keep_freed_memory()     # as the trainer and the CLI do
    family = _family(preset, device)
    d = family.defaults
    stepper = BigGANStepper(family, dict(optimizer="adam", lr_g=d["lr_g"], lr_d=d["lr_d"],
                                         betas=list(d["betas"]), n_critic=d["n_critic"],
                                         ortho_reg=0.0, seed=0))
    family.train()
    x, y = _real(batch)
    real = tinygan.tensor(x, device=device)
    labels = tinygan.tensor(y, device=device)
    r = _time(lambda: stepper.step(real, labels, lambda value, which=None: None), repeat,
              device, "tinygan")
    return {**r, "images_per_s": 2 * batch / r["iteration_s"]}


def run_torch(preset: str, batch: int, repeat: int, device: str, threads: int) -> dict:
    import torch
    import biggan_torch as twin
    torch.set_num_threads(threads)
    family = _family(preset, "cpu")
    G, D = twin.build(torch, preset, device=device)
    twin.copy_from_tinygan(family, G, D)
    d = family.defaults
    stepper = twin.Stepper(torch, G, D, lr_g=d["lr_g"], lr_d=d["lr_d"], betas=tuple(d["betas"]),
                           n_critic=d["n_critic"])
    G.train(), D.train()
    torch.manual_seed(0)
    x, y = _real(batch)
    real, labels = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    r = _time(lambda: stepper.step(real, labels), repeat, device, "torch")
    return {**r, "images_per_s": 2 * batch / r["iteration_s"], "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def child(args) -> None:
    if args.child == "tinygan":
        result = run_tinygan(args.preset, args.batch, args.repeat, args.device)
    else:
        result = run_torch(args.preset, args.batch, args.repeat, args.device, args.threads)
    print(json.dumps(result))


def main(argv=None) -> dict:
    args = step_arguments(__doc__, 64, "timed iterations (2 D + 1 G steps)")(argv)
    if args.child:
        child(args)
        return {}
    child_args = ["--preset", args.preset, "--batch", args.batch, "--repeat", args.repeat,
                  "--threads", args.threads, "--device", args.device]
    sides, best = race(__file__, child_args, args.threads, args.rounds)
    print(f"BigGAN-lite training iteration (2 D steps + 1 G step), preset {args.preset}, "
          f"batch {args.batch}, {args.device}, best of {args.repeat} iterations x "
          f"{args.rounds} rounds, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':8s} {'images/s':>9s}  {'ms/iteration':>12s}  {'D step':>7s}  {'G step':>7s}")
    for side in sides:
        b = best[side]
        print(f"  {side:8s} {b['images_per_s']:9.1f}  {1000 * b['iteration_s']:12.1f}  "
              f"{1000 * b['d_step_s']:7.1f}  {1000 * b['g_step_s']:7.1f}")
    if "torch" in best:
        best["ratio"] = best["tinygan"]["images_per_s"] / best["torch"]["images_per_s"]
        target = " (target >= 0.7x)" if args.device == "cuda" else ""
        print(f"  ratio tinygan/torch: {best['ratio']:.2f}x{target}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(best, f, indent=1)
    return best


if __name__ == "__main__":
    main()
