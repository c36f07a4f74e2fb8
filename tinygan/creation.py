"""Tensor creation helpers, shaped like PyTorch's: zeros, ones, full, arange, randn, ...

Sizes may be given as separate ints or as one tuple: ``zeros(2, 3)`` or
``zeros((2, 3))``.  Floating results default to float32; pass ``dtype`` for
float64 (the gradient checks use it).
"""
from __future__ import annotations

import math

import numpy as np

from . import backend, random
from .autograd import Tensor, get_default_dtype


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size must be non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _make(arr, requires_grad: bool) -> Tensor:
    return Tensor(arr, requires_grad=requires_grad)


def _float(dtype):
    dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
    return dtype


def _random_float(dtype, op: str):
    """The dtype of a random float draw; integer dtypes are refused (as ``torch.randn``)."""
    dtype = _float(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating point dtype, got {dtype}")
    return dtype


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.zeros(_size(size), dtype=_float(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.ones(_size(size), dtype=_float(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (np.int64 if isinstance(fill_value, (int, np.integer)) and not isinstance(fill_value, bool)
                 else np.bool_ if isinstance(fill_value, bool) else get_default_dtype())
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.full(_size((size,) if isinstance(size, int) else (size,)), fill_value,
                             dtype=dtype), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.eye(n, m, dtype=_float(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Like ``torch.arange``: int64 for integer arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else get_default_dtype()
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.arange(start, end, step, dtype=dtype), requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp = backend.array_module_for(device)
    with _on(device):
        return _make(xp.linspace(start, end, steps, dtype=_float(dtype)), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples from the device's seeded generator."""
    gen = generator or random.generator_for(device)
    dtype = _random_float(dtype, "randn")
    with _on(device):
        arr = gen.standard_normal(_size(size), dtype=dtype if dtype in (np.float32, np.float64)
                                  else np.float64).astype(dtype, copy=False)
    return _make(arr, requires_grad)


def truncated_normal(n: int, dim: int, threshold: float | None = None, dtype=None, device=None,
                     generator=None) -> Tensor:
    """Latent vectors z ~ N(0, I) with every entry of magnitude above ``threshold`` redrawn.

    BigGAN's truncation trick (Brock et al. 2019, sec. 4.1): sample z from N(0, I) as in
    training, then resample each value with |z_i| > threshold until it lands inside.  Every
    entry then follows N(0, 1) conditioned on |z_i| <= threshold; a smaller threshold keeps z
    nearer the mode, trading the variety of the samples for their individual quality.

    The values come from the device's seeded generator (or ``generator``), so a run under
    ``manual_seed`` draws the same z's every time: first the (n, dim) draw ``randn`` would
    make, whose values inside the threshold are kept as drawn; then, for the k values still
    outside, batches of fresh N(0, 1) candidates of about k / P(|z| <= threshold) each, the
    accepted candidates filling those places in order (rejection sampling: the same law as
    redrawing each value on its own, in a few batches even for a small threshold).

    Args:
        n, dim: the output's shape (samples, latent size).
        threshold: a positive float; None draws plain N(0, I), like ``randn(n, dim)``.
        dtype: float32 (the default dtype) or float64; |z_i| <= threshold holds exactly in
            either (the check is made on the float64 value of each draw).
    Returns: (n, dim) Tensor.
    """
    op = "truncated_normal"
    for name, value in (("n", n), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{op}: {name} must be an int >= 0, got {value!r}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer,
                                                                      np.floating)):
            raise TypeError(f"{op}: threshold must be a positive number or None, got "
                            f"{type(threshold).__name__} {threshold!r}")
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"{op}: threshold must be a positive finite number (or None: no "
                             f"truncation), got {threshold!r}")
        threshold = float(threshold)
    dtype = _random_float(dtype, op)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dtype}")
    gen = generator or random.generator_for(device)
    with _on(device):
        z = gen.standard_normal((int(n), int(dim)), dtype=dtype)
        if threshold is None:
            return _make(z, False)
        xp = backend.get_array_module(z)
        flat = z.reshape(-1)                       # a view: writing it fills z
        outside = xp.flatnonzero(xp.abs(flat.astype(np.float64)) > threshold)
        accept = math.erf(threshold / math.sqrt(2.0))          # P(|z| <= threshold) for N(0, 1)
        while outside.size:
            k = int(outside.size)
            # m candidates accept about m p of them, give or take sqrt(m p (1 - p)): draw enough
            # that k is 5 of those sigmas below the mean, so one round nearly always fills all
            # k places; capped, so that a tiny threshold takes more rounds, not more memory.
            m = min(int((k + 5 * math.sqrt(k * (1 - accept)) + 5) / accept) + 1, 1 << 22)
            cand = gen.standard_normal(m, dtype=dtype)
            ok = cand[xp.abs(cand.astype(np.float64)) <= threshold][:k]
            flat[outside[:ok.size]] = ok
            outside = outside[ok.size:]
    return _make(z, False)


def rand(*size, dtype=None, device=None, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples on [0, 1)."""
    gen = generator or random.generator_for(device)
    dtype = _random_float(dtype, "rand")
    with _on(device):
        arr = gen.random(_size(size), dtype=dtype if dtype in (np.float32, np.float64)
                         else np.float64).astype(dtype, copy=False)
    return _make(arr, requires_grad)


def randint(low: int, high: int | None = None, size=(), dtype=None, device=None,
            generator=None) -> Tensor:
    """Integers in [low, high), as ``torch.randint``; ``randint(high, size)`` uses [0, high)."""
    if isinstance(high, (tuple, list)) and size == ():
        high, size = None, high       # randint(high, size): the PyTorch positional form
    if high is None:
        low, high = 0, low
    if isinstance(size, (int, np.integer)):
        size = (size,)
    gen = generator or random.generator_for(device)
    with _on(device):
        arr = gen.integers(low, high, size=tuple(size))
    return _make(arr.astype(dtype or np.int64), False)


def randperm(n: int, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    gen = generator or random.generator_for(device)
    with _on(device):
        if hasattr(gen, "permutation"):
            perm = gen.permutation(n)
        else:   # CuPy's Generator has no permutation: sort uniform keys instead
            keys = gen.random((n,))
            perm = backend.get_array_module(keys).argsort(keys)
        return _make(perm.astype(np.int64), False)


def _like(fn):
    def like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return fn(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                  requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"``{fn.__name__}`` with the shape (and by default dtype and device) of ``t``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
randn_like = _like(randn)
rand_like = _like(rand)


def full_like(t: Tensor, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


class _on:
    """Make a GPU current while allocating on it (a no-op on the CPU)."""

    def __init__(self, device):
        self.dev = backend.default_device() if device is None else backend.device(device)
        self.ctx = None

    def __enter__(self):
        if self.dev.type == "cuda" and self.dev.index is not None:
            self.ctx = backend.cupy_module().cuda.Device(self.dev.index)
            self.ctx.__enter__()

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
        return False
