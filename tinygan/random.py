"""Random numbers: one seeded generator for every device, so runs are reproducible.

``manual_seed(s)`` seeds it.  The generator is NumPy's PCG64 on the host; its
state (``get_rng_state``) is a plain dict of ints, which checkpoints store so a
resumed run draws the same numbers as an unbroken one.

A GPU draws from the *same* host generator and copies the numbers over
(``generator_for("cuda")``).  That costs a host draw and a transfer per call --
small next to a training step for the noise vectors, masks and initial weights a
model draws -- and buys two things a per-device generator (CuPy's) cannot give:
the state of every device is the one host state, so a GPU run resumes bit for bit
from a checkpoint; and a seeded run draws the very same noise on the CPU and on a
GPU, so the two can be compared number for number.
"""
from __future__ import annotations

import numpy as np

from . import backend

_cpu = np.random.Generator(np.random.PCG64())
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed the generator (of the CPU and of every GPU: they share it)."""
    global _cpu, _seed
    _seed = int(seed)
    _cpu = np.random.Generator(np.random.PCG64(_seed))


def seed() -> int:
    """Seed from the operating system's entropy; return the seed used."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


class DeviceGenerator:
    """The host generator's draws, delivered on a GPU: the methods of
    ``numpy.random.Generator`` that tinygan uses, returning arrays on ``device``."""

    def __init__(self, device):
        self.device = device

    def _put(self, a):
        return backend.to_device(a, self.device)

    def standard_normal(self, size=None, dtype=np.float64):
        return self._put(_cpu.standard_normal(size, dtype=dtype))

    def random(self, size=None, dtype=np.float64):
        return self._put(_cpu.random(size, dtype=dtype))

    def integers(self, low, high=None, size=None, dtype=np.int64):
        return self._put(_cpu.integers(low, high, size=size, dtype=dtype))

    def permutation(self, n):
        return self._put(_cpu.permutation(n))


def generator_for(dev) -> object:
    """The generator of a device: the host ``numpy.random.Generator`` for the CPU, a
    ``DeviceGenerator`` drawing from it for a GPU."""
    dev = backend.default_device() if dev is None else backend.device(dev)
    if dev.type == "cpu":
        return _cpu
    backend.cupy_module()              # a clear error if there is no GPU
    return DeviceGenerator(dev)


def get_rng_state() -> dict:
    """The generator's state (the CPU's and every GPU's) as a JSON-able dict."""
    return _cpu.bit_generator.state


def set_rng_state(state: dict) -> None:
    _cpu.bit_generator.state = state
