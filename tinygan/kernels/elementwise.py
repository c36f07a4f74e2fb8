"""Elementwise passes on the CPU, split by rows over the threads (``threads.for_rows``).

Arrays in, arrays out.  Each function computes exactly what its twin in
``reference.py`` computes -- the same operation on every element, so the same
bits on any number of threads -- and differs only in how: a large array is cut
into one slice of rows per thread, each thread writes its own slice of a fresh
output, and NumPy lets go of the interpreter lock inside the ufunc loops, so the
slices run at the same time.  Below ``threads.PARALLEL_MIN`` elements, on one
thread, or on a GPU, each is one plain call.

``channel_sums`` is a sum: on several threads its per-thread partial sums are
added in order, which differs from one thread's sum by rounding only.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import threads
from .threads import add_up, for_rows


def binary(ufunc, a, b):
    """``ufunc(a, b)`` with broadcasting (np.add, np.subtract, np.multiply).

    Large float outputs are split by rows: each thread computes its rows of the output,
    reading the rows of a and b they come from (all of an operand broadcast along axis 0).
    """
    if (type(a) is not np.ndarray or type(b) is not np.ndarray
            or (a.size < threads.PARALLEL_MIN and b.size < threads.PARALLEL_MIN)
            or a.dtype != b.dtype or a.dtype.kind != "f"):
        return ufunc(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if not shape:
        return ufunc(a, b)
    out = np.empty(shape, a.dtype)

    def rows(v, sl):
        return v[sl] if v.ndim == len(shape) and v.shape[0] != 1 else v
    for_rows(lambda sl: ufunc(rows(a, sl), rows(b, sl), out=out[sl]), shape[0], out.size)
    return out


def _in_one_call(x) -> bool:
    """True when ``x`` is processed in one plain call: a GPU array, or too small to split.

    (Splitting costs several views and a closure per call, a few us: more than the whole
    operation on a few hundred elements.)
    """
    return type(x) is not np.ndarray or x.size < threads.PARALLEL_MIN


def _unary(x, op):
    """A fresh array y with ``op(x_part, y_part)`` run on a share of the elements per thread."""
    if _in_one_call(x) or x.ndim == 0:
        y = backend.get_array_module(x).empty_like(x)
        op(x, y)
        return y
    y = np.empty(x.shape, x.dtype)              # C order, so that y1 below is a view of it
    x1, y1 = x.reshape(-1), y.reshape(-1)
    for_rows(lambda sl: op(x1[sl], y1[sl]), x1.size, x1.size)
    return y


def relu(x):
    """max(x, 0) of a float array."""
    if _in_one_call(x):
        return backend.get_array_module(x).maximum(x, 0)
    return _unary(x, lambda x, y: backend.get_array_module(x).maximum(x, 0, out=y))


def leaky_relu(x, negative_slope: float):
    """max(x, a x) of a float array, which is leaky_relu for 0 <= a <= 1: two fast passes,
    no boolean mask."""
    def op(x, y):
        xp = backend.get_array_module(x)
        xp.multiply(x, negative_slope, out=y)
        xp.maximum(x, y, out=y)
    return _unary(x, op)


def slope_mask(x, dtype, negative_slope: float = 0.0):
    """d leaky_relu(x) / dx as an array of ``dtype``: 1 where x > 0, ``negative_slope`` elsewhere.

    Written straight into a float array (``greater(..., out=)``) and scaled in place, never
    through ``where`` on a boolean mask, which NumPy runs branch by branch: for a (64, 64, 14, 14)
    activation that took 8 ms against 1.6 ms this way (benchmarks/dcgan_step.py spends a
    sixth of its step in LeakyReLU otherwise).
    """
    if _in_one_call(x):
        m = (x > 0).astype(dtype)
        if negative_slope != 0.0:
            m *= 1.0 - negative_slope
            m += negative_slope
        return m
    m = np.empty(x.shape, dtype)
    x1, m1 = x.reshape(-1), m.reshape(-1)       # (a fresh m; x as it comes, reshaped if need be)

    def part(sl):
        ms = np.greater(x1[sl], 0, out=m1[sl])
        if negative_slope != 0.0:
            ms *= 1.0 - negative_slope
            ms += negative_slope
    for_rows(part, m1.size, m1.size)
    return m


def gy_times_slope(gy, x, negative_slope: float):
    """gy * leaky_relu'(x) as a fresh array: the slope mask, multiplied by gy in place."""
    m = slope_mask(x, gy.dtype, negative_slope)
    if _in_one_call(m):
        m *= gy
        return m
    m1, g1 = m.reshape(-1), gy.reshape(-1)

    def part(sl):
        m1[sl] *= g1[sl]
    for_rows(part, m1.size, m1.size)
    return m


def add_channel_bias_(y, b):
    """y[:, c] += b[c] for every channel c (axis 1), in place; returns y."""
    b4 = b.reshape((1, -1) + (1,) * (y.ndim - 2))
    if type(y) is np.ndarray:
        for_rows(lambda sl: np.add(y[sl], b4, out=y[sl]), y.shape[0], y.size)
    else:
        y += b4
    return y


def channel_sums(x):
    """Per-channel sums of a NumPy float array x (N, C, ...) -> (C,).

    ``einsum`` runs it as one pass without a temporary, 2-3x faster than ``sum`` over axes
    (0, 2, 3); per-thread partial sums are added in order (``threads.add_up``).
    """
    x3 = x.reshape(x.shape[0], x.shape[1], -1)
    return add_up(for_rows(lambda sl: np.einsum("ncl->c", x3[sl]), x3.shape[0], x3.size))
