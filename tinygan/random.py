"""Random numbers: one seeded generator per device, so runs are reproducible.

``manual_seed(s)`` reseeds every device's generator.  On the CPU the generator
is NumPy's PCG64; its state (``get_rng_state``) is a plain dict of ints, which
checkpoints store so a resumed run draws the same numbers as an unbroken one.
"""
from __future__ import annotations

import numpy as np

from . import backend

_cpu = np.random.Generator(np.random.PCG64())
_gpu: dict = {}          # device index -> cupy generator
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed the generators of the CPU and of every GPU used so far (and later)."""
    global _cpu, _seed
    _seed = int(seed)
    _cpu = np.random.Generator(np.random.PCG64(_seed))
    _gpu.clear()


def seed() -> int:
    """Seed from the operating system's entropy; return the seed used."""
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def generator_for(dev) -> object:
    """The generator of a device: ``numpy.random.Generator`` or CuPy's equivalent."""
    dev = backend.default_device() if dev is None else backend.device(dev)
    if dev.type == "cpu":
        return _cpu
    cp = backend.cupy_module()
    index = dev.index if dev.index is not None else cp.cuda.Device().id
    if index not in _gpu:
        with cp.cuda.Device(index):
            base = _seed if _seed is not None else int(np.random.SeedSequence().entropy % 2 ** 63)
            _gpu[index] = cp.random.default_rng(base + 7919 * (index + 1))
    return _gpu[index]


def get_rng_state() -> dict:
    """The CPU generator's state as a JSON-able dict."""
    return _cpu.bit_generator.state


def set_rng_state(state: dict) -> None:
    _cpu.bit_generator.state = state
