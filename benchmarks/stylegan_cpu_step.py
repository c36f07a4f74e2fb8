"""CPU time of one StyleGAN-lite training step (tinygan.train.stylegan.StyleGANStepper), by phase.

The step of ``tinygan train stylegan`` on the cpu preset: Dmain (D on reals and fakes,
backward, Adam), Gmain (G and D, backward, Adam), and the lazy regularizers -- R1 (the
double backward through D) every 16th D step, path length (the double backward through G's
synthesis) every 4th G step.  Each kind of step is timed on its own, the minimum over
``repeat`` runs after one warm-up step, on a fixed random batch in [-1, 1]:

    main = Dmain + Gmain,   +R1 = main with R1,   +PL = main with path length
    per step (amortized) = main + (+R1 - main) / 16 + (+PL - main) / 4

and images/s = batch / per step.  ``--profile`` prints cProfile's top functions (by own
time) of one step with both regularizers.

    python benchmarks/stylegan_cpu_step.py [--batch 32] [--threads 1] [--repeat 3] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygan  # noqa: E402
from tinygan.kernels import threads  # noqa: E402
from tinygan.train.loop import build_family  # noqa: E402
from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL, StyleGANStepper  # noqa: E402

NEVER = 1 << 40


def stepper(batch: int):
    tinygan.manual_seed(0)
    family = build_family("stylegan", preset="cpu", conditional=False)
    cfg = dict(lr_g=0.0025, lr_d=0.0025, betas=[0.0, 0.99], r1_gamma=0.0064,
               r1_interval=R1_INTERVAL, pl_weight=2.0, pl_interval=PL_INTERVAL, mixing=0.9, seed=0)
    st = StyleGANStepper(family, cfg)
    x = tinygan.tensor(np.random.default_rng(0).uniform(-1, 1, (batch, 1, 32, 32))
                       .astype(np.float32))
    return st, x


def one_step(st, x, r1: bool, pl: bool) -> float:
    """One step with R1 and path length on or off (the step counters set so they are due)."""
    st.cfg["r1_interval"], st.cfg["pl_interval"] = (R1_INTERVAL if r1 else NEVER,
                                                    PL_INTERVAL if pl else NEVER)
    st.d_steps, st.g_steps = (0 if r1 else 1), (0 if pl else 1)
    t = time.perf_counter()
    st.step(x, None, lambda *a: None)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    threads.set_num_threads(a.threads)
    st, x = stepper(a.batch)
    one_step(st, x, True, True)                         # Adam's state, the first allocations
    if a.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_step(st, x, True, True)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    best = {k: np.inf for k in ("main", "+R1", "+PL")}
    for _ in range(a.repeat):
        for k, (r1, pl) in (("main", (False, False)), ("+R1", (True, False)),
                            ("+PL", (False, True))):
            best[k] = min(best[k], one_step(st, x, r1, pl))
    per_step = (best["main"] + (best["+R1"] - best["main"]) / R1_INTERVAL
                + (best["+PL"] - best["main"]) / PL_INTERVAL)
    print(f"threads {a.threads}, batch {a.batch}: main {best['main']:.3f} s, +R1 "
          f"{best['+R1']:.3f} s, +PL {best['+PL']:.3f} s; per step {per_step:.3f} s, "
          f"{a.batch / per_step:.1f} images/s")


if __name__ == "__main__":
    main()
