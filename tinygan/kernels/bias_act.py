"""bias_act's three passes: forward, gradient and the gradient's gradient, arrays in, arrays out.

    forward:  y   = clamp(act(x + b) * gain, -clamp, clamp)
    grad:     gx  = gy * act'(x + b) * gain                      (0 where clamped)
    grad2:    out = ggx * gy * act''(x + b) * gain               (0 where clamped)

``b`` (1-D, ``x.shape[dim]`` entries, or None) is broadcast along axis ``dim``; ``clamp < 0``
means no clamping.  What the three mean, and how ``tinygan/ops/bias_act.py`` chains them into
a derivative of any order, is said there; this module says how they are computed.

Each pass is one CUDA kernel in ``bias_act.cu`` (float and double), launched on CuPy arrays
by ``launch_forward`` / ``launch_grad`` / ``launch_grad2`` -- the one launch both the GPU and
the CPU emulator run -- and a plain twin here (``*_reference``), written with ``xp`` for any
array module: the CPU path, the composition ``TINYGAN_KERNELS=0`` times against on a GPU,
and the reference the kernels are tested against.  The twin is the same formulas as the
kernel, step by step, worked in place on the fresh output a cache-sized piece at a time (on the
CPU; all at once on a GPU), so that it allocates one large array where the composition it
replaces (x + b, then act, then * gain) allocates three: benchmarks/bias_act.py times both.
On the CPU a large array's rows are shared among tinygan's threads (``threads.for_rows``),
each working through its own rows piece by piece: every element gets the same operations
whatever the split, so the result does not depend on the number of threads.

Like the kernel, the twin reads act' and act'' of linear, relu, lrelu, tanh and sigmoid from
the forward output y = act(x + b) * gain (tanh and sigmoid from a = y / gain, relu and lrelu
from the signs of y and gain), and those of swish from z = x + b.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from . import benchmark, cuda
from .threads import for_rows, get_num_threads

SOURCE = "bias_act.cu"

# The activation codes of bias_act.cu, in order.
ACTS = ("linear", "relu", "lrelu", "tanh", "sigmoid", "swish")
# Activations whose derivatives the passes read from z = x + b rather than from y.
FROM_X = frozenset({"swish"})

KERNELS = [f"bias_act_{kind}<{t}>" for kind in ("forward", "grad", "grad2")
           for t in ("float", "double")]
cuda.declare(SOURCE, KERNELS)

BLOCK = 256                # threads per block
MAX_GRID = 4096            # blocks at most; the kernels' grid-stride loops cover the rest
CHUNK = 1 << 16            # elements per step of the twin on the CPU (256 KiB of float32)
CHUNK_THREADED = 1 << 18   # the same with several threads: fewer NumPy calls (see _pieces)


# ----------------------------------------------------------------------------
# the plain twin (any array module)
# ----------------------------------------------------------------------------
def _bias_view(b, ndim: int, dim: int):
    """b reshaped to broadcast along axis ``dim`` of an ``ndim``-d array: (1, C, 1, 1) for dim 1."""
    return b.reshape((1,) * dim + (-1,) + (1,) * (ndim - dim - 1))


def _preactivation(x, b, dim: int):
    """z = x + b as a fresh C-contiguous array (the twin then works on it in place)."""
    z = backend.get_array_module(x).empty(x.shape, x.dtype)
    _preactivation_into(x, b, dim, z)
    return z


def _preactivation_into(x, b, dim: int, z) -> None:
    """z <- x + b (z of x's shape)."""
    xp = backend.get_array_module(x)
    if b is None:
        xp.copyto(z, x)
    else:
        xp.add(x, _bias_view(b, x.ndim, dim), out=z)


def _rows(a, sl):
    """Rows ``sl`` (a slice of axis 0) of a; a 0-d array is its own only row."""
    return a if a.ndim == 0 else a[sl]


def _bias_rows(b, sl, dim: int):
    """The part of b that rows ``sl`` of x meet: all of it, or its entries ``sl`` when the bias
    runs along axis 0 itself."""
    return b[sl] if (b is not None and dim == 0) else b


def _over_rows(fn, a) -> None:
    """``fn(sl)`` over slices of a's first axis that together cover it.  On the CPU a large
    array's rows are shared among tinygan's threads (``threads.for_rows``), each thread working
    through its rows a cache-sized piece at a time; otherwise one call covers every row."""
    if backend.get_array_module(a) is not np or a.ndim == 0:
        fn(slice(None))
    else:
        for_rows(fn, a.shape[0], a.size)


def _pieces(n: int, xp) -> list:
    """The slices of range(n) the twin works through one at a time: ``CHUNK`` elements on the
    CPU, so that each step's temporaries are small and stay in cache; all at once on a GPU.

    With several threads the pieces are 4x larger (``CHUNK_THREADED``, 1 MiB of float32, still
    within a core's L2 on the machines measured): each NumPy call gives up Python's lock and
    must take it back, and while one thread runs Python between calls the other waits.  Fewer
    calls, fewer waits: lrelu's gradient over (32, 32, 32, 32) float32 on 2 threads took
    1.47 ms with 2**16-element pieces, 0.89 ms with 2**18 (1.04 ms on one thread, where the
    smaller pieces stay faster).  The pieces change no result: each element gets the same
    operations whatever their size."""
    if xp is not np:
        step = max(n, 1)
    else:
        step = CHUNK if get_num_threads() == 1 else CHUNK_THREADED
    return [slice(s, s + step) for s in range(0, n, step)]


def _flat(a):
    return None if a is None else a.reshape(-1)


def _sigmoid_(z):
    """z <- 1 / (1 + e^-z), in place, in the form that never overflows (as bias_act.cu)."""
    xp = backend.get_array_module(z)
    negative = z < 0
    e = xp.abs(z)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                              # e = e^-|z| <= 1
    r = e + 1
    xp.reciprocal(r, out=r)                       # 1 / (1 + e^-|z|): sigmoid(z) for z >= 0
    e *= r                                        # e^-|z| / (1 + e^-|z|): sigmoid(z) for z < 0
    xp.copyto(z, r)
    xp.copyto(z, e, where=negative)
    return z


def _act_(z, act: str, alpha: float):
    """z <- act(z), in place; returns z."""
    xp = backend.get_array_module(z)
    if act == "relu":
        xp.maximum(z, 0, out=z)
    elif act == "lrelu":
        if alpha <= 1.0:                          # max(z, alpha z): no boolean mask (0 <= alpha <= 1)
            xp.maximum(z, z * alpha, out=z)
        else:
            xp.copyto(z, z * alpha, where=z <= 0)
    elif act == "tanh":
        xp.tanh(z, out=z)
    elif act == "sigmoid":
        _sigmoid_(z)
    elif act == "swish":
        s = _sigmoid_(z.copy())
        z *= s
    return z


def _activation_of(y, gain: float):
    """a = act(x + b), read back from the forward output y = a * gain (as bias_act.cu does);
    y itself when gain is 1 (read only)."""
    xp = backend.get_array_module(y)
    if gain == 1.0:
        return y
    return y / y.dtype.type(gain) if gain != 0 else xp.zeros_like(y)


def _positive(y, gain: float):
    """Whether a = act(x + b) > 0, from the signs of y = a * gain and of gain (exact)."""
    if gain > 0:
        return y > 0
    if gain < 0:
        return y < 0
    return backend.get_array_module(y).zeros(y.shape, bool)


def _unclamped(y, clamp: float):
    """Where the derivatives pass: |y| < clamp (None when nothing is clamped)."""
    if clamp < 0:
        return None
    return (y > -clamp) & (y < clamp)


def forward_reference(x, b=None, dim: int = 1, act: str = "linear", alpha: float = 0.0,
                      gain: float = 1.0, clamp: float = -1.0):
    """y = clamp(act(x + b) * gain, -clamp, clamp); x any shape, b (x.shape[dim],) or None."""
    xp = backend.get_array_module(x)
    y = xp.empty(x.shape, x.dtype)

    def rows(sl):
        ys = _rows(y, sl)
        _preactivation_into(_rows(x, sl), _bias_rows(b, sl, dim), dim, ys)
        flat = ys.reshape(-1)                     # a view: rows of a C-contiguous array
        for piece in _pieces(flat.size, xp):
            z = _act_(flat[piece], act, alpha)
            if gain != 1.0:
                z *= z.dtype.type(gain)
            if clamp >= 0:
                xp.clip(z, -clamp, clamp, out=z)
    _over_rows(rows, x)
    return y


def _d1(act: str, y, gain: float, z, alpha: float):
    """act'(z) as a fresh array, from y = act(z) * gain or (swish) from z; None for linear (1)."""
    if act == "linear":
        return None
    if act in ("relu", "lrelu"):
        # 1 where z > 0, else alpha (relu'(0) = 0, as PyTorch), written straight into a float
        # array as elementwise.slope_mask does: no where() on a boolean mask (5x slower).
        m = _positive(y, gain).astype(y.dtype)
        if act == "lrelu" and alpha != 0.0:
            m *= 1.0 - alpha
            m += alpha
        return m
    if act == "tanh":
        a = _activation_of(y, gain)
        return 1 - a * a
    if act == "sigmoid":
        a = _activation_of(y, gain)
        return a * (1 - a)
    s = _sigmoid_(z.copy())                       # swish: s (1 + z (1 - s))
    return s * (1 + z * (1 - s))


def _d2(act: str, y, gain: float, z):
    """act''(z) as a fresh array, from y = act(z) * gain or (swish) from z."""
    if act == "tanh":
        a = _activation_of(y, gain)
        return -2 * a * (1 - a * a)
    if act == "sigmoid":
        a = _activation_of(y, gain)
        return a * (1 - a) * (1 - 2 * a)
    if act == "swish":                            # s (1 - s)(2 + z (1 - 2 s))
        s = _sigmoid_(z.copy())
        return s * (1 - s) * (2 + z * (1 - 2 * s))
    return backend.get_array_module(y).zeros_like(y)   # linear, relu, lrelu


def _backward_pass(derivative, incoming, x, b, y, dim: int, act: str, gain: float, clamp: float):
    """(product of the ``incoming`` arrays) * derivative(y, z) * gain, 0 where clamped, piece by
    piece into a fresh array; z = x + b only for the activations that need it (swish)."""
    xp = backend.get_array_module(y)
    out = xp.empty(y.shape, y.dtype)

    def rows(sl):
        flat_out, flat_y = _rows(out, sl).reshape(-1), _flat(_rows(y, sl))
        flat_z = None
        if act in FROM_X:
            flat_z = _flat(_preactivation(_rows(x, sl), _bias_rows(b, sl, dim), dim))
        flat_in = [_flat(_rows(g, sl)) for g in incoming]
        for piece in _pieces(flat_out.size, xp):
            o, yp = flat_out[piece], flat_y[piece]
            d = derivative(yp, None if flat_z is None else flat_z[piece])
            if d is None:                         # a derivative of 1 (linear)
                xp.copyto(o, flat_in[0][piece])
            else:
                xp.multiply(d, flat_in[0][piece], out=o)
            for g in flat_in[1:]:
                o *= g[piece]
            if gain != 1.0:
                o *= o.dtype.type(gain)
            if clamp >= 0:
                xp.copyto(o, 0, where=~_unclamped(yp, clamp))
    _over_rows(rows, y)
    return out


def grad_reference(gy, x, b, y, dim: int = 1, act: str = "linear", alpha: float = 0.0,
                   gain: float = 1.0, clamp: float = -1.0):
    """gx = gy * act'(x + b) * gain, 0 where clamped; every array of x's shape but b."""
    return _backward_pass(lambda y, z: _d1(act, y, gain, z, alpha), (gy,), x, b, y, dim, act, gain,
                          clamp)


def grad2_reference(ggx, gy, x, b, y, dim: int = 1, act: str = "linear", gain: float = 1.0,
                    clamp: float = -1.0):
    """d<ggx, gx>/dx = ggx * gy * act''(x + b) * gain, 0 where clamped."""
    return _backward_pass(lambda y, z: _d2(act, y, gain, z), (ggx, gy), x, b, y, dim, act, gain,
                          clamp)


# ----------------------------------------------------------------------------
# the CUDA launches (one for the GPU and the emulator)
# ----------------------------------------------------------------------------
_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def _layout(x, b, dim: int):
    """(n, step_b, size_b, b) for the kernels: element i of x has bias entry (i / step_b) % size_b.

    Without a bias, size_b is 0 and b a one-element dummy the kernels never read.
    """
    xp = backend.get_array_module(x)
    n = int(x.size)
    if b is None:
        return n, 1, 0, xp.zeros(1, x.dtype)
    step = int(np.prod(x.shape[dim + 1:], dtype=np.int64))
    return n, max(step, 1), int(b.shape[0]), xp.ascontiguousarray(b)


def _grid(n: int, block: int, max_grid: int) -> int:
    return max(1, min((n + block - 1) // block, max_grid))


def _contiguous(*arrays):
    xp = backend.get_array_module(arrays[0])
    return [xp.ascontiguousarray(a) for a in arrays]


def launch_forward(get, x, b=None, dim: int = 1, act: str = "linear", alpha: float = 0.0,
                   gain: float = 1.0, clamp: float = -1.0, *, block: int = BLOCK,
                   max_grid: int = MAX_GRID):
    """y = clamp(act(x + b) * gain, -clamp, clamp) by ``bias_act_forward``; ``get(name)`` gives the
    kernel (the loader's or the emulator's), ``block`` and ``max_grid`` the launch shape."""
    xp = backend.get_array_module(x)
    (x,) = _contiguous(x)
    n, step_b, size_b, b = _layout(x, b, dim)
    y = xp.empty_like(x)
    if n:
        t = x.dtype.type
        get(f"bias_act_forward<{_CTYPES[x.dtype]}>")(
            (_grid(n, block, max_grid),), (block,),
            (y, x, b, np.int64(n), np.int64(step_b), np.int32(size_b), np.int32(ACTS.index(act)),
             t(alpha), t(gain), t(clamp)))
    return y


def launch_grad(get, gy, x, b, y, dim: int = 1, act: str = "linear", alpha: float = 0.0,
                gain: float = 1.0, clamp: float = -1.0, *, block: int = BLOCK,
                max_grid: int = MAX_GRID):
    """gx = gy * act'(x + b) * gain (0 where clamped) by ``bias_act_grad``."""
    xp = backend.get_array_module(x)
    gy, x, y = _contiguous(gy, x, y)
    n, step_b, size_b, b = _layout(x, b, dim)
    gx = xp.empty_like(x)
    if n:
        t = x.dtype.type
        get(f"bias_act_grad<{_CTYPES[x.dtype]}>")(
            (_grid(n, block, max_grid),), (block,),
            (gx, gy, x, b, y, np.int64(n), np.int64(step_b), np.int32(size_b),
             np.int32(ACTS.index(act)), t(alpha), t(gain), t(clamp)))
    return gx


def launch_grad2(get, ggx, gy, x, b, y, dim: int = 1, act: str = "linear", gain: float = 1.0,
                 clamp: float = -1.0, *, block: int = BLOCK, max_grid: int = MAX_GRID):
    """ggx * gy * act''(x + b) * gain (0 where clamped) by ``bias_act_grad2``."""
    xp = backend.get_array_module(x)
    ggx, gy, x, y = _contiguous(ggx, gy, x, y)
    n, step_b, size_b, b = _layout(x, b, dim)
    out = xp.empty_like(x)
    if n:
        t = x.dtype.type
        get(f"bias_act_grad2<{_CTYPES[x.dtype]}>")(
            (_grid(n, block, max_grid),), (block,),
            (out, ggx, gy, x, b, y, np.int64(n), np.int64(step_b), np.int32(size_b),
             np.int32(ACTS.index(act)), t(gain), t(clamp)))
    return out


# ----------------------------------------------------------------------------
# the array functions the op calls: the kernel on CuPy float arrays, else the twin
# ----------------------------------------------------------------------------
def _use_kernel(x) -> bool:
    return x.dtype in _CTYPES and cuda.use_kernel(x)


def _get(name: str):
    return cuda.function(SOURCE, name)


def forward(x, b=None, dim: int = 1, act: str = "linear", alpha: float = 0.0, gain: float = 1.0,
            clamp: float = -1.0):
    if _use_kernel(x):
        return launch_forward(_get, x, b, dim, act, alpha, gain, clamp)
    return forward_reference(x, b, dim, act, alpha, gain, clamp)


def grad(gy, x, b, y, dim: int = 1, act: str = "linear", alpha: float = 0.0, gain: float = 1.0,
         clamp: float = -1.0):
    if _use_kernel(x):
        return launch_grad(_get, gy, x, b, y, dim, act, alpha, gain, clamp)
    return grad_reference(gy, x, b, y, dim, act, alpha, gain, clamp)


def grad2(ggx, gy, x, b, y, dim: int = 1, act: str = "linear", gain: float = 1.0,
          clamp: float = -1.0):
    if _use_kernel(x):
        return launch_grad2(_get, ggx, gy, x, b, y, dim, act, gain, clamp)
    return grad2_reference(ggx, gy, x, b, y, dim, act, gain, clamp)


# ----------------------------------------------------------------------------
# benchmarks/kernels.py: each pass against the twin's plain CuPy composition, on StyleGAN's
# commonest layer output (lrelu, gain sqrt(2), a bias per channel) -- tanh for the second-order
# pass, which is zero for lrelu -- in float32, (32, 256, 32, 32)
# ----------------------------------------------------------------------------
_BENCH = {"forward": "lrelu", "gradient": "lrelu", "second-order pass": "tanh"}


def _bench_inputs(xp, kind: str) -> tuple:
    """The arguments of ``forward`` / ``grad`` / ``grad2`` for benchmark case ``kind``."""
    act = _BENCH[kind]
    rng = np.random.default_rng(0)
    shape = (32, 256, 32, 32)
    x, gy, ggx = (xp.asarray(rng.standard_normal(shape, dtype=np.float32)) for _ in range(3))
    b = xp.asarray(rng.standard_normal(shape[1], dtype=np.float32))
    settings = (1, act, 0.2, math.sqrt(2) if act == "lrelu" else 1.0)
    if kind == "forward":
        return (x, b, *settings)
    y = forward_reference(x, b, *settings)
    if kind == "gradient":
        return (gy, x, b, y, *settings)
    return (ggx, gy, x, b, y, 1, act, 1.0)


for _kind, _run in (("forward", forward), ("gradient", grad), ("second-order pass", grad2)):
    benchmark.register(f"bias_act {_BENCH[_kind]} float32 (32, 256, 32, 32), {_kind}: "
                       "kernel vs plain CuPy",
                       inputs=lambda xp, kind=_kind: _bench_inputs(xp, kind), run=_run)
