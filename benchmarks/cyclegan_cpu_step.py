"""CPU time of one CycleGAN-lite training step (tinygan.train.cyclegan.CycleGANStepper).

The step of ``tinygan train cyclegan``: G_AB and G_BA on the adversarial, cycle and identity
losses (six generator passes forward and back), then D_A and D_B on real batches against
pooled fakes.  Timed on fixed random batches in [-1, 1] (a of the step's argument, b drawn by
the Stepper from a random domain B of 512 images); the median and the minimum over
``repeat`` steps after one warm-up step.  images/s = images of each domain per second
(``batch`` / step); 30 minutes hold 1800 s x that.  ``--lambda-id 0`` leaves out the
identity loss (two generator passes fewer), ``--no-pool`` the pool.

    python benchmarks/cyclegan_cpu_step.py [--preset cpu] [--batch 8] [--threads 1] [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygan  # noqa: E402
from tinygan.kernels import threads  # noqa: E402
from tinygan.models.cyclegan import parameter_count  # noqa: E402
from tinygan.train.cyclegan import CycleGANStepper  # noqa: E402
from tinygan.train.loop import build_family  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lambda-id", type=float, default=5.0)
    ap.add_argument("--no-pool", action="store_true")
    args = ap.parse_args()
    threads.set_num_threads(args.threads)
    tinygan.manual_seed(0)
    family = build_family("cyclegan", preset=args.preset)
    cfg = dict(lr=2e-4, betas=[0.5, 0.999], epochs=1, seed=0, no_pool=args.no_pool,
               batch_size=args.batch, device="cpu", lambda_cyc=10.0, lambda_id=args.lambda_id)
    rng = np.random.default_rng(0)
    domain_b = rng.uniform(-1, 1, (512, 1, 28, 28)).astype(np.float32)
    st = CycleGANStepper(family, cfg, domain_b, steps_per_epoch=10_000)
    x = tinygan.tensor(rng.uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32))

    times = []
    for i in range(args.repeat + 1):
        t = time.perf_counter()
        st.step(x, None, lambda *a: None)
        if i:                                 # the first step warms up
            times.append(time.perf_counter() - t)
    med, low = float(np.median(times)), min(times)
    print(f"cyclegan {args.preset} preset ({parameter_count(family):,} parameters), batch "
          f"{args.batch}, {args.threads} thread(s), lambda_id {args.lambda_id:g}"
          f"{', no pool' if args.no_pool else ''}: step median {med * 1e3:.0f} ms (min "
          f"{low * 1e3:.0f} ms) = {args.batch / med:.1f} images of each domain/s; 30 minutes: "
          f"{1800 / med:,.0f} steps, {1800 * args.batch / med:,.0f} images")


if __name__ == "__main__":
    main()
