"""upsample2d on the CPU: upfirdn2d's twin against the direct way (zeros, pad, grouped conv).

StyleGAN2 upsamples every feature map by 2 with the binomial filter [1, 3, 3, 1]
(``F.upsample2d(x, F.setup_filter([1, 3, 3, 1], separable=True))``).  tinygan's CPU
path (``kernels/upfirdn2d.py``) never stores the inserted zeros: one strided
slice-add per tap and pass, the planes split over tinygan's threads.  The direct
way writes the op out as a textbook would: build the zero-inserted image, pad it,
and convolve each channel with the 4 x 4 outer-product filter -- ``F.conv2d`` with
``groups=C`` (im2col + GEMM) -- so 16 taps per output of which 12 meet zeros.
Both give the same numbers (checked here, within float32 rounding).

    python benchmarks/upfirdn2d.py [--shape 64,64,32,32] [--repeat 15] [--threads 1]

Forward alone, and forward + backward (the gradient of x: upfirdn2d again for the twin,
conv2d's input gradient for the direct way).  Each figure is the minimum and the median
over ``repeat`` interleaved runs, in milliseconds, float32; the ratio is direct / twin
(above 1: the twin is faster).
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


def twin(x, f1):
    return F.upsample2d(x, f1, up=2)


def direct(x, f1):
    """Zero insertion, padding and a per-channel 4 x 4 convolution with tinygan's ops."""
    n, c, h, w = x.shape
    k = f1.shape[0]
    # zero insertion: x times a 2 x 2 mask with one 1, as (N, C, H, 2, W, 2) -> (N, C, 2H, 2W)
    mask = np.zeros((1, 1, 1, 2, 1, 2), dtype=np.float32)
    mask[..., 0, :, 0] = 1.0
    u = (x.reshape(n, c, h, 1, w, 1) * tinygan.tensor(mask)).reshape(n, c, 2 * h, 2 * w)
    # upsample2d's padding for up=2: (k + 1) // 2 before, (k - 2) // 2 after
    u = F.pad(u, ((k + 1) // 2, (k - 2) // 2, (k + 1) // 2, (k - 2) // 2))
    f2 = np.outer(f1.numpy(), f1.numpy())[::-1, ::-1] * 4      # a true convolution, gain up**2
    weight = np.ascontiguousarray(np.broadcast_to(f2, (c, 1, k, k)), dtype=np.float32)
    return F.conv2d(u, tinygan.tensor(weight), groups=c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="64,64,32,32")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        threads.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    rng = np.random.default_rng(0)
    x = tinygan.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    f1 = F.setup_filter([1, 3, 3, 1], separable=True)
    out_shape = (shape[0], shape[1], 2 * shape[2], 2 * shape[3])
    gy = tinygan.tensor(rng.standard_normal(out_shape).astype(np.float32))

    a, b = twin(x, f1).detach().numpy(), direct(x, f1).detach().numpy()
    assert a.shape == b.shape == out_shape, (a.shape, b.shape)
    worst = float(np.abs(a - b).max() / np.abs(b).max())
    assert worst < 1e-5, worst

    def forward(fn):
        with tinygan.no_grad():
            fn(x, f1)

    def both(fn):
        tinygan.grad(fn(x, f1), x, grad_outputs=gy)

    print(f"upsample2d by 2, [1, 3, 3, 1], {shape} float32, {threads.get_num_threads()} thread(s)")
    print(f"{'':28s}{'twin ms':>18s}{'direct ms':>18s}{'direct / twin':>16s}")
    for name, run in (("forward", forward), ("forward + backward", both)):
        times = {twin: [], direct: []}
        for _ in range(args.repeat):
            for fn in (twin, direct):
                t = time.perf_counter()
                run(fn)
                times[fn].append(1e3 * (time.perf_counter() - t))
        tw, di = times[twin], times[direct]
        print(f"{name:28s}{min(tw):8.1f} (med {np.median(tw):5.1f})"
              f"{min(di):8.1f} (med {np.median(di):5.1f})"
              f"{np.median(di) / np.median(tw):10.1f}x (min {min(di) / min(tw):.1f}x)")


if __name__ == "__main__":
    main()
