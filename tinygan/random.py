"""Random numbers: one seeded generator for every device, so runs are reproducible.

The generator is Philox4x32-10 (tinygan/kernels/philox.py), a counter-based
generator: the number at position i of the stream is a keyed function of i, not
the result of the numbers before it.  So its whole state is two integers,

    (seed, offset):  the 64-bit key, and the first counter the next draw will use,

``get_rng_state()`` returns them as a small JSON-able dict that checkpoints store,
and a draw of n numbers reads counters offset .. offset + m - 1 and moves the
offset on by those m (a quarter of the 32-bit words it used, rounded up).

The same integer arithmetic runs vectorized in NumPy on the CPU and as a CUDA
kernel on a GPU (a CuPy twin of the NumPy code when the kernels are off), so:
- a seeded run draws the same noise, initial weights and shuffles on the CPU and
  on a GPU (uniforms, integers and permutations bit for bit; normals to the last
  bit of log/cos/sin, see philox.py);
- a GPU makes its numbers where they are used: no host draw is copied over;
- a resumed run (checkpoint -> ``set_rng_state``) draws exactly what an unbroken
  run would have, on either device.

``manual_seed(s)`` seeds it (offset 0); ``generator_for(device)`` gives an
object with the ``numpy.random.Generator`` methods tinygan uses (``random``,
``standard_normal``, ``integers``, ``permutation``) that draws from the one
shared stream and returns arrays on that device.  ``Generator(seed)`` is a
stream of its own (the DataLoader's shuffles, fixed evaluation noise).

Checkpoints written before tinygan used Philox hold NumPy's PCG64 state;
``set_rng_state`` refuses it with an error saying so (their stream cannot be
continued, so a resume could not be bit-exact).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from . import backend
from .kernels import philox

NAME = "philox4x32-10"
_SEED_RANGE = 2 ** 64


class _Stream:
    """(seed, offset): the key and the next unused counter, shared by the generators over it."""

    __slots__ = ("seed", "offset", "lock")

    def __init__(self, seed: int, offset: int = 0):
        self.seed, self.offset = seed, offset
        self.lock = threading.Lock()

    def take(self, counters: int) -> tuple[int, int]:
        """Reserve ``counters`` counters: the (seed, first counter) of the draw."""
        with self.lock:
            start = self.offset
            self.offset += counters
            return self.seed, start


def _check_seed(seed, where: str) -> int:
    """A seed as the key: ints in [-2^63, 2^64), negative ones taken modulo 2^64 (as torch does)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{where}: the seed must be an int, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not -(2 ** 63) <= seed < _SEED_RANGE:
        raise ValueError(f"{where}: the seed must be in [-2**63, 2**64), got {seed}")
    return seed % _SEED_RANGE


def _size(size) -> tuple:
    if size is None:
        return ()
    if isinstance(size, (int, np.integer)):
        return (int(size),)
    return tuple(int(s) for s in size)


def _float_dtype(dtype, where: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dt}")
    return dt


class Generator:
    """A Philox4x32-10 stream on a device, with the ``numpy.random.Generator`` methods
    tinygan uses.  Every method returns an array of the device's array module.

    Args:
        seed: the key, an int in [-2^63, 2^64) (negative ones modulo 2^64).
        offset: the first counter to use (the state of ``get_state``).
        device: where the numbers are made ("cpu", "cuda", ...; default tinygan's default).
    """

    def __init__(self, seed: int = 0, offset: int = 0, device=None):
        self._stream = _Stream(_check_seed(seed, "Generator"), _check_offset(offset, "Generator"))
        self._set_device(device)

    @classmethod
    def _over(cls, stream: _Stream, device) -> "Generator":
        gen = cls.__new__(cls)
        gen._stream = stream
        gen._set_device(device)
        return gen

    def _set_device(self, device) -> None:
        self.device = backend.default_device() if device is None else backend.device(device)
        if self.device.type != "cpu":
            backend.cupy_module()            # a clear error if there is no GPU
        self._xp = backend.array_module_for(self.device)

    # -- state -------------------------------------------------------------------------
    def get_state(self) -> dict:
        """``{"generator": "philox4x32-10", "seed": int, "offset": int}`` (JSON-able)."""
        return {"generator": NAME, "seed": self._stream.seed, "offset": self._stream.offset}

    def set_state(self, state: dict) -> None:
        seed, offset = _read_state(state)
        with self._stream.lock:
            self._stream.seed, self._stream.offset = seed, offset

    def manual_seed(self, seed: int) -> "Generator":
        self.set_state({"generator": NAME, "seed": _check_seed(seed, "manual_seed"), "offset": 0})
        return self

    # -- draws -------------------------------------------------------------------------
    def _draw(self, make, n: int, words_per_value: int):
        seed, offset = self._stream.take(philox.counters_for(n, words_per_value))
        with self._on_device():
            return make(seed, offset)

    def _on_device(self):
        """Make the generator's GPU current while its arrays are allocated (nothing on the CPU)."""
        if self.device.type == "cpu" or self.device.index is None:
            return contextlib.nullcontext()
        return self._xp.cuda.Device(self.device.index)

    def random(self, size=None, dtype=np.float64):
        """Uniform on [0, 1): float32 from 24 random bits, float64 from 53.  Shape ``size``."""
        dt = _float_dtype(dtype, "random")
        shape = _size(size)
        n = int(np.prod(shape))
        u = self._draw(lambda s, o: philox.uniform(s, o, n, dt, self._xp), n,
                       philox.words_per_value("uniform", dt))
        return u.reshape(shape)

    def standard_normal(self, size=None, dtype=np.float64):
        """N(0, 1) by Box-Muller, computed in ``dtype``.  Shape ``size``."""
        dt = _float_dtype(dtype, "standard_normal")
        shape = _size(size)
        n = int(np.prod(shape))
        z = self._draw(lambda s, o: philox.normal(s, o, n, dt, self._xp), n,
                       philox.words_per_value("normal", dt))
        return z.reshape(shape)

    def integers(self, low, high=None, size=None, dtype=np.int64):
        """Integers in [low, high) (``integers(high)``: [0, high)), int64 cast to ``dtype``.

        Multiply-shift on 64 random bits (philox.py): the probability of each value
        is within 2^-64 of 1 / (high - low)."""
        if high is None:
            low, high = 0, low
        low, high = int(low), int(high)
        if not low < high:
            raise ValueError(f"integers: need low < high, got low={low}, high={high}")
        if low < -(2 ** 63) or high > 2 ** 63 or high - low >= _SEED_RANGE:
            raise ValueError(f"integers: [low, high) = [{low}, {high}) must lie in int64's range "
                             f"and span fewer than 2**64 values")
        shape = _size(size)
        n = int(np.prod(shape))
        v = self._draw(lambda s, o: philox.integers(s, o, n, low, high, self._xp), n, 2)
        return v.reshape(shape).astype(dtype, copy=False)

    def permutation(self, x):
        """A random permutation of 0..x-1 (int64), or of the first axis of the array ``x``.

        The argsort of n distinct random keys (philox.py): a sort, natural on a GPU, and
        the same order on every device whatever the sort algorithm."""
        arr = None
        if isinstance(x, (int, np.integer)):
            n = int(x)
        else:
            arr = x if backend.is_cupy_array(x) else np.asarray(x)
            if arr.ndim == 0:
                raise ValueError("permutation: x must be an int or an array with at least one axis")
            n = arr.shape[0]
        if n < 0:
            raise ValueError(f"permutation: n must be >= 0, got {n}")
        keys = self._draw(lambda s, o: philox.permutation_keys(s, o, n, self._xp), n, 2)
        perm = self._xp.argsort(keys).astype(np.int64, copy=False)
        return perm if arr is None else arr[backend.to_device(perm, backend.device_of(arr))]

    def __repr__(self) -> str:
        return (f"Generator({NAME}, seed={self._stream.seed}, offset={self._stream.offset}, "
                f"device='{self.device}')")


def _check_offset(offset, where: str) -> int:
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise TypeError(f"{where}: the offset must be an int, got {type(offset).__name__} {offset!r}")
    if not 0 <= int(offset) < 2 ** 128:
        raise ValueError(f"{where}: the offset must be in [0, 2**128), got {offset}")
    return int(offset)


def _read_state(state) -> tuple[int, int]:
    """(seed, offset) of a state dict, or an error saying what is wrong with it."""
    if not isinstance(state, dict):
        raise TypeError(f"set_rng_state: expected the dict of get_rng_state(), got {type(state).__name__}")
    if "bit_generator" in state:
        raise ValueError(
            f"set_rng_state: this is a NumPy {state.get('bit_generator')} state, written by a tinygan "
            f"from before its {NAME} generator; its stream cannot be continued, so a resume from it "
            "could not draw what the original run would have (start the run afresh, or load only "
            "the weights)")
    if state.get("generator") != NAME or "seed" not in state or "offset" not in state:
        raise ValueError(f"set_rng_state: expected {{'generator': '{NAME}', 'seed': int, "
                         f"'offset': int}}, got {state!r}")
    return _check_seed(state["seed"], "set_rng_state"), _check_offset(state["offset"], "set_rng_state")


# -- the one generator every device draws from ---------------------------------------------
_seed: int = int(np.random.SeedSequence().entropy % _SEED_RANGE)    # unseeded: fresh each process
_stream = _Stream(_seed)


def manual_seed(seed: int) -> None:
    """Seed the generator (of the CPU and of every GPU: they share it); the offset goes to 0."""
    global _seed
    s = _check_seed(seed, "manual_seed")
    with _stream.lock:
        _stream.seed, _stream.offset = s, 0
    _seed = s


def seed() -> int:
    """Seed from the operating system's entropy; return the seed used."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def generator_for(dev) -> Generator:
    """The generator of a device: the shared stream, making its numbers on ``dev``."""
    return Generator._over(_stream, dev)


def get_rng_state() -> dict:
    """The generator's state (the CPU's and every GPU's) as a JSON-able dict:
    ``{"generator": "philox4x32-10", "seed": int, "offset": int}``."""
    return {"generator": NAME, "seed": _stream.seed, "offset": _stream.offset}


def set_rng_state(state: dict) -> None:
    """Restore a state of ``get_rng_state``; the next draws are the ones that followed it."""
    seed_, offset = _read_state(state)
    with _stream.lock:
        _stream.seed, _stream.offset = seed_, offset
