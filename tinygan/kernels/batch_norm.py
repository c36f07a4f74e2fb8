"""Batch norm: statistics, affine map and closed-form backward in a few passes.

Arrays in, arrays out.  On the CPU (``forward``, ``backward``) the passes are NumPy
einsums split over threads; on a CUDA GPU they are the kernels of ``batch_norm.cu``,
launched by ``launch_forward`` and ``launch_backward`` (the end of this file).
Twins: ``reference.batch_norm_forward`` and ``reference.batch_norm_backward``, the
formulas of Ioffe & Szegedy (2015), Alg. 1 and Sec. 3.

On the CPU, x (N, C, ...) is seen as (N, C, L); per-channel sums are
``einsum``s, which NumPy runs as one pass without a temporary (2-3x faster than
``mean`` over axes (0, 2, 3)), each pass is split by samples over the threads
(``threads.for_rows``) with per-thread partial sums per channel added in order,
and the output is built in place in the array of centred values.  The sums are
what differ from the twin, by rounding.

ops/norm.py calls ``normalize_forward`` and ``normalize_backward``: each
decides whether these kernels take the normalization and returns None when
they don't (the op then runs its own formulas).  A CuPy array goes to the CUDA
kernels when ``cuda.use_kernel`` says so (``TINYGAN_KERNELS=0`` turns them off,
and the op's formulas then run as plain CuPy operations); a NumPy array to the
CPU kernels ``forward`` and ``backward``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import benchmark, cuda
from .elementwise import channel_sums
from .threads import add_up, for_rows


def applies(x, axes: tuple) -> bool:
    """Whether these kernels take this normalization: a NumPy float array normalized per
    channel (axis 1) over every other axis (batch norm)."""
    return (backend.get_array_module(x) is np and x.ndim >= 2
            and x.dtype in (np.float32, np.float64)       # einsum sums in the input's dtype
            and axes == (0,) + tuple(range(2, x.ndim)))


def on_device(x, axes: tuple, *others) -> bool:
    """Whether the CUDA kernels of batch_norm.cu take this normalization: ``cuda.use_kernel``
    says yes for x and the ``others`` (CuPy arrays, kernels on) and ``fits_device_kernels``."""
    return cuda.use_kernel(x, *others) and fits_device_kernels(x, axes)


def _compiled(name: str):
    return cuda.function(SOURCE, name)


def normalize_forward(x, weight, bias, eps: float, axes: tuple):
    """(y, mean, var, inv_std) for ``Normalize.forward`` over ``axes``, or None when
    neither ``on_device`` nor ``applies`` says these kernels take it."""
    if on_device(x, axes):
        return launch_forward(_compiled, x, weight, bias, eps)
    return forward(x, weight, bias, eps) if applies(x, axes) else None


def normalize_backward(x, gy, weight, bias, mean, inv_std, axes: tuple, needs: tuple):
    """(gx, gweight, gbias) for ``Normalize.backward`` when nothing is recorded, or None.

    ``needs``: which of the three are wanted; the others come back as None.  gweight
    and gbias come back in the shape and dtype of ``weight`` and ``bias``.  None when
    neither ``on_device`` (with gy of x's dtype) nor ``applies`` says yes, or gy is not of
    x's shape (a broadcast gradient).
    """
    if gy.shape != x.shape:
        return None
    need_x, need_w, need_b = needs
    if gy.dtype == x.dtype and on_device(x, axes, gy):
        gx, gw, gb = launch_backward(_compiled, x, gy, weight, mean, inv_std, need_x)
    elif applies(x, axes):
        gx, gw, gb = backward(x, gy, weight, mean, inv_std, need_x)
    else:
        return None
    return (gx if need_x else None,
            gw.astype(weight.dtype, copy=False).reshape(weight.shape) if need_w else None,
            gb.astype(bias.dtype, copy=False).reshape(bias.shape) if need_b else None)


def update_running(x, axes: tuple, running_mean, running_var, mean, var, momentum: float,
                   correction: float) -> bool:
    """On a GPU with the kernels on (``on_device`` for x, as the forward decided): both running
    statistics updated in place from the batch's ``mean`` and biased ``var`` in one launch
    (``launch_update_running``); True.  False when the kernel doesn't take them (then the op
    updates them with its own formula): not on the device, or the running arrays are not
    contiguous (C,) arrays of one float dtype."""
    if not on_device(x, axes, running_mean, running_var, mean, var):
        return False
    if not (running_mean.dtype in CTYPES and running_var.dtype == running_mean.dtype
            and running_mean.ndim == 1 and running_var.shape == running_mean.shape
            and running_mean.flags.c_contiguous and running_var.flags.c_contiguous):
        return False
    launch_update_running(_compiled, running_mean, running_var, mean, var, momentum, correction)
    return True


def forward(x, weight, bias, eps: float) -> tuple:
    """x (N, C, ...), weight and bias (1, C, 1, ...) -> (y, mean, var, inv_std).

    mean, var (biased) and inv_std = 1/sqrt(var + eps) come back as (1, C, 1, ...).
    Two passes for the statistics (the sums, then the centred sums of squares), one for
    y = (x - mean) * (inv_std * weight) + bias, in place.
    """
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    count = x3.shape[0] * x3.shape[2]
    mu = channel_sums(x3) / count
    d = np.empty(x3.shape, x.dtype)

    def centred(sl):
        ds = np.subtract(x3[sl], mu[:, None], out=d[sl])
        return np.einsum("ncl,ncl->c", ds, ds)
    var = add_up(for_rows(centred, n, x.size)) / count
    keep = (1, c) + (1,) * (x.ndim - 2)
    mean, var = mu.reshape(keep), var.reshape(keep)
    inv_std = 1.0 / np.sqrt(var + eps)
    scale, shift = (inv_std * weight).reshape(c, 1), bias.reshape(c, 1)

    def affine(sl):
        d[sl] *= scale
        d[sl] += shift
    for_rows(affine, n, x.size)
    return d.reshape(x.shape), mean, var, inv_std


def backward(x, gy, weight, mean, inv_std, need_x: bool = True) -> tuple:
    """The closed-form gradient of batch norm -> (gx or None, gweight (C,), gbias (C,)).

    With d = x - mu and per-channel sums S_g = sum gy, S_gd = sum gy d (einsums),
    mean(gy) = S_g / n and mean(gy xhat) = S_gd inv_std / n, so
    dx = gamma inv_std (gy - mean(gy) - xhat mean(gy xhat)) is dx = A gy + B d + C with
    per-channel A = gamma inv_std, B = -A inv_std mean(gy xhat), C = -A mean(gy):
    one pass for the sums, one in place for dx.  gweight = S_gd inv_std, gbias = S_g.
    """
    n_, c = x.shape[0], x.shape[1]
    x3, g3 = x.reshape(n_, c, -1), gy.reshape(n_, c, -1)
    count = x3.shape[0] * x3.shape[2]
    inv_std, mu = inv_std.reshape(c), mean.reshape(c, 1)
    d = np.empty(x3.shape, x3.dtype)

    def sums(sl):
        ds = np.subtract(x3[sl], mu, out=d[sl])
        return np.einsum("ncl->c", g3[sl]), np.einsum("ncl,ncl->c", g3[sl], ds)
    parts = for_rows(sums, n_, x3.size)
    s_g, s_gd = add_up([p[0] for p in parts]), add_up([p[1] for p in parts])
    gx = None
    if need_x:
        a = weight.reshape(c) * inv_std
        m_gxhat = s_gd * inv_std / count
        b_, c_ = (-a * inv_std * m_gxhat)[:, None], (-a * s_g / count)[:, None]

        def dx(sl):
            d[sl] *= b_
            d[sl] += c_
            d[sl] += g3[sl] * a[:, None]
        for_rows(dx, n_, x3.size)
        gx = d.reshape(x.shape)
    return gx, s_gd * inv_std, s_g


# -- on a CUDA GPU: the kernels of batch_norm.cu ------------------------------------------------
# The launches are written once, for any array module: ``get(name)`` returns a kernel callable
# with RawKernel's call shape ``f(grid, block, args)`` -- the compiled kernel on a GPU, or the
# CPU emulator's build of the same source in the tests -- and the arrays are allocated with the
# module of x (CuPy on a GPU, NumPy in the emulator).

SOURCE = "batch_norm.cu"
KERNELS = ("batch_norm_stats_partial", "batch_norm_stats_merge", "batch_norm_normalize",
           "batch_norm_backward_partial", "batch_norm_backward_merge", "batch_norm_backward_input",
           "batch_norm_update_running")
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAMES = [f"{k}<{t}>" for k in KERNELS for t in CTYPES.values()]     # the template instances
cuda.declare(SOURCE, NAMES)

THREADS = 256                # threads of a block: a power of two <= 256 (BN_MAX_THREADS)
VALUES_PER_THREAD = 16       # a reduction block's slice of a channel: about this many per thread
MAX_SLICES = 65535           # slices per channel (more only makes the merge longer)
MAX_BLOCKS = 8192            # blocks of a grid-stride pass (enough to fill any GPU)
MAX_CHANNELS = 65535         # the grid's y limit: one row of blocks per channel
MAX_ELEMENTS = 2 ** 31 - 1   # the kernels index with 32-bit unsigned ints


def fits_device_kernels(x, axes: tuple) -> bool:
    """Whether batch_norm.cu takes this normalization: a float32 or float64 array normalized
    per channel (axis 1) over every other axis, of at most ``MAX_ELEMENTS`` values and
    ``MAX_CHANNELS`` channels.  (Which module the array belongs to is the caller's question.)"""
    return (x.ndim >= 2 and x.dtype in CTYPES and axes == (0,) + tuple(range(2, x.ndim))
            and 0 < x.size <= MAX_ELEMENTS and x.shape[1] <= MAX_CHANNELS)


def _geometry(x, op: str) -> tuple:
    """(N, C, L) of x (N, C, ...), checked against what the kernels index."""
    if x.ndim < 2 or x.dtype not in CTYPES:
        raise ValueError(f"{op}: expected a float32 or float64 array of shape (N, C, ...), got "
                         f"{x.dtype} of shape {tuple(x.shape)}")
    if not fits_device_kernels(x, (0,) + tuple(range(2, x.ndim))):
        raise ValueError(f"{op}: the input of shape {tuple(x.shape)} has more than {MAX_ELEMENTS} "
                         f"values, more than {MAX_CHANNELS} channels, or none at all")
    n, c = x.shape[:2]
    return n, c, x.size // (n * c)


def _per_channel(a, c: int, dtype, xp, what: str, op: str):
    """A per-channel array ((C,) or (1, C, 1, ...)) as a contiguous (C,) array of ``dtype``."""
    if a.size != c:
        raise ValueError(f"{op}: {what} has shape {tuple(a.shape)}, expected {c} values (one per channel)")
    return xp.ascontiguousarray(a.reshape(c), dtype=dtype)


def _reduction_threads(count: int, threads: int) -> int:
    """Halve the block while half of it would still cover the channel's values (down to a warp)."""
    if threads not in (32, 64, 128, 256):
        raise ValueError(f"batch_norm: threads must be 32, 64, 128 or 256 (a power of two the "
                         f"kernels' tree reductions and shared arrays take), got {threads}")
    while threads > 32 and threads // 2 >= count:
        threads //= 2
    return threads


def _slices(count: int, threads: int) -> int:
    """How many blocks share one channel's values in a reduction."""
    return max(1, min(-(-count // (threads * VALUES_PER_THREAD)), MAX_SLICES))


def reduction_steps(count: int, threads: int = THREADS) -> int:
    """The longest chain of roundings behind one channel's statistic or sum of ``count``
    values: the values one thread takes in turn, the levels of its block's tree, the partials
    one thread of the merge takes in turn and the levels of the merge's tree.  A rounding
    error bound of the kernels is this many roundings (tests/kernels/test_batch_norm_kernel.py)."""
    block = _reduction_threads(count, threads)
    slices = _slices(count, block)
    merge = _reduction_threads(slices, threads)
    return (-(-count // (slices * block)) + block.bit_length() - 1
            + -(-slices // merge) + merge.bit_length() - 1)


def _blocks(total: int, threads: int) -> int:
    return max(1, min(-(-total // threads), MAX_BLOCKS))


def launch_statistics(get, x, eps: float, threads: int = THREADS) -> tuple:
    """Per-channel (mean, var, inv_std), each (C,) in x's dtype, of x (N, C, ...): Welford per
    thread and Chan et al.'s merge in each block (``batch_norm_stats_partial``, a grid of
    (slices, C)), then the slices of each channel merged in a fixed order
    (``batch_norm_stats_merge``).  var is the biased variance; inv_std = 1 / sqrt(var + eps)."""
    n, c, length = _geometry(x, "batch_norm statistics")
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    t, ty = CTYPES[x.dtype], x.dtype.type
    count = n * length
    block = _reduction_threads(count, threads)
    slices = _slices(count, block)
    part_count = xp.empty(c * slices, np.uint32)
    part_mean, part_m2 = xp.empty(c * slices, x.dtype), xp.empty(c * slices, x.dtype)
    get(f"batch_norm_stats_partial<{t}>")(
        (slices, c), block, (x, np.uint32(n), np.uint32(c), np.uint32(length),
                             part_count, part_mean, part_m2))
    mean, var, inv_std = (xp.empty(c, x.dtype) for _ in range(3))
    get(f"batch_norm_stats_merge<{t}>")(
        c, _reduction_threads(slices, threads),
        (part_count, part_mean, part_m2, np.uint32(slices), ty(eps), mean, var, inv_std))
    return mean, var, inv_std


def launch_forward(get, x, weight, bias, eps: float, threads: int = THREADS) -> tuple:
    """x (N, C, ...), weight and bias of C values -> (y, mean, var, inv_std), the statistics
    as (1, C, 1, ...) like ``forward``: the statistics, then y = (x - mean) * (inv_std * gamma)
    + beta in one pass (``batch_norm_normalize``)."""
    n, c, length = _geometry(x, "batch_norm forward")
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    weight = _per_channel(weight, c, x.dtype, xp, "weight", "batch_norm forward")
    bias = _per_channel(bias, c, x.dtype, xp, "bias", "batch_norm forward")
    mean, var, inv_std = launch_statistics(get, x, eps, threads)
    y = xp.empty_like(x)
    get(f"batch_norm_normalize<{CTYPES[x.dtype]}>")(
        _blocks(x.size, threads), threads,
        (x, mean, inv_std, weight, bias, np.uint32(x.size), np.uint32(c), np.uint32(length), y))
    keep = (1, c) + (1,) * (x.ndim - 2)
    return y, mean.reshape(keep), var.reshape(keep), inv_std.reshape(keep)


def launch_backward(get, x, gy, weight, mean, inv_std, need_x: bool = True,
                    threads: int = THREADS) -> tuple:
    """The closed-form gradient, like ``backward`` -> (gx or None, gweight (C,), gbias (C,)).

    One pass over x and gy for both sums per channel (``batch_norm_backward_partial``, then
    ``batch_norm_backward_merge``: gbias = sum gy, gweight = inv_std sum gy (x - mean)), and,
    if ``need_x``, one pass for gx (``batch_norm_backward_input``).
    """
    n, c, length = _geometry(x, "batch_norm backward")
    if gy.shape != x.shape or gy.dtype != x.dtype:
        raise ValueError(f"batch_norm backward: the gradient is {gy.dtype} of shape {tuple(gy.shape)}, "
                         f"but x is {x.dtype} of shape {tuple(x.shape)}")
    xp = backend.get_array_module(x)
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    op = "batch_norm backward"
    mean = _per_channel(mean, c, x.dtype, xp, "mean", op)
    inv_std = _per_channel(inv_std, c, x.dtype, xp, "inv_std", op)
    t, ty = CTYPES[x.dtype], x.dtype.type
    count = n * length
    block = _reduction_threads(count, threads)
    slices = _slices(count, block)
    part_g, part_gd = xp.empty(c * slices, x.dtype), xp.empty(c * slices, x.dtype)
    get(f"batch_norm_backward_partial<{t}>")(
        (slices, c), block, (x, gy, mean, np.uint32(n), np.uint32(c), np.uint32(length),
                             part_g, part_gd))
    gweight, gbias = xp.empty(c, x.dtype), xp.empty(c, x.dtype)
    get(f"batch_norm_backward_merge<{t}>")(
        c, _reduction_threads(slices, threads),
        (part_g, part_gd, inv_std, np.uint32(slices), gweight, gbias))
    gx = None
    if need_x:
        weight = _per_channel(weight, c, x.dtype, xp, "weight", op)
        gx = xp.empty_like(x)
        get(f"batch_norm_backward_input<{t}>")(
            _blocks(x.size, threads), threads,
            (x, gy, mean, inv_std, weight, gweight, gbias, ty(1.0 / count), np.uint32(x.size),
             np.uint32(c), np.uint32(length), gx))
    return gx, gweight, gbias


def launch_update_running(get, running_mean, running_var, mean, var, momentum: float,
                          correction: float, threads: int = THREADS) -> None:
    """running <- (1 - momentum) running + momentum batch, in place, for both running
    statistics (``batch_norm_update_running``, one launch): running_mean and running_var (C,)
    contiguous arrays of one float dtype; mean and the biased var with C values each (any
    shape, e.g. the forward's (1, C, 1, 1)); correction = count / (count - 1) makes var the
    unbiased variance.  The twin is ``reference.batch_norm_update_running``."""
    op = "batch_norm running statistics"
    if (running_mean.dtype not in CTYPES or running_var.dtype != running_mean.dtype
            or running_mean.ndim != 1 or running_var.shape != running_mean.shape):
        raise ValueError(f"{op}: expected running_mean and running_var of one shape (C,) and "
                         f"dtype float32 or float64, got {running_mean.dtype} {tuple(running_mean.shape)} "
                         f"and {running_var.dtype} {tuple(running_var.shape)}")
    if not (running_mean.flags.c_contiguous and running_var.flags.c_contiguous):
        raise ValueError(f"{op}: running_mean and running_var must be contiguous (updated in place)")
    c = running_mean.shape[0]
    xp = backend.get_array_module(running_mean)
    dtype = running_mean.dtype
    mean = _per_channel(mean, c, dtype, xp, "mean", op)
    var = _per_channel(var, c, dtype, xp, "var", op)
    ty = dtype.type
    get(f"batch_norm_update_running<{CTYPES[dtype]}>")(
        _blocks(c, threads), threads,
        (mean, var, np.uint32(c), ty(1.0 - momentum), ty(momentum), ty(correction),
         running_mean, running_var))


# -- benchmarks/kernels.py: the kernels against the plain CuPy composition they replace -----------
def _bench_inputs(xp):
    """The DCGAN generator's second batch norm at batch 64: x and gy (64, 64, 14, 14)
    float32, gamma and beta (64,)."""
    rng = np.random.default_rng(0)
    shape = (64, 64, 14, 14)
    return tuple(xp.asarray(a) for a in (rng.standard_normal(shape, np.float32),
                                          rng.standard_normal(64, np.float32),
                                          rng.standard_normal(64, np.float32),
                                          rng.standard_normal(shape, np.float32)))


def _bench_forward_backward(x, weight, bias, gy):
    """F.batch_norm in training and its backward, as a training step runs them -> dx."""
    from ..autograd import Tensor
    from ..nn import functional as F
    xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, weight, bias))
    F.batch_norm(xt, None, None, wt, bt, training=True).backward(Tensor(gy))
    return xt.grad.data


benchmark.register("batch norm forward+backward float32 (64, 64, 14, 14): batch_norm.cu vs CuPy ops",
                   inputs=_bench_inputs, run=_bench_forward_backward)
