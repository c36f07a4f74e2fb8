"""Images per second of CycleGAN-lite's training step, tinygan against its PyTorch twin.

One step is what ``tinygan train cyclegan`` does with one batch of each domain: the G step
(G_AB and G_BA on LSGAN + 10 x cycle + 5 x identity L1, the discriminators' weights constants,
backward, Adam) and the D step (D_A and D_B, each LSGAN loss halved, one backward, Adam), lr
2e-4, betas (0.5, 0.999) -- tinygan/train/cyclegan.py's CycleGANStepper against
benchmarks/cyclegan_torch.py's Stepper: the same networks and initialization (tinygan's
weights copied in), the same order and settings.  The trainer shows each D its fakes through
a 50-image pool; the pool only chooses which images D sees, so here both sides show D the
fresh fakes (tinygan's stepper with ``no_pool``).  Both sides step on the same fixed batches
a and b in [-1, 1] (seeded); images/s = batch / step (the domain-A images the loop counts;
each step translates as many B images too).  The fastest of ``--repeat`` steps after one
warm-up step counts, synchronized on CUDA.  Each side runs in its own subprocess with the
same thread count (OMP, OpenBLAS, MKL and TINYGAN_NUM_THREADS set to ``--threads``;
torch.set_num_threads too); the two alternate ``--rounds`` times and the best of each is kept
(least disturbed by other load).

    python benchmarks/cyclegan_step.py [--preset cpu|gpu] [--batch 8] [--repeat 3] [--rounds 1]
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

BATCH = 8           # the recipe's (tinygan.models.cyclegan.CycleGAN.defaults)


def _family(preset: str, device: str):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import tinygan
    from tinygan.models.cyclegan import CycleGAN
    tinygan.manual_seed(0)
    return CycleGAN(preset).to(device)


def _batches(batch: int):
    """The fixed batches a and b: uniform in [-1, 1] (seeded), (batch, 1, 28, 28) float32."""
    import numpy as np
    rng = np.random.default_rng(0)
    return tuple(rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32) for _ in range(2))


def _time(step, repeat: int, device: str, side: str) -> float:
    """The fastest of ``repeat`` steps (after one warm-up step), in seconds."""
    best = None
    for i in range(repeat + 1):
        _sync(device, side)
        t = time.perf_counter()
        step()
        _sync(device, side)
        seconds = time.perf_counter() - t
        if i and (best is None or seconds < best):
            best = seconds
    return best


def run_tinygan(preset: str, batch: int, repeat: int, device: str) -> dict:
    import tinygan
    from tinygan import backend
    from tinygan.kernels.host_memory import keep_freed_memory
    from tinygan.train.cyclegan import CycleGANStepper
    keep_freed_memory()     # as the trainer and the CLI do
    family = _family(preset, device)
    d = family.defaults
    a, b = _batches(batch)
    # Domain B is the one batch b: each step draws it whole (in a new order every pass).
    stepper = CycleGANStepper(family, dict(lr=d["lr"], epochs=1, batch_size=batch, seed=0,
                                           device=device, no_pool=True,
                                           lambda_cyc=d["lambda_cyc"], lambda_id=d["lambda_id"]),
                              backend.to_device(b, device), steps_per_epoch=10 ** 6)
    family.train()
    real = tinygan.tensor(a, device=device)
    seconds = _time(lambda: stepper.step(real, None, lambda value, which=None: None), repeat,
                    device, "tinygan")
    return {"step_s": seconds, "images_per_s": batch / seconds}


def run_torch(preset: str, batch: int, repeat: int, device: str, threads: int) -> dict:
    import torch
    import cyclegan_torch as twin
    torch.set_num_threads(threads)
    family = _family(preset, "cpu")
    nets = twin.build(torch, preset, device=device)
    twin.copy_from_tinygan(family, *nets)
    d = family.defaults
    stepper = twin.Stepper(torch, *nets, lr=d["lr"], betas=tuple(d["betas"]),
                           lambda_cyc=d["lambda_cyc"], lambda_id=d["lambda_id"])
    for net in nets:
        net.train()
    a, b = (torch.from_numpy(x).to(device) for x in _batches(batch))
    seconds = _time(lambda: stepper.step(a, b), repeat, device, "torch")
    return {"step_s": seconds, "images_per_s": batch / seconds, "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def child(args) -> None:
    if args.child == "tinygan":
        result = run_tinygan(args.preset, args.batch, args.repeat, args.device)
    else:
        result = run_torch(args.preset, args.batch, args.repeat, args.device, args.threads)
    print(json.dumps(result))


def main(argv=None) -> dict:
    args = step_arguments(__doc__, BATCH, "timed steps")(argv)
    if args.child:
        child(args)
        return {}
    child_args = ["--preset", args.preset, "--batch", args.batch, "--repeat", args.repeat,
                  "--threads", args.threads, "--device", args.device]
    sides, best = race(__file__, child_args, args.threads, args.rounds)
    print(f"CycleGAN-lite training step (G_AB + G_BA, then D_A + D_B; fresh fakes, no pool), "
          f"preset {args.preset}, batch {args.batch}, {args.device}, best of {args.repeat} steps "
          f"x {args.rounds} rounds, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':8s} {'images/s':>9s}  {'ms/step':>8s}")
    for side in sides:
        b = best[side]
        print(f"  {side:8s} {b['images_per_s']:9.1f}  {1000 * b['step_s']:8.1f}")
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
