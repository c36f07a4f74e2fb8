"""Why tinygan's CPU convolution is im2col + GEMM and not Winograd: a measurement.

The Winograd minimal-filtering algorithm F(2x2, 3x3) (Lavin & Gray 2016, "Fast
Algorithms for Convolutional Neural Networks", eq. 8) computes a 2x2 output tile of
a 3x3 convolution from a 4x4 input tile d and the filter g as

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A                                    (eq. 8)

where (.) is the elementwise product and, for F(2, 3),

    B^T = [[1, 0,-1, 0],   G = [[ 1,   0,   0 ],   A^T = [[1, 1, 1, 0],
           [0, 1, 1, 0],        [ 1/2, 1/2, 1/2],          [0, 1,-1,-1]]
           [0,-1, 1, 0],        [ 1/2,-1/2, 1/2],
           [0, 1, 0,-1]]        [ 0,   0,   1 ]]

Summed over input channels, the 16 elementwise products become 16 matrix products
(tiles x C) @ (C x O): 16 multiplies per 2x2 outputs instead of 36, 2.25x fewer.
The price is the two transforms, B^T d B and A^T M A: additions over every tile.

This script times, on the shapes of StyleGAN-lite's cpu-preset discriminator (stride-1
3x3 convolutions, batch 64 as in its one pass over reals and fakes), the forward of

* tinygan's ``F.conv2d`` (im2col + OpenBLAS, in chunks, channels last inside),
* the Winograd F(2x2, 3x3) below, in NumPy, batch in chunks of several sizes (the
  best one reported), with the transforms as whole-array NumPy additions, and the same
  with each transform as one dense matrix product over all tiles ("matrix form"),
* PyTorch's conv2d if torch is installed (oneDNN's direct convolution),
* the bare GEMM that im2col leads to, (N*H*W, 9C) @ (9C, O), done a few images'
  rows at a time as im2col's chunks are: the rate numpy's BLAS reaches on this
  product is the ceiling for any im2col convolution.

NumPy's side and PyTorch's each run in a fresh process (neither library's idle worker
threads then slow the other), with the thread settings of ``side_by_side.thread_env``.
Before timing, the NumPy side checks in float64 that both Winograd forms' outputs equal
``F.conv2d``'s.

    python benchmarks/winograd.py [--threads T] [--repeat R] [--json OUT]

Results and their reading: benchmarks/README.md, "Winograd in NumPy".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

# (N, C, H, O): the stride-1 3x3 convolutions of the cpu preset's D (one pass, batch 64).
SHAPES = [(64, 32, 32, 32), (64, 32, 16, 32), (64, 64, 8, 64)]
CHUNKS = (2, 4, 8, 16)

# Lavin & Gray's F(2x2, 3x3) matrices (eq. 8); B^T and A^T are applied as additions below.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def winograd_weight(w: np.ndarray) -> np.ndarray:
    """U = G g G^T for every (output, input) channel pair.

    w: (O, C, 3, 3).  Returns U: (16, C, O), the 4x4 transformed filter flattened in
    front, ready for 16 matrix products with the transformed tiles (16, T, C).
    """
    o, c = w.shape[:2]
    g = _G.astype(w.dtype)
    u = np.einsum("ai,ocij,bj->abco", g, w, g)
    return np.ascontiguousarray(u.reshape(16, c, o))


def _prepare(name: str, x: np.ndarray, w: np.ndarray) -> tuple:
    """Check the shapes; return x zero-padded by one pixel, the transformed filter U and the
    output array: (N, H+2, W+2, C), (16, C, O), (N, H, W, O)."""
    n, h, wd, c = x.shape
    if w.shape[1:] != (c, 3, 3) or h % 2 or wd % 2:
        raise ValueError(f"{name}: x {x.shape} (N, H, W, C) with even H, W and "
                         f"w {w.shape} (O, C, 3, 3) expected")
    xp = np.zeros((n, h + 2, wd + 2, c), x.dtype)
    xp[:, 1:-1, 1:-1] = x
    return xp, winograd_weight(w), np.empty((n, h, wd, w.shape[0]), x.dtype)


def winograd_conv3x3(x: np.ndarray, w: np.ndarray, chunk: int = 4) -> np.ndarray:
    """Stride-1, padding-1 3x3 convolution by Winograd F(2x2, 3x3).

    x: (N, H, W, C) channels last, H and W even; w: (O, C, 3, 3).  Returns (N, H, W, O).
    The batch goes ``chunk`` images at a time so that the transformed tiles stay in cache.
    """
    xp, u, out = _prepare("winograd_conv3x3", x, w)
    n_all, h, wd, c = x.shape
    h2, w2, o = h // 2, wd // 2, w.shape[0]
    for n0 in range(0, n_all, chunk):
        xs = xp[n0:n0 + chunk]
        n = xs.shape[0]
        # B^T d: along the height, the four rows of every tile (tiles start every 2 rows).
        r = [xs[:, k:k + h:2] for k in range(4)]
        rows = np.empty((4, n, h2, wd + 2, c), x.dtype)
        np.subtract(r[0], r[2], out=rows[0])
        np.add(r[1], r[2], out=rows[1])
        np.subtract(r[2], r[1], out=rows[2])
        np.subtract(r[1], r[3], out=rows[3])
        # (B^T d) B: the same along the width, written as V (16, tiles, C).
        v = np.empty((16, n * h2 * w2, c), x.dtype)
        v6 = v.reshape(4, 4, n, h2, w2, c)
        for i in range(4):
            s = [rows[i][:, :, k:k + wd:2] for k in range(4)]
            np.subtract(s[0], s[2], out=v6[i, 0])
            np.add(s[1], s[2], out=v6[i, 1])
            np.subtract(s[2], s[1], out=v6[i, 2])
            np.subtract(s[1], s[3], out=v6[i, 3])
        # The 16 products summed over input channels: (16, T, C) @ (16, C, O).
        m = np.matmul(v, u).reshape(4, 4, n, h2, w2, o)
        # A^T M A: rows then columns, into the 2x2 output tiles.
        t0 = m[0] + m[1]
        t0 += m[2]
        t1 = m[1] - m[2]
        t1 -= m[3]
        y = out[n0:n0 + n].reshape(n, h2, 2, w2, 2, o)
        for a, t in enumerate((t0, t1)):
            np.add(t[0], t[1], out=y[:, :, a, :, 0])
            y[:, :, a, :, 0] += t[2]
            np.subtract(t[1], t[2], out=y[:, :, a, :, 1])
            y[:, :, a, :, 1] -= t[3]
    return out


# The same transforms as whole matrices on a flattened 4x4 tile: vec(B^T d B) = (B^T (x) B^T)
# vec(d), and vec(A^T M A) = (A^T (x) A^T) vec(M), with (x) the Kronecker product.
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_B16 = np.kron(_BT, _BT)        # (16, 16)
_A16 = np.kron(_AT, _AT)        # (4, 16)


def winograd_conv3x3_matrix(x: np.ndarray, w: np.ndarray, chunk: int = 4) -> np.ndarray:
    """``winograd_conv3x3`` with each transform as ONE matrix product over all tiles.

    Per 2x2 output tile the dense transforms cost 256 C + 64 O multiply-adds, less than the
    20 C O that the 16 products save against im2col's 36 C O -- but they are products with
    16 inner terms, which run far below BLAS's peak, and the tiles must still be copied out
    (4x the input) and the outputs interleaved back.  x: (N, H, W, C), H and W even;
    w: (O, C, 3, 3).
    """
    xp, u, out = _prepare("winograd_conv3x3_matrix", x, w)
    n_all, h, wd, c = x.shape
    h2, w2, o = h // 2, wd // 2, w.shape[0]
    b16, a16 = _B16.astype(x.dtype), _A16.astype(x.dtype)
    for n0 in range(0, n_all, chunk):
        xs = xp[n0:n0 + chunk]
        n = xs.shape[0]
        s = xs.strides
        # every 4x4 tile (they start every 2 pixels), the tile's 16 values in front
        tiles = np.lib.stride_tricks.as_strided(xs, (4, 4, n, h2, w2, c),
                                                (s[1], s[2], s[0], 2 * s[1], 2 * s[2], s[3]))
        d = np.empty(tiles.shape, x.dtype)
        d[...] = tiles
        t = n * h2 * w2
        v = (b16 @ d.reshape(16, t * c)).reshape(16, t, c)
        m = np.matmul(v, u)                                        # (16, T, O)
        y = (a16 @ m.reshape(16, t * o)).reshape(2, 2, n, h2, w2, o)
        out[n0:n0 + n].reshape(n, h2, 2, w2, 2, o)[...] = y.transpose(2, 3, 0, 4, 1, 5)
    return out


def _best_ms(fn, repeat: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def _inputs(shape, dtype=np.float32):
    n, c, h, o = shape
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, c, h, h)).astype(dtype),
            (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype))


def check_against_tinygan() -> float:
    """Largest |winograd - F.conv2d| / max|F.conv2d| over the shapes and both forms, float64."""
    import tinygan as tg
    import tinygan.nn.functional as F
    worst = 0.0
    for n, c, h, o in SHAPES:
        x, w = _inputs((4, c, h, o), np.float64)
        with tg.no_grad():
            ref = F.conv2d(tg.tensor(x), tg.tensor(w), padding=1).numpy()
        for form in (winograd_conv3x3, winograd_conv3x3_matrix):
            got = form(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), w)
            worst = max(worst, float(np.abs(got.transpose(0, 3, 1, 2) - ref).max() / np.abs(ref).max()))
    return worst


def time_numpy(repeat: int) -> list[dict]:
    import tinygan as tg
    import tinygan.nn.functional as F
    rows = []
    for shape in SHAPES:
        n, c, h, o = shape
        x, w = _inputs(shape)
        xt, wt = tg.tensor(x), tg.tensor(w)
        with tg.no_grad():
            t_conv = _best_ms(lambda: F.conv2d(xt, wt, padding=1), repeat)
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        per_chunk = {ch: _best_ms(lambda: winograd_conv3x3(x_nhwc, w, ch), repeat) for ch in CHUNKS}
        best_chunk = min(per_chunk, key=per_chunk.get)
        t_matrix = min(_best_ms(lambda: winograd_conv3x3_matrix(x_nhwc, w, ch), repeat)
                       for ch in CHUNKS)
        # The GEMM on `ch` images' patches at a time (a cache-sized operand, as im2col's chunks
        # are), times the number of chunks; the best chunk size is the ceiling.
        b = np.random.default_rng(2).standard_normal((9 * c, o)).astype(np.float32)
        t_gemm = float("inf")
        for ch in CHUNKS:
            a = np.random.default_rng(1).standard_normal((ch * h * h, 9 * c)).astype(np.float32)
            t_gemm = min(t_gemm, _best_ms(lambda: a @ b, repeat) * n / ch)
        rows.append({"shape": list(shape), "tinygan_ms": t_conv, "winograd_ms": per_chunk[best_chunk],
                     "winograd_chunk": best_chunk, "winograd_matrix_ms": t_matrix, "gemm_ms": t_gemm,
                     "gemm_gflops": 2 * n * h * h * 9 * c * o / t_gemm / 1e6})
    return rows


def time_torch(repeat: int) -> list[float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    out = []
    with torch.no_grad():
        for shape in SHAPES:
            x, w = (torch.from_numpy(a) for a in _inputs(shape))
            out.append(_best_ms(lambda: torch.nn.functional.conv2d(x, w, padding=1), repeat))
    return out


def _child(side: str, threads: int, repeat: int):
    """Run one side in a fresh process with ``threads`` threads; its JSON result."""
    sys.path.insert(0, HERE)
    from side_by_side import thread_env
    env = dict(thread_env(threads), TINYGAN_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", side,
                          "--repeat", str(repeat)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"winograd.py: the {side} child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch / tinygan threads (default 1)")
    p.add_argument("--repeat", type=int, default=7, help="timed calls per measurement, best kept")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1 or args.repeat < 1:
        p.error(f"--threads {args.threads} and --repeat {args.repeat} must be >= 1")
    if args.child == "numpy":
        err = check_against_tinygan()
        # float64 rounding of two summation orders over 9*C terms is ~1e-15: more is a bug
        rows = time_numpy(args.repeat) if err <= 1e-12 else None
        print(json.dumps({"max_rel_diff_f64": err, "rows": rows}))
        return 0
    if args.child == "torch":
        print(json.dumps(time_torch(args.repeat)))
        return 0

    # One side per process (numpy's and torch's idle worker threads would slow each other).
    result = _child("numpy", args.threads, args.repeat)
    err, rows = result["max_rel_diff_f64"], result["rows"]
    print(f"# Winograd F(2x2,3x3) against F.conv2d in float64: max relative difference {err:.1e}")
    if rows is None:
        print("# they disagree: not timed", file=sys.stderr)
        return 1
    torch_ms = _child("torch", args.threads, args.repeat)
    print(f"# forward only, float32, {args.threads} thread(s), best of {args.repeat}; "
          f"numpy {np.__version__}")
    print(f"{'shape (N, C, H=W, O)':22s} {'tinygan ms':>10s} {'winograd ms':>11s} {'chunk':>5s} "
          f"{'matrix form ms':>14s} {'torch ms':>8s} {'GEMM alone ms':>13s} {'GEMM GFLOP/s':>12s}")
    for i, r in enumerate(rows):
        r["torch_ms"] = None if torch_ms is None else torch_ms[i]
        t = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        print(f"{str(tuple(r['shape'])):22s} {r['tinygan_ms']:10.2f} {r['winograd_ms']:11.2f} "
              f"{r['winograd_chunk']:5d} {r['winograd_matrix_ms']:14.2f} {t:>8s} "
              f"{r['gemm_ms']:13.2f} {r['gemm_gflops']:12.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "max_rel_diff_f64": err, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
