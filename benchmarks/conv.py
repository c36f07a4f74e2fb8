"""Forward + backward speed of conv2d and conv_transpose2d, tinygan against PyTorch, in one run.

For each shape it times one forward pass and one backward pass (gradients of the
input and the weight) and reports the time, the achieved GFLOP/s (counting the
three GEMMs: 3 * 2 * N*Ho*Wo * C_out * C_in/g * kh * kw), PyTorch's time for the
same computation on the same machine and thread count, and the ratio of speeds
(PyTorch time / tinygan time: 1.0 means as fast, higher is better).  The
machine's own float32 GEMM rate (numpy's BLAS on a square product) is printed as
the ceiling im2col + GEMM can reach.

Like with like:
* Threads.  Both libraries get the same number of threads (``--threads``,
  default all cores): OPENBLAS/OMP/MKL_NUM_THREADS are set before NumPy and torch
  are imported, and ``torch.set_num_threads``.
* One library per process.  After a call, both OpenBLAS's and PyTorch's
  (OpenMP) worker threads keep spinning for a while, waiting for more work; in
  one process each library's timing would pay for the other's idle spinning.
  So each round runs tinygan and PyTorch in two fresh subprocesses, one after
  the other, each timing every shape best-of ``--repeat``.
* Load.  On a shared machine the load changes from second to second: the
  rounds alternate the two sides ``--rounds`` times, each side keeps its best
  round per shape, and the load average is printed at the start and the end.
  "paired" is the median over the rounds of the per-round ratio, a second
  estimate that a burst of load on one side moves less.
Before timing, the parent process checks that both compute the same gradients.

    python benchmarks/conv.py [--repeat R] [--rounds N] [--threads T] [--clock wall|cpu] [--json OUT]
                              [--shapes dcgan|stylegan]

``--shapes stylegan``: the convolutions of StyleGAN-lite's cpu-preset discriminator instead of
DCGAN's (benchmarks/README.md, "StyleGAN-lite against PyTorch", says what they show).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time


def _threads_from_argv() -> int:
    """--threads must act before NumPy loads its BLAS, so it is read ahead of argparse."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return os.cpu_count() or 1


THREADS = _threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# (name, transposed, N, C_in, H, C_out, k, stride, padding)
SHAPE_SETS = {
    # the canonical 28x28 DCGAN's layers (batch 64), and a 3x3 convolution for scale
    "dcgan": [
        ("D conv1  1->64   28->14 4x4 s2", False, 64, 1, 28, 64, 4, 2, 1),
        ("D conv2 64->128  14->7  4x4 s2", False, 64, 64, 14, 128, 4, 2, 1),
        ("G convT 128->64   7->14 4x4 s2", True, 64, 128, 7, 64, 4, 2, 1),
        ("G convT 64->1    14->28 4x4 s2", True, 64, 64, 14, 1, 4, 2, 1),
        ("conv 3x3 64->64 32x32 s1", False, 64, 64, 32, 64, 3, 1, 1),
    ],
    # StyleGAN-lite's cpu-preset discriminator on one pass of reals and fakes (batch 64): the
    # FromRGB, each block's 3x3 convolution and its downsampling one (stride 2 after the FIR
    # blur, hence the odd sizes), a 1x1 skip, and the epilogue's 3x3 (64 + 1 stddev channel)
    "stylegan": [
        ("FromRGB 1->32 32x32 1x1", False, 64, 1, 32, 32, 1, 1, 0),
        ("conv 3x3 32->32 32x32 s1", False, 64, 32, 32, 32, 3, 1, 1),
        ("conv 3x3 32->32 33->16 s2", False, 64, 32, 33, 32, 3, 2, 0),
        ("skip 1x1 32->32 16x16", False, 64, 32, 16, 32, 1, 1, 0),
        ("conv 3x3 32->32 16x16 s1", False, 64, 32, 16, 32, 3, 1, 1),
        ("conv 3x3 32->64 17->8 s2", False, 64, 32, 17, 64, 3, 2, 0),
        ("conv 3x3 64->64 8x8 s1", False, 64, 64, 8, 64, 3, 1, 1),
        ("conv 3x3 65->64 4x4 s1", False, 64, 65, 4, 64, 3, 1, 1),
    ],
}
SHAPES = SHAPE_SETS["dcgan"]     # the set timed; --shapes picks another
SHAPE_SET = "dcgan"


def best_of(fn, repeat: int, clock=time.perf_counter) -> float:
    """The fastest of ``repeat`` calls, after warming up: at least 3 calls and 0.3 s (the
    first calls of a shape pay for the allocator and the BLAS threads settling in)."""
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < 0.3:
        fn()
        n += 1
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


def flops(N, Cin, H, Cout, k, s, p, transposed) -> float:
    if transposed:   # the GEMMs of the convolution it is the adjoint of
        Ho = H
        Cin, Cout = Cout, Cin
    else:
        Ho = (H + 2 * p - k) // s + 1
    return 3 * 2.0 * N * Ho * Ho * Cout * Cin * k * k


def sgemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t = best_of(lambda: a @ a, 5)
    return 2 * 1024 ** 3 / t / 1e9


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def data(shape):
    """The same input, weight and output gradient for both libraries (float32 arrays)."""
    name, transposed, N, Cin, H, Cout, k, s, p = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, Cin, H, H)).astype(np.float32)
    w_shape = (Cin, Cout, k, k) if transposed else (Cout, Cin, k, k)
    w = (rng.standard_normal(w_shape) * 0.05).astype(np.float32)
    Ho = (H - 1) * s - 2 * p + k if transposed else (H + 2 * p - k) // s + 1
    gy = rng.standard_normal((N, Cout, Ho, Ho)).astype(np.float32)
    return x, w, gy


def tinygan_step(shape):
    """One forward + backward of tinygan on the shape: a callable, and the gradients it leaves."""
    import tinygan
    from tinygan.kernels.host_memory import keep_freed_memory
    keep_freed_memory()     # as the trainer and the CLI do (import tinygan leaves malloc alone)
    from tinygan.ops import conv as F   # the same functions as tinygan.nn.functional
    name, transposed, N, Cin, H, Cout, k, s, p = shape
    x_np, w_np, gy_np = data(shape)
    op = F.conv_transpose2d if transposed else F.conv2d
    x, w = tinygan.tensor(x_np, requires_grad=True), tinygan.tensor(w_np, requires_grad=True)
    gy = tinygan.tensor(gy_np)

    def step():
        x.grad = w.grad = None
        op(x, w, None, s, p).backward(gy)
        return x.grad.data, w.grad.data
    return step


def torch_step(shape):
    import torch
    name, transposed, N, Cin, H, Cout, k, s, p = shape
    x_np, w_np, gy_np = data(shape)
    top = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    x, w = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    gy = torch.tensor(gy_np)

    def step():
        x.grad = w.grad = None
        top(x, w, None, s, p).backward(gy)
        return x.grad.numpy(), w.grad.numpy()
    return step


def child(side: str, repeat: int, clock: str) -> None:
    """Time every shape best-of ``repeat`` on one side; print {name: seconds} as JSON."""
    if side == "torch":
        import torch
        torch.set_num_threads(THREADS)
    make = tinygan_step if side == "tinygan" else torch_step
    timer = time.process_time if clock == "cpu" else time.perf_counter
    print(json.dumps({shape[0]: best_of(make(shape), repeat, timer) for shape in SHAPES}))


def run_child(side: str, repeat: int, clock: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", side, "--repeat", str(repeat),
                          "--threads", str(THREADS), "--clock", clock, "--shapes", SHAPE_SET],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{side} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed calls per shape in each process")
    ap.add_argument("--rounds", type=int, default=3, help="tinygan/PyTorch process pairs")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="threads for both libraries (default: all cores)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: the process's CPU time, which time spent waiting for a core on a "
                         "loaded machine does not inflate (meaningful with --threads 1 only)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--shapes", choices=sorted(SHAPE_SETS), default="dcgan",
                    help="which network's convolutions to time")
    ap.add_argument("--child", choices=["tinygan", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    global SHAPES, SHAPE_SET
    SHAPES, SHAPE_SET = SHAPE_SETS[args.shapes], args.shapes
    if args.child:
        return child(args.child, args.repeat, args.clock)
    if args.clock == "cpu" and THREADS != 1:
        ap.error("--clock cpu adds up the CPU time of all threads, idle spinning included: "
                 "use it with --threads 1")
    try:
        import torch
        torch.set_num_threads(THREADS)
    except ImportError:
        torch = None
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy "
          f"{np.__version__}, {THREADS} BLAS threads"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
             if torch else ", torch not installed"))
    print(f"# load average {load()} (1/5/15 min) at start")
    print(f"# machine sgemm (numpy BLAS, 1024^3): {sgemm_rate():.1f} GFLOP/s")
    sides = ["tinygan"]
    if torch is not None:
        # check both compute the same thing before comparing their speed
        for shape in SHAPES:
            (gx, gw), (tx, tw) = tinygan_step(shape)(), torch_step(shape)()
            assert np.allclose(gx, tx, rtol=1e-3, atol=1e-3), shape[0]
            assert np.allclose(gw, tw, rtol=1e-3, atol=1e-2), shape[0]
        sides.append("torch")
    runs = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side in sides:
            runs[side].append(run_child(side, args.repeat, args.clock))
    print(f"# {args.rounds} rounds of ({', '.join(s + ' process' for s in sides)}), best of "
          f"{args.repeat} calls each, {args.clock} clock")
    print(f"{'shape':34s} {'tinygan ms':>10s} {'GFLOP/s':>8s} {'torch ms':>9s} {'speed vs torch':>15s}"
          f" {'paired':>7s}")
    rows, ratios = [], []
    for name, transposed, N, Cin, H, Cout, k, s, p in SHAPES:
        t_tg = min(r[name] for r in runs["tinygan"])
        gf = flops(N, Cin, H, Cout, k, s, p, transposed) / t_tg / 1e9
        row = {"shape": name, "tinygan_ms": t_tg * 1e3, "gflops": gf}
        if "torch" not in runs:
            print(f"{name:34s} {t_tg * 1e3:10.2f} {gf:8.1f} {'-':>9s} {'-':>15s}")
            rows.append(row)
            continue
        t_t = min(r[name] for r in runs["torch"])
        paired = statistics.median(b[name] / a[name] for a, b in zip(runs["tinygan"], runs["torch"]))
        row.update(torch_ms=t_t * 1e3, speed_ratio=t_t / t_tg, paired_ratio=paired)
        rows.append(row)
        ratios.append((t_t / t_tg, paired))
        print(f"{name:34s} {t_tg * 1e3:10.2f} {gf:8.1f} {t_t * 1e3:9.2f} {t_t / t_tg:14.2f}x"
              f" {paired:6.2f}x")
    if ratios:
        gm = math.exp(sum(math.log(r) for r, _ in ratios) / len(ratios))
        gp = math.exp(sum(math.log(r) for _, r in ratios) / len(ratios))
        target = "; target >= 0.6x" if SHAPE_SET == "dcgan" else ""
        print(f"geometric mean speed vs torch: {gm:.2f}x (paired {gp:.2f}x{target})")
    print(f"# load average {load()} at end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": THREADS, "clock": args.clock, "load_end": os.getloadavg(),
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
