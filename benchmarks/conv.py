"""Forward + backward speed of conv2d and conv_transpose2d, tinygan against PyTorch, in one run.

For each shape it times one forward pass and one backward pass (gradients of the
input and the weight) and reports the time, the achieved GFLOP/s (counting the
three GEMMs: 3 * 2 * N*Ho*Wo * C_out * C_in/g * kh * kw), PyTorch's time for the
same computation on the same machine and thread count, and the ratio of speeds
(PyTorch time / tinygan time: 1.0 means as fast, higher is better).  The
machine's own float32 GEMM rate (numpy's BLAS on a square product) is printed as
the ceiling im2col + GEMM can reach.

    python benchmarks/conv.py [--repeat R] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygan  # noqa: E402
from tinygan.ops import conv as F  # noqa: E402  (the same functions as tinygan.nn.functional)

# (name, transposed, N, C_in, H, C_out, k, stride, padding)
SHAPES = [
    ("D conv1  1->64   28->14 4x4 s2", False, 64, 1, 28, 64, 4, 2, 1),
    ("D conv2 64->128  14->7  4x4 s2", False, 64, 64, 14, 128, 4, 2, 1),
    ("G convT 128->64   7->14 4x4 s2", True, 64, 128, 7, 64, 4, 2, 1),
    ("G convT 64->1    14->28 4x4 s2", True, 64, 64, 14, 1, 4, 2, 1),
    ("conv 3x3 64->64 32x32 s1", False, 64, 64, 32, 64, 3, 1, 1),
]


def best_of(fn, repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def flops(N, Cin, H, Cout, k, s, p, transposed) -> float:
    if transposed:   # the GEMMs of the convolution it is the adjoint of
        Ho = H
        Hin = (H - 1) * s - 2 * p + k
        Cin, Cout = Cout, Cin
    else:
        Hin = H
        Ho = (H + 2 * p - k) // s + 1
    del Hin
    return 3 * 2.0 * N * Ho * Ho * Cout * Cin * k * k


def sgemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t = best_of(lambda: a @ a, 5)
    return 2 * 1024 ** 3 / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy "
          f"{np.__version__}" + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
                                 if torch else ", torch not installed"))
    print(f"# machine sgemm (numpy BLAS, 1024^3): {sgemm_rate():.1f} GFLOP/s")
    print(f"{'shape':34s} {'tinygan ms':>10s} {'GFLOP/s':>8s} {'torch ms':>9s} {'speed vs torch':>15s}")
    rows, ratios = [], []
    for name, transposed, N, Cin, H, Cout, k, s, p in SHAPES:
        x_np = rng.standard_normal((N, Cin, H, H)).astype(np.float32)
        w_shape = (Cin, Cout, k, k) if transposed else (Cout, Cin, k, k)
        w_np = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
        op = F.conv_transpose2d if transposed else F.conv2d
        x = tinygan.tensor(x_np, requires_grad=True)
        w = tinygan.tensor(w_np, requires_grad=True)
        y0 = op(x, w, None, s, p)
        gy = tinygan.tensor(rng.standard_normal(y0.shape).astype(np.float32))

        def step_tg():
            x.grad = w.grad = None
            op(x, w, None, s, p).backward(gy)

        t_tg = best_of(step_tg, args.repeat)
        gf = flops(N, Cin, H, Cout, k, s, p, transposed) / t_tg / 1e9
        row = {"shape": name, "tinygan_ms": t_tg * 1e3, "gflops": gf}
        if torch is not None:
            xt = torch.tensor(x_np, requires_grad=True)
            wt = torch.tensor(w_np, requires_grad=True)
            gyt = torch.tensor(gy.data)
            top = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

            def step_torch():
                xt.grad = wt.grad = None
                top(xt, wt, None, s, p).backward(gyt)

            t_t = best_of(step_torch, args.repeat)
            # check both compute the same thing before comparing their speed
            step_tg(), step_torch()
            assert np.allclose(x.grad.data, xt.grad.numpy(), rtol=1e-3, atol=1e-3), name
            assert np.allclose(w.grad.data, wt.grad.numpy(), rtol=1e-3, atol=1e-2), name
            row.update(torch_ms=t_t * 1e3, speed_ratio=t_t / t_tg)
            ratios.append(t_t / t_tg)
            print(f"{name:34s} {t_tg * 1e3:10.2f} {gf:8.1f} {t_t * 1e3:9.2f} {t_t / t_tg:14.2f}x")
        else:
            print(f"{name:34s} {t_tg * 1e3:10.2f} {gf:8.1f} {'-':>9s} {'-':>15s}")
        rows.append(row)
    if ratios:
        gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric mean speed vs torch: {gm:.2f}x (target >= 0.6x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
