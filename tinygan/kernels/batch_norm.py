"""Batch norm on the CPU: statistics, affine map and closed-form backward in a few passes.

Arrays in, arrays out.  Twins: ``reference.batch_norm_forward`` and
``reference.batch_norm_backward``, the formulas of Ioffe & Szegedy (2015), Alg. 1
and Sec. 3.  Here x (N, C, ...) is seen as (N, C, L); per-channel sums are
``einsum``s, which NumPy runs as one pass without a temporary (2-3x faster than
``mean`` over axes (0, 2, 3)), each pass is split by samples over the threads
(``threads.for_rows``) with per-thread partial sums per channel added in order,
and the output is built in place in the array of centred values.  The sums are
what differ from the twin, by rounding.

ops/norm.py calls ``normalize_forward`` and ``normalize_backward``: each
decides whether these kernels take the normalization and returns None when
they don't (the op then runs its own formulas).  ``forward`` and ``backward``
are the kernels themselves.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .elementwise import channel_sums
from .threads import add_up, for_rows


def applies(x, axes: tuple) -> bool:
    """Whether these kernels take this normalization: a NumPy float array normalized per
    channel (axis 1) over every other axis (batch norm)."""
    return (backend.get_array_module(x) is np and x.ndim >= 2
            and x.dtype in (np.float32, np.float64)       # einsum sums in the input's dtype
            and axes == (0,) + tuple(range(2, x.ndim)))


def normalize_forward(x, weight, bias, eps: float, axes: tuple):
    """(y, mean, var, inv_std) for ``Normalize.forward`` over ``axes``, or None when
    ``applies`` says these kernels don't take it."""
    return forward(x, weight, bias, eps) if applies(x, axes) else None


def normalize_backward(x, gy, weight, bias, mean, inv_std, axes: tuple, needs: tuple):
    """(gx, gweight, gbias) for ``Normalize.backward`` when nothing is recorded, or None.

    ``needs``: which of the three are wanted; the others come back as None.  gweight
    and gbias come back in the shape and dtype of ``weight`` and ``bias``.  None when
    ``applies`` says no, or gy is not of x's shape (a broadcast gradient).
    """
    if not (applies(x, axes) and gy.shape == x.shape):
        return None
    need_x, need_w, need_b = needs
    gx, gw, gb = backward(x, gy, weight, mean, inv_std, need_x)
    return (gx if need_x else None,
            gw.astype(weight.dtype, copy=False).reshape(weight.shape) if need_w else None,
            gb.astype(bias.dtype, copy=False).reshape(bias.shape) if need_b else None)


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
