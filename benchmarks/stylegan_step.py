"""Images per second of StyleGAN-lite's training step, tinygan against its PyTorch twin.

One step is StyleGANStepper.step (tinygan/train/stylegan.py) on a real batch: Dmain, Dreg (lazy
R1, every 16th D step), Gmain, Gpl (lazy path length on half the batch, every 4th G step), with
style mixing 0.9; PyTorch runs benchmarks/stylegan_torch.py's twin: the same networks and
initialization (tinygan's weights copied in), the same schedule and optimizer settings, the
same modulated-convolution path on each device (non-fused on a CPU, fused on CUDA).  The timed
steps are a whole number of R1 periods (16 steps: one R1, four path lengths), after one warm-up
step.  Each side runs in its own subprocess with the same thread count (OMP, OpenBLAS, MKL and
TINYGAN_NUM_THREADS set to ``--threads``; torch.set_num_threads too); the two alternate
``--rounds`` times and the best images/s of each is kept (least disturbed by other load).
The phase times (seconds per step, averaged over the timed steps) come from the same run:
tinygan's from the moments its optimizers step (each phase ends with one), the twin's from
marks between its phases (synchronized on CUDA; there the phase timing itself slows the step a
little, so images/s and phases come from separate passes).

    python benchmarks/stylegan_step.py [--preset cpu] [--batch 32] [--periods 1] [--rounds 3]
                                       [--threads 2] [--device cpu|cuda] [--json OUT]
                                       [--preset-recipe]

``--preset-recipe``: the step ``tinygan train stylegan --preset P`` trains with instead of the
reference's, i.e. the preset's R1 gamma, path length weight and mixing probability
(tinygan/models/stylegan.py PRESETS[P]["recipe"]; the cpu preset's has no path length or
mixing, so its step is Dmain, Dreg/16, Gmain).

Ratio: tinygan images/s / PyTorch images/s (higher is better; targets >= 0.8 on a CPU,
>= 0.7 on CUDA).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import race, sync as _sync  # noqa: E402

PHASES = ("Dmain", "Dreg", "Gmain", "Gpl")
R1_INTERVAL = 16


def _family(preset: str, device: str):
    sys.path.insert(0, os.path.join(HERE, ".."))
    import tinygan
    from tinygan.models.stylegan import StyleGAN
    tinygan.manual_seed(0)
    return StyleGAN(preset).to(device)


def _time(step, steps: int, batch: int, device: str, side: str) -> float:
    _sync(device, side)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device, side)
    return steps * batch / (time.perf_counter() - t)


def _regularizers(preset: str, preset_recipe: bool) -> dict:
    """R1 gamma, path length weight and mixing: the reference's, or the preset's recipe's."""
    sys.path.insert(0, os.path.join(HERE, ".."))
    from tinygan.models.stylegan import PRESETS
    from tinygan.train.stylegan import MIXING, PL_WEIGHT, R1_GAMMA
    r = PRESETS[preset]["recipe"] if preset_recipe else {}
    return dict(r1_gamma=r.get("r1_gamma", R1_GAMMA), pl_weight=r.get("pl_weight", PL_WEIGHT),
                mixing=r.get("mixing", MIXING))


def run_tinygan(preset: str, batch: int, steps: int, device: str, preset_recipe: bool) -> dict:
    import numpy as np
    import tinygan
    from tinygan.kernels.host_memory import keep_freed_memory
    from tinygan.train.stylegan import PL_INTERVAL, StyleGANStepper
    keep_freed_memory()     # as the trainer and the CLI do
    family = _family(preset, device)
    d = family.defaults
    cfg = dict(lr_g=d["lr_g"], lr_d=d["lr_d"], betas=list(d["betas"]),
               r1_interval=R1_INTERVAL, pl_interval=PL_INTERVAL, seed=0,
               **_regularizers(preset, preset_recipe))
    stepper = StyleGANStepper(family, cfg)
    real = tinygan.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, 1, 32, 32))
                          .astype(np.float32), device=device)

    # Each phase ends with one optimizer step: the time between them is the phase's.
    marks: list = []
    timing = {"on": device == "cpu"}      # on CUDA the synchronizing marks get their own pass
    for name, opt in (("d", stepper.opt_d), ("g", stepper.opt_g)):
        inner = opt.step

        def stepped(inner=inner, name=name):
            inner()
            if timing["on"]:
                _sync(device, "tinygan")
                marks.append((name, time.perf_counter()))
        opt.step = stepped
    times = dict.fromkeys(PHASES, 0.0)

    def step():
        marks.clear()
        t0 = time.perf_counter()
        stepper.step(real, None, lambda value, which=None: None)
        names = [n for n, _ in marks]
        phases = (["Dmain", "Dreg"] if names.count("d") == 2 else ["Dmain"]) + \
                 (["Gmain", "Gpl"] if names.count("g") == 2 else ["Gmain"])
        for phase, (_, t) in zip(phases, marks):
            times[phase] += t - t0
            t0 = t

    step()                                            # warm-up: step 0 (R1 and path length)
    times.update(dict.fromkeys(PHASES, 0.0))
    ips = _time(step, steps, batch, device, "tinygan")
    if not timing["on"]:
        timing["on"] = True
        for _ in range(steps):
            step()
    return {"images_per_s": ips, "phases": {k: v / steps for k, v in times.items()}}


def run_torch(preset: str, batch: int, steps: int, device: str, threads: int,
              preset_recipe: bool, one_pass_d: bool = False) -> dict:
    import torch
    import stylegan_torch as twin
    torch.set_num_threads(threads)
    family = _family(preset, "cpu")
    G, D = twin.build(torch, preset, device=device)
    twin.copy_from_tinygan(family, G, D)
    stepper = twin.Stepper(torch, G, D, lr_g=family.defaults["lr_g"], lr_d=family.defaults["lr_d"],
                           betas=tuple(family.defaults["betas"]), timed=(device == "cpu"),
                           one_pass_d=one_pass_d, **_regularizers(preset, preset_recipe))
    torch.manual_seed(0)
    real = (torch.rand(batch, 1, 32, 32) * 2 - 1).to(device)
    times = dict.fromkeys(PHASES, 0.0)

    def step():
        stepper.step(real)
        for k, v in stepper.times.items():
            times[k] += v

    step()
    times.update(dict.fromkeys(PHASES, 0.0))
    ips = _time(step, steps, batch, device, "torch")
    if device != "cpu":                  # phases in a second pass, synchronized at each mark
        stepper.timed = True
        times.update(dict.fromkeys(PHASES, 0.0))
        for _ in range(steps):
            step()
    return {"images_per_s": ips, "phases": {k: v / steps for k, v in times.items()},
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def child(args) -> None:
    steps = args.periods * R1_INTERVAL
    if args.child == "tinygan":
        result = run_tinygan(args.preset, args.batch, steps, args.device, args.preset_recipe)
    else:
        result = run_torch(args.preset, args.batch, steps, args.device, args.threads,
                           args.preset_recipe, args.twin_one_pass_d)
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=["cpu", "gpu"], default=None,
                    help="default: cpu on --device cpu, gpu on cuda")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--periods", type=int, default=1, help="timed R1 periods of 16 steps")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--json")
    ap.add_argument("--preset-recipe", action="store_true",
                    help="the preset's R1, path length and mixing (the trainer's), not the reference's")
    ap.add_argument("--twin-one-pass-d", action="store_true",
                    help="the PyTorch twin's D also sees reals and fakes in one pass, as tinygan's "
                    "does (the reference, and the default, is two passes)")
    ap.add_argument("--child", choices=["tinygan", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.preset = args.preset or ("cpu" if args.device == "cpu" else "gpu")
    if args.child:
        return child(args)
    child_args = ["--preset", args.preset, "--batch", args.batch, "--periods", args.periods,
                  "--threads", args.threads, "--device", args.device] + \
        (["--preset-recipe"] if args.preset_recipe else []) + \
        (["--twin-one-pass-d"] if args.twin_one_pass_d else [])
    sides, best = race(__file__, child_args, args.threads, args.rounds)
    steps = args.periods * R1_INTERVAL
    reg = _regularizers(args.preset, args.preset_recipe)
    print(f"StyleGAN-lite training step ({'the preset' if args.preset_recipe else 'the reference'}'s: "
          f"R1 gamma {reg['r1_gamma']:g}, path length {reg['pl_weight']:g}, mixing {reg['mixing']:g}), "
          f"{'the twin with one-pass D, ' if args.twin_one_pass_d else ''}preset {args.preset}, "
          f"batch {args.batch}, {args.device}, {steps} steps, best of {args.rounds} rounds, "
          f"{args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':8s} {'images/s':>9s}   ms per step: " + "  ".join(f"{p:>6s}" for p in PHASES))
    for side in sides:
        ph = best[side]["phases"]
        print(f"  {side:8s} {best[side]['images_per_s']:9.1f}   {'':13s}"
              + "  ".join(f"{1000 * ph[p]:6.1f}" for p in PHASES))
    if "torch" in best:
        ratio = best["tinygan"]["images_per_s"] / best["torch"]["images_per_s"]
        best["ratio"] = ratio
        target = 0.8 if args.device == "cpu" else 0.7
        print(f"  ratio tinygan/torch: {ratio:.2f}x (target >= {target}x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(best, f, indent=1)


if __name__ == "__main__":
    main()
