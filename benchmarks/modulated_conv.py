"""CPU time of F.modulated_conv2d's two paths: fused (one grouped convolution with per-sample
weights) against non-fused (x * s, the shared convolution, * d).

Both compute StyleGAN2's modulated, demodulated convolution (eqs. 1-3) and agree to rounding
(tests/ops/test_modulated_conv.py); this says which one a training step should use on a CPU.
Shapes are those of a StyleGAN-lite synthesis layer: a 3x3 kernel, 'same' padding, and the
upsampling layers with the [1, 3, 3, 1] filter.

    python benchmarks/modulated_conv.py [--batch 32] [--repeat 5] [--threads 1]

Each figure is the minimum over ``repeat`` interleaved runs of forward + backward (the
gradients of x, the weight and the styles), in milliseconds, float32; the last column is
fused / non-fused (above 1: the non-fused path is faster).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygan  # noqa: E402
import tinygan.nn.functional as F  # noqa: E402
from tinygan.kernels import host_memory, threads  # noqa: E402

LAYERS = [  # (in channels, out channels, input size, up)
    (64, 64, 4, 1),
    (64, 64, 4, 2),
    (64, 64, 8, 1),
    (64, 32, 8, 2),
    (32, 32, 16, 1),
    (32, 32, 16, 2),
    (32, 32, 32, 1),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    host_memory.keep_freed_memory()
    threads.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    f = F.setup_filter([1, 3, 3, 1])
    print(f"batch {args.batch}, float32, {args.threads} thread(s), forward + backward, ms")
    print(f"{'layer':28s} {'fused':>8s} {'non-fused':>10s} {'ratio':>6s}")
    for i, o, h, up in LAYERS:
        x = tinygan.tensor(rng.standard_normal((args.batch, i, h, h)).astype(np.float32),
                           requires_grad=True)
        w = tinygan.tensor(rng.standard_normal((o, i, 3, 3)).astype(np.float32), requires_grad=True)
        s = tinygan.tensor(rng.standard_normal((args.batch, i)).astype(np.float32),
                           requires_grad=True)
        best = {True: float("inf"), False: float("inf")}
        for _ in range(args.repeat):
            for fused in (True, False):
                t0 = time.perf_counter()
                y = F.modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=f,
                                       fused_modconv=fused)
                y.sum().backward()
                best[fused] = min(best[fused], time.perf_counter() - t0)
                x.grad = w.grad = s.grad = None
        name = f"{i}->{o}, {h}x{h}" + (" up 2" if up == 2 else "")
        print(f"{name:28s} {best[True] * 1e3:8.1f} {best[False] * 1e3:10.1f} "
              f"{best[True] / best[False]:6.2f}")


if __name__ == "__main__":
    main()
