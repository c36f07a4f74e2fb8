"""Forward + backward time of batch_norm in training: the fused Function against plain ops.

tinygan's ``F.batch_norm`` is one ``Normalize`` Function whose backward is the
closed-form gradient (Ioffe & Szegedy 2015), written with tinygan ops.  The
alternative is to compose BatchNorm from mean, subtraction, power and so on
and let autograd differentiate each piece.  Both give exact second derivatives
(tests/ops/test_norm.py checks it); this measures what the fused form buys, and
what recording the backward (create_graph=True, for gradient penalties) costs.
PyTorch's time on the same machine and thread count is printed alongside when
it is importable.

    python benchmarks/batch_norm.py [--shape 64,64,14,14] [--repeat 30]

Each figure is the minimum over ``repeat`` interleaved runs (least disturbed by
other load), in milliseconds, float32.
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


def composed(x, w, b, eps=1e-5):
    """BatchNorm out of plain differentiable ops (what the Function replaces)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axes, keepdim=True)
    d = x - mu
    inv_std = ((d * d).mean(axes, keepdim=True) + eps) ** -0.5
    return d * inv_std * w.reshape(shape) + b.reshape(shape)


def fused(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="64,64,14,14")
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    shape = tuple(int(s) for s in args.shape.split(","))
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape).astype(np.float32)
    gy_np = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]

    x = tinygan.tensor(x_np, requires_grad=True)
    w, b = tinygan.ones(c, requires_grad=True), tinygan.zeros(c, requires_grad=True)
    gy = tinygan.tensor(gy_np)

    def run(fn, create_graph):
        t0 = time.perf_counter()
        y = fn(x, w, b)
        t1 = time.perf_counter()
        tinygan.grad(y, (x, w, b), gy, create_graph=create_graph)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    cases = {"fused": (fused, False), "composed": (composed, False),
             "fused, create_graph": (fused, True), "composed, create_graph": (composed, True)}
    times = {k: [] for k in cases}
    try:
        import torch
        torch.set_num_threads(1)
        xt = torch.tensor(x_np, requires_grad=True)
        wt, bt = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
        gyt = torch.tensor(gy_np)

        def run_torch():
            t0 = time.perf_counter()
            y = torch.nn.functional.batch_norm(xt, None, None, wt, bt, training=True)
            t1 = time.perf_counter()
            torch.autograd.grad(y, (xt, wt, bt), gyt)
            return t1 - t0, time.perf_counter() - t1
        times["torch (1 thread)"] = []
    except ImportError:
        run_torch = None
    for _ in range(args.repeat):
        for k, (fn, cg) in cases.items():
            times[k].append(run(fn, cg))
        if run_torch is not None:
            times["torch (1 thread)"].append(run_torch())
    print(f"batch_norm training, float32 {shape}: min over {args.repeat} runs, ms")
    print(f"{'':26s} {'forward':>8s} {'backward':>9s} {'total':>8s}")
    for k, v in times.items():
        v = np.array(v) * 1e3
        print(f"{k:26s} {v[:, 0].min():8.2f} {v[:, 1].min():9.2f} {v.sum(axis=1).min():8.2f}")


if __name__ == "__main__":
    main()
