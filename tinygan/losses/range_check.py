"""A range check of the data (pixels in [0, 1]) that never makes a GPU training step wait.

A Bernoulli likelihood needs x in [0, 1], and a VAE says so clearly when it is handed images
in [-1, 1].  The check reads ``x.min()`` and ``x.max()``: free on the CPU, but on a GPU each
read waits for every launch queued before it, twice per step.  So the check runs now where
reading is free (NumPy arrays) or the caller reads its results anyway (nothing is recorded:
evaluation), and on a GPU inside a recorded step it is *deferred*: min and max stay on the
device, and ``raise_pending`` reads them -- the training loop calls it at its read points,
where it reads the losses anyway (tinygan/train/loop.py) -- and raises the same error the
eager check would have.  A deferred error is therefore raised up to one read interval late,
like a NaN loss.  Code that never calls ``raise_pending`` still hears of bad data: at most
``MAX_PENDING`` checks wait, the next one reads them all.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import backend
from ..autograd import Tensor, is_grad_enabled

MAX_PENDING = 64
_pending: list = []          # (device array [min, max], message(lo, hi) -> str)


def _reading_is_free(a) -> bool:
    """A host (NumPy) array: reading it waits for nothing."""
    return backend.get_array_module(a) is np


def check_range(x: Tensor, low: float, high: float, message: Callable[[float, float], str]) -> None:
    """Raise ``ValueError(message(min(x), max(x)))`` when x has a value outside [low, high]:
    now, or (a CuPy array while the graph is recorded) at the next ``raise_pending``."""
    if _reading_is_free(x.data) or not is_grad_enabled():
        lo, hi = float(x.data.min()), float(x.data.max())
        if lo < low or hi > high:
            raise ValueError(message(lo, hi))
        return
    xp = backend.get_array_module(x.data)
    extrema = xp.stack((x.data.min(), x.data.max()))       # stays on the device: no read
    _pending.append((extrema, low, high, message))
    if len(_pending) > MAX_PENDING:
        raise_pending()


def raise_pending() -> None:
    """Read the deferred checks (in the order they were made) and raise the first failure's
    error; forget them all either way."""
    if not _pending:
        return
    checks = list(_pending)
    _pending.clear()
    xp = backend.get_array_module(checks[0][0])
    values = backend.to_device(xp.stack([extrema for extrema, *_ in checks]), "cpu")   # one read
    for (lo, hi), (_, low, high, message) in zip(values.tolist(), checks):
        if lo < low or hi > high:
            raise ValueError(message(lo, hi))


def pending() -> int:
    """How many deferred checks wait to be read."""
    return len(_pending)
