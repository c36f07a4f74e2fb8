"""CPU time of one BigGAN-lite training iteration (tinygan.train.biggan.BigGANStepper).

The step of ``tinygan train biggan``: a D step (hinge loss on a real batch and a batch of
fakes, backward, Adam) on every real batch, a G step after every second one.  One iteration =
two D steps + one G step, on two real batches: 2 x batch images.  Timed on a fixed random
batch in [-1, 1] with cycling labels, the minimum over ``repeat`` iterations after one warm-up
iteration; D step and G step are also given apart (a D step is the first call, the D+G step
the second).  images/s = 2 x batch / iteration.  ``--ortho-reg B`` adds orthogonal
regularization to the G step.

    python benchmarks/biggan_cpu_step.py [--preset cpu] [--batch 64] [--threads 1] [--repeat 3]
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
from tinygan.models.base import cycling_labels  # noqa: E402
from tinygan.train.biggan import BigGANStepper  # noqa: E402
from tinygan.train.loop import build_family  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ortho-reg", type=float, default=0.0)
    args = ap.parse_args()
    threads.set_num_threads(args.threads)
    tinygan.manual_seed(0)
    family = build_family("biggan", preset=args.preset)
    cfg = dict(optimizer="adam", lr_g=1e-4, lr_d=4e-4, betas=[0.0, 0.999], n_critic=2,
               ortho_reg=args.ortho_reg, seed=0)
    st = BigGANStepper(family, cfg)
    x = tinygan.tensor(np.random.default_rng(0).uniform(-1, 1, (args.batch, 1, 32, 32))
                       .astype(np.float32))
    y = cycling_labels(args.batch)

    def timed() -> float:
        t = time.perf_counter()
        st.step(x, y, lambda *a: None)
        return time.perf_counter() - t

    d_only, d_and_g = [], []
    for i in range(args.repeat + 1):
        a, b = timed(), timed()           # d_steps even before: D only, then D + G
        if i:                             # the first iteration warms up
            d_only.append(a)
            d_and_g.append(b)
    d, dg = min(d_only), min(d_and_g)
    it = min(a + b for a, b in zip(d_only, d_and_g))
    print(f"biggan {args.preset} preset, batch {args.batch}, {args.threads} thread(s), "
          f"ortho_reg {args.ortho_reg:g}: D step {d * 1e3:.0f} ms, D+G step {dg * 1e3:.0f} ms, "
          f"iteration (2 D + 1 G) {it * 1e3:.0f} ms = {2 * args.batch / it:.1f} images/s")


if __name__ == "__main__":
    main()
