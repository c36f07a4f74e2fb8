"""CPU time of F.bias_act against the composition it replaces: x + b, then F.leaky_relu, then * gain.

On the CPU ``F.bias_act`` runs the NumPy twin of its CUDA kernel
(``tinygan/kernels/bias_act.py``): the same formulas worked in place on one fresh array,
and a backward that reads the slope from the output in one pass.  This measures it against
the ops a layer would otherwise compose, forward alone (under no_grad) and forward +
backward (the gradients of x and b), with lrelu (alpha 0.2, gain sqrt(2)) by default.

    python benchmarks/bias_act.py [--shape 64,128,16,16] [--act lrelu] [--repeat 20] [--threads 1]

Each figure is the minimum over ``repeat`` interleaved runs (least disturbed by other load),
in milliseconds, float32; the last column is composition / bias_act (above 1: bias_act is faster).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import tinygan  # noqa: E402
import tinygan.nn.functional as F  # noqa: E402
from tinygan.kernels import host_memory, threads  # noqa: E402

COMPOSITIONS = {
    "linear": lambda z: z,
    "relu": lambda z: F.relu(z) * math.sqrt(2),
    "lrelu": lambda z: F.leaky_relu(z, 0.2) * math.sqrt(2),
    "tanh": lambda z: tinygan.tanh(z),
    "sigmoid": lambda z: tinygan.sigmoid(z),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="64,128,16,16")
    ap.add_argument("--act", default="lrelu", choices=sorted(COMPOSITIONS))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    host_memory.keep_freed_memory()       # as in a training process (TINYGAN_KEEP_MEMORY=0: not)
    threads.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    rng = np.random.default_rng(0)
    x = tinygan.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    b = tinygan.tensor(rng.standard_normal(shape[1]).astype(np.float32), requires_grad=True)
    gy = tinygan.tensor(rng.standard_normal(shape).astype(np.float32))
    bias_shape = (1, -1) + (1,) * (len(shape) - 2)
    act = COMPOSITIONS[args.act]
    fns = {"bias_act": lambda: F.bias_act(x, b, act=args.act),
           "composition": lambda: act(x + b.reshape(bias_shape))}

    def forward(fn):
        with tinygan.no_grad():
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

    def forward_backward(fn):
        t0 = time.perf_counter()
        tinygan.grad(fn(), (x, b), gy)
        return time.perf_counter() - t0

    times = {(k, p): [] for k in fns for p in ("forward", "forward + backward")}
    for _ in range(args.repeat):
        for k, fn in fns.items():
            times[(k, "forward")].append(forward(fn))
            times[(k, "forward + backward")].append(forward_backward(fn))
    print(f"bias_act {args.act}, float32 {shape}, {args.threads} thread(s): "
          f"min over {args.repeat} runs, ms")
    print(f"{'':20s} {'bias_act':>9s} {'composition':>12s} {'ratio':>6s}")
    for p in ("forward", "forward + backward"):
        f, c = (min(times[(k, p)]) * 1e3 for k in ("bias_act", "composition"))
        print(f"{p:20s} {f:9.2f} {c:12.2f} {c / f:6.2f}")


if __name__ == "__main__":
    main()
