"""CPU time of conv2d_resample's forms: the StyleGAN2 reference code's (up: a stride-2
transposed conv, then the FIR filter; down: the filter, then a stride-2 conv; a 1x1 kernel
down: decimate, then the conv) against the plain composition it replaced (up: upsample2d,
then a stride-1 conv at the high resolution; down: a stride-1 conv, then downsample2d).

The two are the same map away from the border (tests/ops/test_modulated_conv.py); this says
what the reference form saves.  Shapes: StyleGAN-lite's cpu preset, batch 32, float32, the
[1, 3, 3, 1] filter.

    python benchmarks/conv2d_resample.py [--batch 32] [--repeat 5] [--threads 1]

Each figure is the minimum over ``repeat`` interleaved runs of forward + backward (the
gradients of x and the weight), in milliseconds; the last column is plain / reference.
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
from tinygan.kernels import threads  # noqa: E402
from tinygan.ops.modulated_conv import conv2d_resample  # noqa: E402

LAYERS = [  # (in channels, out channels, input size, kernel, up, down): G's up convs, D's down
    (64, 64, 4, 3, 2, 1),
    (64, 32, 8, 3, 2, 1),
    (32, 32, 16, 3, 2, 1),
    (32, 32, 32, 3, 1, 2),
    (32, 32, 32, 1, 1, 2),
    (32, 64, 16, 3, 1, 2),
    (32, 64, 16, 1, 1, 2),
    (64, 64, 8, 3, 1, 2),
    (64, 64, 8, 1, 1, 2),
]


def plain(x, w, f, up, down, padding):
    """The composition used before: resample at the high resolution, conv at full size."""
    if up != 1:
        x = F.upsample2d(x, f, up=up)
    y = F.conv2d(x, w, padding=padding)
    return F.downsample2d(y, f, down=down) if down != 1 else y


def reference(x, w, f, up, down, padding):
    return conv2d_resample(x, w, up=up, down=down, padding=padding, resample_filter=f)


def timed(fn, x, w, f, up, down, padding) -> float:
    t = time.perf_counter()
    y = fn(x, w, f, up, down, padding)
    tinygan.grad(y, (x, w), tinygan.ones(*y.shape))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    threads.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    f = F.setup_filter([1, 3, 3, 1])
    print("| layer | plain | reference | plain / reference |\n|---|---|---|---|")
    totals = [0.0, 0.0]
    for i, o, h, k, up, down in LAYERS:
        x = tinygan.tensor(rng.standard_normal((a.batch, i, h, h), dtype=np.float32),
                           requires_grad=True)
        w = tinygan.tensor(rng.standard_normal((o, i, k, k), dtype=np.float32),
                           requires_grad=True)
        best = [np.inf, np.inf]
        for _ in range(a.repeat):
            for j, fn in enumerate((plain, reference)):
                best[j] = min(best[j], timed(fn, x, w, f, up, down, k // 2))
        totals = [t + b for t, b in zip(totals, best)]
        what = f"up {up}" if up != 1 else f"down {down}"
        print(f"| {i}->{o}, {h}x{h}, {k}x{k} {what} | {best[0] * 1e3:.1f} | {best[1] * 1e3:.1f} | "
              f"{best[0] / best[1]:.2f} |")
    print(f"| all | {totals[0] * 1e3:.1f} | {totals[1] * 1e3:.1f} | {totals[0] / totals[1]:.2f} |")


if __name__ == "__main__":
    main()
