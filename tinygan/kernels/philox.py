"""Philox4x32-10 counter-based random numbers, the same bits on the CPU and on a GPU.

Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3"
(section 3.3).  A counter-based generator is a keyed function of a counter,
``words = philox(counter, key)``, not a state updated number by number: the
128-bit counter (four 32-bit words c0..c3) goes through ten rounds of

    (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))

where hi/lo are the upper and lower 32 bits of a 64-bit product, and the 64-bit
key (k0, k1) is bumped by the Weyl constants (W0, W1) between rounds.  Any counter
can be computed alone, so one GPU thread per counter makes a draw in parallel,
and NumPy makes it vectorized over an array of counters -- the same integer
arithmetic, so the same bits.

A draw.  The generator (tinygan.random) is (seed, offset): the key is the 64-bit
seed (k0 its low word, k1 its high word) and a draw that needs m counters uses the
counters offset, offset + 1, ..., offset + m - 1 (128-bit sums; c0 the lowest
word).  Counter i gives the stream words 4i .. 4i+3, read in order as:

    uniform float32   one word each: (w >> 8) / 2^24, 24 bits, in [0, 1)
    uniform float64   two words each: ((w0 >> 5) * 2^26 + (w1 >> 6)) / 2^53, 53 bits
    normal            Box-Muller on uniforms (u[2m], u[2m+1]), both outputs used:
                      z[2m] = sqrt(-2 ln(1 - u[2m])) cos(2 pi u[2m+1]), z[2m+1] the same
                      with sin -- in the dtype's own arithmetic (float32 for float32)
    integers          two words each, x = w0 * 2^32 + w1, value low + floor(x * range / 2^64)
    permutation keys  two words each, x as above with its low b bits replaced by the
                      index (2^b >= n): n distinct keys whose argsort is the permutation

so m = ceil(n / 4) counters for n float32 values and ceil(n / 2) for the others;
the words of the last counter that no value uses are skipped.

Exactness.  The raw words, the uniforms, the integers and the permutation are
integer arithmetic (plus conversions and power-of-two scalings that are exact), so
they are bit-identical on every device.  The normals go through log, cos, sin and
sqrt, whose last bit differs between CUDA's math library and NumPy's (each is
within an ulp or two), so the normals agree to float rounding, not bit for bit.

The tails.  u1 = 1 - u is never below 2^-24 (float32) or 2^-53 (float64), so a
float32 normal is never beyond 5.8 standard deviations (probability 7e-9) and a
float64 one beyond 8.6.

Integers.  floor(x * range / 2^64) with x uniform on 64 bits (Lemire 2019's
multiply-shift, without his rejection step, which would make a draw's length
depend on its values): each value in [low, high) comes from floor(2^64 / range) or
that plus one of the 2^64 x's, so its probability differs from 1 / range by less
than 2^-64 -- a relative error below range / 2^64, under 2.4e-10 for any range up
to 2^32, and none at all when range is a power of two.

    SOURCE                          the CUDA source, philox.cu (one thread per counter)
    philox4x32(counters, key)       the block function on (4, m) words: Random123's test vectors
    words / uniform / normal /
    integers / permutation_keys     one draw: array functions, a kernel on a GPU, the twin elsewhere
    *_reference                     the twins (NumPy or CuPy arrays, vectorized over counters)
    launch_*                        the kernel launches, shared by the GPU path and the emulator tests
"""
from __future__ import annotations

import numpy as np

from . import benchmark, cuda
from .threads import parallel_map

SOURCE = "philox.cu"
KERNELS = ("philox_uint32", "philox_uniform<float>", "philox_uniform<double>",
           "philox_normal<float>", "philox_normal<double>", "philox_integers",
           "philox_permutation_keys")
cuda.declare(SOURCE, list(KERNELS))

M0, M1 = 0xD2511F53, 0xCD9E8D57          # the round multipliers (paper, table 2)
W0, W1 = 0x9E3779B9, 0xBB67AE85          # the key bumps: golden ratio and sqrt(3) - 1, times 2^32
ROUNDS = 10
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_BLOCK = 256                             # threads per block of every launch
_CHUNK = 1 << 14                         # counters per pass of the NumPy twin (256 KiB per uint64 (2, m))


def split_seed(seed: int) -> tuple[int, int]:
    """The key (k0, k1) of a 64-bit seed: its low and high 32-bit words."""
    return seed & _MASK32, (seed >> 32) & _MASK32


def _round_keys(key: tuple[int, int], xp):
    """The key of every round as uint32 (ROUNDS, 2, 1): (k0, k1) + r * (W0, W1) mod 2^32.

    Made with the array module's own operations on scalars, so on a GPU nothing is
    copied from the host (a scalar travels as a kernel argument)."""
    r = xp.arange(ROUNDS, dtype=np.uint64)
    keys = xp.empty((ROUNDS, 2, 1), dtype=np.uint32)
    mask = np.uint64(_MASK32)
    keys[:, 0, 0] = (r * np.uint64(W0) + np.uint64(key[0])) & mask
    keys[:, 1, 0] = (r * np.uint64(W1) + np.uint64(key[1])) & mask
    return keys


# Where the high and the low 32 bits of a uint64 sit when it is viewed as two uint32s.
_LO, _HI = (0, 1) if np.little_endian else (1, 0)


def _rounds(counters, key: tuple[int, int]):
    """The ten rounds on counters uint32 (4, m): the words as (x, y) = ((c2, c0), (c1, c3)),
    two uint32 (2, m) arrays (views; see ``philox4x32`` for the plain order)."""
    from ..backend import get_array_module
    xp = get_array_module(counters)
    m = counters.shape[1]
    # The state as two (2, m) halves so that a round is three whole-array operations:
    # x = (c2, c0) are multiplied, y = (c1, c3) are xored in.
    x = counters[[2, 0]]
    y = counters[[1, 3]]
    mult = xp.empty((2, 1), dtype=np.uint64)      # filled in place: no copy from the host
    mult[0], mult[1] = M1, M0
    for k in _round_keys(key, xp):
        p = xp.multiply(x, mult)            # (M1*c2, M0*c0): 32 x 32 bits, exact in uint64
        halves = p.view(np.uint32).reshape(2, m, 2)     # the hi and lo words, without a copy
        t = xp.bitwise_xor(halves[..., _HI], y)         # (hi(M1*c2) ^ c1, hi(M0*c0) ^ c3)
        t ^= k                              #   ^ (k0, k1): the new (c0, c2) ...
        y = halves[..., _LO]                # new (c1, c3) = (lo(M1*c2), lo(M0*c0))
        x = t[::-1]                         # ... stored as (c2, c0) for the next product
    return x, y


def philox4x32(counters, key: tuple[int, int]):
    """The Philox4x32-10 block function: counters uint32 (4, m) -> words uint32 (4, m).

    Row j of ``counters`` is word c_j of m counters; ``key`` is (k0, k1).  Vectorized
    over the m counters: a product of two 32-bit words fits in a uint64, and its
    hi/lo halves are that uint64 viewed as two uint32s.
    """
    from ..backend import get_array_module
    xp = get_array_module(counters)
    x, y = _rounds(xp.ascontiguousarray(counters, dtype=np.uint32), key)
    out = xp.empty((4, x.shape[1]), dtype=np.uint32)
    out[0], out[1], out[2], out[3] = x[1], y[0], x[0], y[1]
    return out


def counter_block(offset: int, m: int, xp):
    """The m counters offset, ..., offset + m - 1 as uint32 words (4, m), 128-bit sums."""
    lo0, hi0 = offset & _MASK64, (offset >> 64) & _MASK64
    c = xp.empty((4, m), dtype=np.uint32)
    if lo0 + m <= 2 ** 32:                  # the common case: only c0 counts
        c[0] = xp.arange(lo0, lo0 + m, dtype=np.uint32)
        c[1] = 0
        c[2] = hi0 & _MASK32
        c[3] = hi0 >> 32
        return c
    lo = xp.arange(m, dtype=np.uint64)
    lo += np.uint64(lo0)                    # wraps modulo 2^64 ...
    hi = (lo < np.uint64(lo0)).astype(np.uint64)    # ... and a wrap carries into the high half
    hi += np.uint64(hi0)
    c[0] = lo & np.uint64(_MASK32)
    c[1] = lo >> np.uint64(32)
    c[2] = hi & np.uint64(_MASK32)
    c[3] = hi >> np.uint64(32)
    return c


def counters_for(n: int, words_per_value: int) -> int:
    """Counters a draw of n values of ``words_per_value`` words uses: ceil(n * w / 4)."""
    return -(-n * words_per_value // 4)


def words_per_value(kind: str, dtype=None) -> int:
    """1 for float32 uniforms and normals; 2 for float64, integers and permutation keys."""
    if kind in ("uniform", "normal"):
        return 1 if np.dtype(dtype) == np.float32 else 2
    return 1 if kind == "words" else 2


# -- the twins: vectorized over counters, for NumPy and CuPy arrays alike ---------------------

def words_reference(seed: int, offset: int, n: int, xp=np):
    """The first n stream words of a draw at ``offset``: uint32 (n,)."""
    m = counters_for(n, 1)
    key = split_seed(seed)
    w = xp.empty((m, 4), dtype=np.uint32)   # counter i's words are 4i .. 4i+3

    def fill(a: int) -> None:
        b = min(a + chunk, m)
        x, y = _rounds(counter_block(offset + a, b - a, xp), key)
        w[a:b, 0], w[a:b, 1], w[a:b, 2], w[a:b, 3] = x[1], y[0], x[0], y[1]

    if xp is np:
        # In chunks whose temporaries stay in the cache (a large draw would otherwise stream
        # ten rounds of arrays through memory), spread over tinygan's threads: every counter
        # is computed alone, so any thread count gives the same words.
        chunk = _CHUNK
        parallel_map(fill, range(0, m, chunk))
    else:
        chunk = max(m, 1)                   # CuPy: one pass, the fewest launches
        fill(0)
    return w.reshape(-1)[:n]


def _pairs(seed: int, offset: int, n: int, xp):
    """n 64-bit values x = w0 * 2^32 + w1 from consecutive word pairs: uint64 (n,)."""
    w = words_reference(seed, offset, 2 * n, xp).astype(np.uint64)
    return (w[0::2] << np.uint64(32)) | w[1::2]


def uniform_reference(seed: int, offset: int, n: int, dtype, xp=np):
    """n uniforms on [0, 1) of dtype float32 (24 bits) or float64 (53 bits): (n,)."""
    if np.dtype(dtype) == np.float32:
        w = words_reference(seed, offset, n, xp)
        u = (w >> np.uint32(8)).astype(np.float32)        # exact: < 2^24
        u *= np.float32(2.0 ** -24)                        # exact: a power of two
        return u
    w = words_reference(seed, offset, 2 * n, xp)
    j = (w[0::2] >> np.uint32(5)).astype(np.uint64) << np.uint64(26)
    j |= (w[1::2] >> np.uint32(6)).astype(np.uint64)
    u = j.astype(np.float64)                               # exact: < 2^53
    u *= 2.0 ** -53
    return u


def normal_reference(seed: int, offset: int, n: int, dtype, xp=np):
    """n standard normals by Box-Muller (both outputs used): (n,) of dtype.

    Box & Muller (1958): for u1 in (0, 1] and u2 in [0, 1),
    sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2) are two independent N(0, 1)."""
    dtype = np.dtype(dtype)
    u = uniform_reference(seed, offset, n + (n & 1), dtype, xp)    # an even count: whole pairs
    one = dtype.type(1)
    r = xp.log(one - u[0::2])               # 1 - u is exact and never 0
    r *= dtype.type(-2)
    xp.sqrt(r, out=r)
    t = u[1::2] * dtype.type(2 * np.pi)
    z = xp.empty((u.size // 2, 2), dtype=dtype)
    xp.multiply(r, xp.cos(t), out=z[:, 0])
    xp.multiply(r, xp.sin(t), out=z[:, 1])
    return z.reshape(-1)[:n]


def _mulhi64(a, b, xp):
    """The high 64 bits of the 128-bit products a * b (uint64 arrays or scalars), schoolbook
    on 32-bit halves -- the kernel's ``mulhi64`` line for line."""
    s, m = np.uint64(32), np.uint64(_MASK32)
    a_lo, a_hi = a & m, a >> s
    b_lo, b_hi = b & m, b >> s
    ll, lh, hl, hh = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (ll >> s) + (lh & m) + (hl & m)
    return hh + (lh >> s) + (hl >> s) + (mid >> s)


def integers_reference(seed: int, offset: int, n: int, low: int, high: int, xp=np):
    """n integers in [low, high): int64 (n,), by multiply-shift on 64 random bits."""
    rng = high - low
    x = _pairs(seed, offset, n, xp)
    v = _mulhi64(x, np.uint64(rng), xp)
    v += np.uint64(low & _MASK64)           # two's complement: wraps to low + v
    return v.view(np.int64)


def index_bits(n: int) -> int:
    """b with 2^b >= n: the low bits of a permutation key that hold the index."""
    return max(int(n - 1).bit_length(), 0)


def permutation_keys_reference(seed: int, offset: int, n: int, xp=np):
    """n distinct sort keys: uint64 (n,), random high bits, the index in the low ``index_bits(n)``."""
    x = _pairs(seed, offset, n, xp)
    b = index_bits(n)
    x &= np.uint64((_MASK64 >> b) << b)
    x |= xp.arange(n, dtype=np.uint64)
    return x


# -- the kernels: one thread per counter, a grid that covers them (grid-stride beyond) ----------

def _grid(counters: int) -> int:
    return max(1, min(-(-counters // _BLOCK), 4096))


def _head(seed: int, offset: int, n: int) -> tuple:
    k0, k1 = split_seed(seed)
    return (np.uint32(k0), np.uint32(k1), np.uint64(offset & _MASK64),
            np.uint64((offset >> 64) & _MASK64), np.int64(n))


def launch_words(get, seed: int, offset: int, n: int, xp):
    out = xp.empty(n, dtype=np.uint32)
    if n:
        get("philox_uint32")((_grid(counters_for(n, 1)),), (_BLOCK,), (*_head(seed, offset, n), out))
    return out


def _launch_floats(get, kind: str, seed: int, offset: int, n: int, dtype, xp):
    """n floats of ``dtype`` from ``philox_<kind><float|double>`` (kind: uniform or normal)."""
    dtype = np.dtype(dtype)
    out = xp.empty(n, dtype=dtype)
    if n:
        name = f"philox_{kind}<{'float' if dtype == np.float32 else 'double'}>"
        get(name)((_grid(counters_for(n, words_per_value(kind, dtype))),), (_BLOCK,),
                  (*_head(seed, offset, n), out))
    return out


def launch_uniform(get, seed: int, offset: int, n: int, dtype, xp):
    return _launch_floats(get, "uniform", seed, offset, n, dtype, xp)


def launch_normal(get, seed: int, offset: int, n: int, dtype, xp):
    return _launch_floats(get, "normal", seed, offset, n, dtype, xp)


def launch_integers(get, seed: int, offset: int, n: int, low: int, high: int, xp):
    out = xp.empty(n, dtype=np.int64)
    if n:
        get("philox_integers")((_grid(counters_for(n, 2)),), (_BLOCK,),
                               (*_head(seed, offset, n), np.int64(low), np.uint64(high - low), out))
    return out


def launch_permutation_keys(get, seed: int, offset: int, n: int, xp):
    out = xp.empty(n, dtype=np.uint64)
    if n:
        get("philox_permutation_keys")((_grid(counters_for(n, 2)),), (_BLOCK,),
                                       (*_head(seed, offset, n), np.uint32(index_bits(n)), out))
    return out


# -- the array functions: the kernel on a GPU, the twin elsewhere -----------------------------

def _kernel_getter(xp):
    """``get(name)`` for the compiled kernels on a GPU with the kernels on (``cuda.enabled``),
    else None: the twin runs (NumPy on the CPU, CuPy when ``TINYGAN_KERNELS=0``)."""
    if xp is np or not cuda.enabled():
        return None
    return lambda name: cuda.function(SOURCE, name)


def words(seed: int, offset: int, n: int, xp=np):
    get = _kernel_getter(xp)
    return words_reference(seed, offset, n, xp) if get is None else launch_words(get, seed, offset, n, xp)


def uniform(seed: int, offset: int, n: int, dtype, xp=np):
    get = _kernel_getter(xp)
    return (uniform_reference(seed, offset, n, dtype, xp) if get is None
            else launch_uniform(get, seed, offset, n, dtype, xp))


def normal(seed: int, offset: int, n: int, dtype, xp=np):
    get = _kernel_getter(xp)
    return (normal_reference(seed, offset, n, dtype, xp) if get is None
            else launch_normal(get, seed, offset, n, dtype, xp))


def integers(seed: int, offset: int, n: int, low: int, high: int, xp=np):
    get = _kernel_getter(xp)
    return (integers_reference(seed, offset, n, low, high, xp) if get is None
            else launch_integers(get, seed, offset, n, low, high, xp))


def permutation_keys(seed: int, offset: int, n: int, xp=np):
    get = _kernel_getter(xp)
    return (permutation_keys_reference(seed, offset, n, xp) if get is None
            else launch_permutation_keys(get, seed, offset, n, xp))


# Benchmark cases (benchmarks/kernels.py): one launch against the twin's dozens of CuPy launches.
benchmark.register("philox normal float32 (64, 100): a DCGAN step's noise",
                   inputs=lambda xp: (xp,), run=lambda xp: normal(0, 0, 64 * 100, np.float32, xp))
benchmark.register("philox uniform float32 (64, 512, 32, 32)",
                   inputs=lambda xp: (xp,), run=lambda xp: uniform(0, 0, 64 * 512 * 32 * 32, np.float32, xp))
benchmark.register("philox permutation keys 60000: an MNIST epoch's shuffle",
                   inputs=lambda xp: (xp,), run=lambda xp: permutation_keys(0, 0, 60_000, xp))
