"""upfirdn2d: upsample by zero insertion, pad, FIR filter, downsample -- zeros never stored.

Arrays in, arrays out; the op, its parsing and its derivative live in ``ops/upfirdn2d.py``.

What is computed.  Along one axis, with input x of length n, up-factor u, down-factor d,
padding p0 before (negative: crop), a filter g of k taps applied as a correlation (the
op flips f into g for a true convolution), the output is

    y[o] = sum_{t=0..k-1} g[t] * x[(o*d + t - p0) / u]                       (1)

where a term counts only when u divides o*d + t - p0 and the quotient is an input index
(the other terms read the inserted zeros or the padding).  o runs over
``(n*u + p0 + p1 - k) // d + 1`` outputs.  In 2-D the rule holds for each axis; a 1-D
filter is separable (the same taps along x, then along y), a 2-D filter is not.

The zeros are never stored: for a tap t, the outputs o it reaches form an arithmetic
progression (o*d = t - p0 mod u repeats with period u / gcd(u, d)), and the inputs they
read form another (step d / gcd(u, d)).  So a tap is ONE strided slice-add,

    y[o0 :: u/g] += g[t] * x[n0 :: d/g]       (``_taps`` finds o0, n0 and the count)

and a separable pass is k of them -- the CPU path ``upfirdn2d_reference``, which is the
plain twin and also fast: every element gets the same additions in the same order
whatever the split, and the planes (N*C of them) are split over tinygan's threads in
chunks that stay in cache.

On small images (StyleGAN-lite's are at most 33 pixels a side) the CPU path is
``upfirdn2d_matmul`` instead: a separable pass is rule (1) as a small banded matrix, and
BLAS multiplies by it faster than k slice-adds run; a 2-D filter that is an outer product
(``rank_one``; setup_filter makes the binomial filters 2-D) counts as separable on the CPU.

The CUDA kernel ``upfirdn2d.cu`` does it all in one pass instead: each output pixel
gets a thread that gathers its taps by rule (1) for both axes (a 1-D filter becomes the
2-D outer product there); ``launch_forward`` launches it, for the GPU and for the
emulator in the tests alike.  ``forward`` picks: the kernel on CuPy float32 and float64
arrays, the twin otherwise (and on CuPy with ``TINYGAN_KERNELS=0``).
"""
from __future__ import annotations

import functools
from math import gcd

import numpy as np

from .. import backend
from . import benchmark, cuda
from . import threads
from .threads import get_num_threads, parallel_map, split

SOURCE = "upfirdn2d.cu"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAMES = tuple(f"upfirdn2d_forward<{c}>" for c in CTYPES.values())
cuda.declare(SOURCE, list(NAMES))
BLOCK = 256                          # threads per block of the CUDA kernel: a multiple of the warp
MAX_BLOCKS = 4096                    # enough to fill any GPU; the grid-stride loop does the rest
MATMUL_MAX = 64                      # image sides up to which upfirdn2d_matmul is the CPU path
CHUNK_BYTES = 1 << 19                # a chunk of planes and its intermediate: about L2-sized


def out_size(n: int, up: int, down: int, pad0: int, pad1: int, k: int) -> int:
    """The number of outputs along one axis: ``(n*up + pad0 + pad1 - k) // down + 1``."""
    return (n * up + pad0 + pad1 - k) // down + 1


def _taps(n: int, n_out: int, up: int, down: int, pad0: int, k: int) -> list:
    """For each tap t of rule (1): (t, o0, n0, count, o_step, n_step), the outputs
    o0 + j*o_step reading the inputs n0 + j*n_step, j < count; taps that reach no output
    are left out."""
    g = gcd(up, down)
    o_step, n_step = up // g, down // g
    taps = []
    for t in range(k):
        # the first o >= 0 with o*down + t - pad0 >= 0 (an input index, not the padding before)
        o = max(0, -((t - pad0) // down))
        # o*down + t - pad0 = 0 (mod up) holds for o in one residue class mod o_step, or none
        for o0 in range(o, o + o_step):
            if (o0 * down + t - pad0) % up == 0:
                break
        else:
            continue                                 # this tap only ever reads inserted zeros
        n0 = (o0 * down + t - pad0) // up
        count = min(-(-(n_out - o0) // o_step), -(-(n - n0) // n_step))
        if count > 0:
            taps.append((t, o0, n0, count, o_step, n_step))
    return taps


def _pass(x, y, g, taps: list, axis: int) -> None:
    """y += the filter g along ``axis`` by rule (1): one strided slice-add per tap."""
    xp = backend.get_array_module(x)
    lead = (slice(None),) * (axis % x.ndim)
    for t, o0, n0, count, so, sn in taps:
        dst = y[lead + (slice(o0, o0 + (count - 1) * so + 1, so),)]
        src = x[lead + (slice(n0, n0 + (count - 1) * sn + 1, sn),)]
        dst += xp.multiply(src, g[t])


def _separable(x, gx, gy, up, down, pad, y) -> None:
    """x (P, H, W) -> y (P, Ho, Wo), zeros on entry: the taps gx along W, then gy along H."""
    xp = backend.get_array_module(x)
    (upx, upy), (downx, downy), (px0, _, py0, _) = up, down, pad
    p, h, w = x.shape
    ho, wo = y.shape[1:]
    mid = xp.zeros((p, h, wo), dtype=x.dtype)
    _pass(x, mid, gx, _taps(w, wo, upx, downx, px0, len(gx)), axis=2)
    _pass(mid, y, gy, _taps(h, ho, upy, downy, py0, len(gy)), axis=1)


def _full(x, g, up, down, pad, y) -> None:
    """x (P, H, W) -> y (P, Ho, Wo), zeros on entry, by a 2-D filter g (kh, kw): a double
    loop of taps."""
    xp = backend.get_array_module(x)
    (upx, upy), (downx, downy), (px0, _, py0, _) = up, down, pad
    p, h, w = x.shape
    ho, wo = y.shape[1:]
    rows = _taps(h, ho, upy, downy, py0, g.shape[0])
    cols = _taps(w, wo, upx, downx, px0, g.shape[1])
    for ty, oy, ny, cy, soy, sny in rows:
        for tx, ox, nx, cx, sox, snx in cols:
            dst = y[:, oy:oy + (cy - 1) * soy + 1:soy, ox:ox + (cx - 1) * sox + 1:sox]
            src = x[:, ny:ny + (cy - 1) * sny + 1:sny, nx:nx + (cx - 1) * snx + 1:snx]
            dst += xp.multiply(src, g[ty, tx])


def filter_taps(f, flip_filter: bool, gain: float, dtype):
    """The correlation taps of f in ``dtype``: f itself when ``flip_filter`` (the op then
    correlates), else f reversed along every axis (a true convolution), times the gain --
    all of it on a 2-D filter, on the first (x) pass of a 1-D one."""
    xp = backend.get_array_module(f)
    g = f if flip_filter else f[(slice(None, None, -1),) * f.ndim]
    return xp.ascontiguousarray(g * gain, dtype=dtype), xp.ascontiguousarray(g, dtype=dtype)


def rank_one(g):
    """(col, row) with g == outer(col, row) to rounding, for a 2-D filter (kh, kw) that is an
    outer product (the binomial filters setup_filter makes 2-D are), else None.

    Such a filter runs on the CPU as two 1-D passes, kh + kw taps a pixel instead of kh * kw;
    the sums then differ from the 2-D pass's by rounding only (each product is rounded twice
    instead of once, a few units in the last place).
    """
    r, c = np.unravel_index(np.argmax(np.abs(g)), g.shape)
    if g[r, c] == 0:
        return None
    col, row = g[:, c] / g[r, c], g[r, :]
    err = np.abs(np.multiply.outer(col, row) - g).max()
    if err > 8 * np.finfo(g.dtype).eps * np.abs(g[r, c]):
        return None
    return col.astype(g.dtype), row.astype(g.dtype)


def upfirdn2d_reference(x, f, up: tuple, down: tuple, pad: tuple, flip_filter: bool = False,
                        gain: float = 1.0):
    """The twin and the CPU path (any array module).

    Args:
        x: (N, C, H, W) floats.
        f: (k,) separable or (kh, kw) filter, any float dtype (cast to x's).
        up, down: (x, y) integer factors >= 1.
        pad: (x0, x1, y0, y1), negative entries crop.
    Returns:
        (N, C, Ho, Wo) with Ho = out_size(H, up_y, down_y, y0, y1, kh), likewise Wo.
    """
    n, c, h, w = x.shape
    kh, kw = (f.shape[0], f.shape[0]) if f.ndim == 1 else f.shape
    out_hw = (out_size(h, up[1], down[1], pad[2], pad[3], kh),
              out_size(w, up[0], down[0], pad[0], pad[1], kw))
    g_gain, g = filter_taps(f, flip_filter, gain, x.dtype)
    xp = backend.get_array_module(x)
    factors = rank_one(g_gain) if f.ndim == 2 and xp is np else None
    planes = x.reshape(n * c, h, w)
    y = xp.empty((n * c,) + out_hw, dtype=x.dtype)

    def run(sl: slice) -> None:
        out = y[sl]
        out.fill(0)                 # in cache when a chunk is: the taps add into it next
        if f.ndim == 1:
            _separable(planes[sl], g_gain, g, up, down, pad, out)
        elif factors is not None:
            _separable(planes[sl], factors[1], factors[0], up, down, pad, out)
        else:
            _full(planes[sl], g_gain, up, down, pad, out)

    size = planes.size + y.size
    if xp is not np or size < threads.PARALLEL_MIN or n * c < 2:
        run(slice(0, n * c))
    else:
        # Chunks of planes sized so that one chunk's input, intermediate and output stay
        # in cache, and at least one per thread.
        per_plane = (h * w + h * out_hw[1] + out_hw[0] * out_hw[1]) * x.itemsize
        chunks = max(get_num_threads(), -(-n * c * per_plane // CHUNK_BYTES))
        parallel_map(run, split(n * c, chunks))
    return y.reshape(n, c, *out_hw)


def axis_matrix(n: int, n_out: int, up: int, down: int, pad0: int, g):
    """Rule (1) along one axis as a matrix M (n_out, n): y = M @ x, M[o, m] = g[t] for the one
    tap t = m*up - o*down + pad0 that links them (0 where none does)."""
    m = np.zeros((n_out, n), dtype=g.dtype)
    for t, o0, n0, count, so, sn in _taps(n, n_out, up, down, pad0, len(g)):
        j = np.arange(count)
        m[o0 + j * so, n0 + j * sn] = g[t]
    return m


def upfirdn2d_matmul(x, f, up: tuple, down: tuple, pad: tuple, flip_filter: bool = False,
                     gain: float = 1.0):
    """The CPU path for small images and separable filters: each 1-D pass as a matrix product.

    Along an axis of a few dozen pixels, rule (1) is a small banded matrix (``axis_matrix``);
    the x pass is then ONE matrix product, (P*H, W) @ (W, Wo), and the y pass P small ones,
    (Ho, H) @ (H, Wo).  The matrices are mostly zeros -- n / k times the taps' multiplications
    -- but BLAS does them far faster than k strided slice-adds (benchmarks/upfirdn2d.py), as
    long as the axes are short (``MATMUL_MAX`` pixels).  Arguments as ``upfirdn2d_reference``
    (NumPy arrays); returns None for a 2-D filter that is not an outer product (``rank_one``).
    """
    n, c, h, w = x.shape
    f = np.asarray(f)
    matrices = _axis_matrices(h, w, tuple(up), tuple(down), tuple(pad), bool(flip_filter),
                              float(gain), np.dtype(x.dtype), f.shape, f.tobytes(), f.dtype)
    if matrices is None:
        return None
    mx_t, my = matrices
    ho, wo = my.shape[0], mx_t.shape[1]
    planes = np.ascontiguousarray(x).reshape(n * c, h, w)
    y = np.empty((n * c, ho, wo), dtype=x.dtype)

    def run(sl: slice) -> None:
        p = planes[sl]
        mid = (p.reshape(-1, w) @ mx_t).reshape(p.shape[0], h, wo)
        np.matmul(my, mid, out=y[sl])

    if x.size + y.size < threads.PARALLEL_MIN or n * c < 2:
        run(slice(0, n * c))
    else:
        parallel_map(run, split(n * c, get_num_threads()))
    return y.reshape(n, c, ho, wo)


@functools.lru_cache(maxsize=128)
def _axis_matrices(h, w, up, down, pad, flip_filter, gain, dtype, f_shape, f_bytes, f_dtype):
    """(mx_t (W, Wo), my (Ho, H)) of ``upfirdn2d_matmul``, or None for a 2-D filter that is not
    an outer product.  Remembered by their arguments: a network calls upfirdn2d with the same
    few filters and sizes at every step, and building the matrices anew (the taps, an outer-
    product check, two small dense arrays) cost about 5 ms of Python in a StyleGAN-lite step.
    They are read-only, so that no caller can change what the next one gets."""
    f = np.frombuffer(f_bytes, dtype=f_dtype).reshape(f_shape)
    g_gain, g = filter_taps(f, flip_filter, gain, dtype)
    if f.ndim == 1:
        gx, gy = g_gain, g
    else:
        factors = rank_one(g_gain)
        if factors is None:
            return None
        gy, gx = factors
    ho = out_size(h, up[1], down[1], pad[2], pad[3], len(gy))
    wo = out_size(w, up[0], down[0], pad[0], pad[1], len(gx))
    mx_t = axis_matrix(w, wo, up[0], down[0], pad[0], gx).T                         # (W, Wo)
    my = axis_matrix(h, ho, up[1], down[1], pad[2], gy)                             # (Ho, H)
    mx_t.flags.writeable = my.flags.writeable = False
    return mx_t, my


def launch_forward(get, x, f, up: tuple, down: tuple, pad: tuple, flip_filter: bool = False,
                   gain: float = 1.0):
    """upfirdn2d by the CUDA kernel: one thread per output pixel (grid-stride).

    ``get(name)`` returns the kernel callable (``cuda.function`` on a GPU, the emulator's in
    the tests); x and f belong to any array module, arguments as ``upfirdn2d_reference``.
    """
    if x.dtype not in CTYPES:
        raise TypeError(f"upfirdn2d kernel: x must be float32 or float64, got {x.dtype} "
                        f"(shape {tuple(x.shape)})")
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    if f.ndim == 1:
        f = f[:, None] * f[None, :]                  # the separable filter as its 2-D outer product
    kh, kw = f.shape
    ho = out_size(h, up[1], down[1], pad[2], pad[3], kh)
    wo = out_size(w, up[0], down[0], pad[0], pad[1], kw)
    g, _ = filter_taps(f, flip_filter, gain, x.dtype)
    x = xp.ascontiguousarray(x)
    y = xp.empty((n, c, ho, wo), dtype=x.dtype)
    total = n * c * ho * wo
    blocks = max(1, min(-(-total // BLOCK), MAX_BLOCKS))
    kernel = get(f"upfirdn2d_forward<{CTYPES[x.dtype]}>")
    i32 = np.int32
    kernel((blocks,), (BLOCK,),
           (x, g, y, np.int64(total), i32(h), i32(w), i32(ho), i32(wo), i32(up[0]), i32(up[1]),
            i32(down[0]), i32(down[1]), i32(pad[0]), i32(pad[2]), i32(kh), i32(kw)))
    return y


def forward(x, f, up: tuple, down: tuple, pad: tuple, flip_filter: bool = False,
            gain: float = 1.0):
    """upfirdn2d of x (N, C, H, W) by f (arguments as ``upfirdn2d_reference``): the CUDA
    kernel on CuPy arrays of float32 or float64; on NumPy arrays of sides up to
    ``MATMUL_MAX`` with a separable filter ``upfirdn2d_matmul``; the twin otherwise (and on
    CuPy with ``TINYGAN_KERNELS=0``)."""
    if cuda.use_kernel(x, f) and x.dtype in CTYPES:
        return launch_forward(lambda name: cuda.function(SOURCE, name), x, f, up, down, pad,
                              flip_filter, gain)
    if type(x) is np.ndarray and max(x.shape[2:]) <= MATMUL_MAX:
        y = upfirdn2d_matmul(x, f, up, down, pad, flip_filter, gain)
        if y is not None:
            return y
    return upfirdn2d_reference(x, f, up, down, pad, flip_filter, gain)


# StyleGAN2's resampling: upsample2d by 2 with the binomial [1, 3, 3, 1], separable (the twin
# on CuPy: eight strided slice-adds, each a CuPy kernel, plus the zero fills) and 2-D (sixteen).
def _upsample_inputs(xp, separable: bool):
    x = xp.asarray(np.random.default_rng(0).standard_normal((64, 256, 32, 32)), dtype=xp.float32)
    f = np.array([1.0, 3.0, 3.0, 1.0], dtype=np.float32) / 8
    return x, xp.asarray(f if separable else np.outer(f, f))


def _upsample(x, f):
    return forward(x, f, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0)


benchmark.register("upfirdn2d upsample2d x2 [1,3,3,1] separable, float32 (64, 256, 32, 32)",
                   inputs=lambda xp: _upsample_inputs(xp, True), run=_upsample)
benchmark.register("upfirdn2d upsample2d x2 [1,3,3,1] 2-D, float32 (64, 256, 32, 32)",
                   inputs=lambda xp: _upsample_inputs(xp, False), run=_upsample)
