"""Adam's update of one parameter, in place, split over the threads.  Arrays in, arrays out.

Twin: ``reference.adam_update``, Algorithm 1 of Kingma & Ba (2015) line by line.
Here every step runs on every parameter, so the update works in place with one
scratch array instead of a temporary per operation, and arranges the step as
PyTorch does -- lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), one
scalar factor on m -- which is the paper's step up to rounding.  On the CPU a
large parameter is cut into one share of its elements per thread (each element
is computed the same way, so any thread count gives the same bits).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from .threads import for_rows


def update_(p, g, m, v, vmax, *, lr: float, beta1: float, beta2: float, eps: float,
            step: int) -> None:
    """One Adam step at step number ``step`` (t >= 1), in place on p, m, v (and vmax, the
    running maximum of v for AMSGrad, or None).  All arrays have p's shape; g is read only."""
    xp = get_array_module(p)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step

    def update(p, g, m, v, vmax):
        tmp = xp.subtract(g, m, out=xp.empty_like(m))
        tmp *= 1 - beta1
        m += tmp                                 # = beta1 * m + (1 - beta1) * g  (a lerp, as PyTorch)
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp                                 # = beta2 * v + (1 - beta2) * g^2
        if vmax is not None:
            v = xp.maximum(vmax, v, out=vmax)
        denom = xp.sqrt(v, out=tmp)
        denom /= math.sqrt(bias_correction2)
        denom += eps
        s = xp.divide(m, denom, out=tmp)
        s *= lr / bias_correction1
        p -= s

    arrays = (p, g, m, v, vmax)
    if xp is not np or not all(a is None or a.flags.c_contiguous for a in arrays):
        update(*arrays)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for_rows(lambda sl: update(*[None if a is None else a[sl] for a in flat]), p.size, 4 * p.size)
