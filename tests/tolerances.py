"""How far apart two correct floating-point computations of the same thing may be.

A sum of n terms computed in floating point, in any order -- pairwise, blocked, with FMA or
without, split over threads -- is off from the exact sum by at most

    gamma_n * sum_i |term_i|,    gamma_n = n u / (1 - n u),   u = eps / 2 (unit roundoff)

(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., sec. 3.1).  A dot product
or an element of a matrix product is such a sum, with the terms a_ik b_kj.  So two correct
computations of it -- OpenBLAS's kernel for one CPU and for another (or for the edge rows of a
block), one thread and three, a fast path and a reference -- differ by at most about
``n * eps * sum |term_i|``: a bound set by the magnitude of the *terms*.  The result itself may
be near zero after cancellation, so a tolerance relative to the result (``rtol`` alone, or
``np.allclose``'s defaults) is no bound at all there.

The helpers below turn that into tolerances computed from the operands, with ``FACTOR`` (2)
times the worst case as room for the few roundings around a sum (a bias added, a scale, the
cast of the result).  Exact comparisons stay where tinygan promises bit-identical numbers: the
same seed, thread count and machine, pure data movement, integers.
"""
from __future__ import annotations

import numpy as np

FACTOR = 2.0


def eps(dtype) -> float:
    """Machine epsilon of ``dtype`` (the gap between 1 and the next number): 1.19e-7 for float32."""
    return float(np.finfo(np.dtype(dtype)).eps)


def sum_tolerance(abs_sum, n: int, dtype, factor: float = FACTOR) -> np.ndarray:
    """Bound on |a - b| for two computations in ``dtype`` of sums of ``n`` terms whose absolute
    values add up to ``abs_sum`` (array or number, elementwise)."""
    return factor * n * eps(dtype) * np.asarray(abs_sum, dtype=np.float64)


def product_tolerance(a, b, dtype=None, factor: float = FACTOR) -> np.ndarray:
    """Elementwise bound on |x - y| for two computations of ``a @ b``:
    ``factor * k * eps * (|a| @ |b|)`` with k the inner dimension.  ``dtype`` defaults to that
    of the product (float32 for float32 operands)."""
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b) if dtype is None else dtype
    magnitude = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    return sum_tolerance(magnitude, a.shape[-1], dtype, factor)


def assert_within(actual, expected, tolerance, what: str = "") -> None:
    """``|actual - expected| <= tolerance`` elementwise (tolerance broadcasts); on failure the
    message names the worst element, its difference and its tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shapes {actual.shape} and {expected.shape}"
    tolerance = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), actual.shape)
    diff = np.abs(actual - expected)
    bad = ~(diff <= tolerance)                 # NaN counts as a failure
    if bad.any():
        ratio = np.where(bad, diff / np.maximum(tolerance, np.finfo(np.float64).tiny), 0.0)
        i = np.unravel_index(int(np.nanargmax(np.where(np.isnan(ratio), np.inf, ratio))), actual.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {actual.size} elements differ by more than the rounding "
            f"bound; worst at {tuple(int(j) for j in i)}: {actual[i]:.9g} vs {expected[i]:.9g}, "
            f"difference {diff[i]:.3g} > tolerance {tolerance[i]:.3g}")


def network_tolerance(layers, x, dtype=np.float32, factor: float = FACTOR, x_error=0.0) -> np.ndarray:
    """Elementwise bound on how far two computations in ``dtype`` of ``layers(x)`` may differ,
    for a stack of tinygan.nn layers (Linear, Conv2d, BatchNorm in eval mode, ReLU, LeakyReLU,
    Tanh, Flatten, Unflatten, Dropout in eval mode), to first order; ``x_error`` bounds how
    far apart the two computations' inputs are.

    Layer by layer, the activations h are computed in float64 and an error bound E carried
    along: a Linear or Conv2d layer adds its own rounding, ``factor * fan_in * eps *
    (|W| * |h| + |b|)`` (each output a sum of fan_in products and a bias), and passes on
    ``|W| * E``; batch norm's affine map passes on ``|scale| * E`` plus a few roundings; the
    activations are 1-Lipschitz and add at most an ulp or two of their output.
    """
    import tinygan
    import tinygan.nn as nn
    import tinygan.nn.functional as F
    e = eps(dtype)
    as64 = lambda t: np.asarray(t.data if hasattr(t, "data") else t, dtype=np.float64)   # noqa: E731
    T = lambda a: tinygan.tensor(a)                                                       # noqa: E731
    h = as64(x)
    err = np.broadcast_to(np.asarray(x_error, dtype=np.float64), h.shape).copy()
    with tinygan.no_grad():
        for layer in layers:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                w, b = as64(layer.weight), None if layer.bias is None else as64(layer.bias)
                if isinstance(layer, nn.Linear):
                    op = lambda a, w, b: F.linear(T(a), T(w), None if b is None else T(b)).numpy()  # noqa: E731
                    fan_in = w.shape[1]
                else:
                    op = lambda a, w, b: F.conv2d(T(a), T(w), None if b is None else T(b), layer.stride,  # noqa: E731
                                                  layer.padding, layer.dilation, layer.groups).numpy()
                    fan_in = int(np.prod(w.shape[1:]))
                magnitude = op(np.abs(h), np.abs(w), None if b is None else np.abs(b))
                err = op(err, np.abs(w), None) + factor * (fan_in + 1) * e * magnitude
                h = op(h, w, b)
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and not layer.training:
                shape = (1, -1) + (1,) * (h.ndim - 2)
                scale = as64(layer.weight) / np.sqrt(as64(layer.running_var) + layer.eps)
                bias = as64(layer.bias).reshape(shape)
                h = (h - as64(layer.running_mean).reshape(shape)) * scale.reshape(shape) + bias
                # (x - mean) * scale + bias: each rounding is of a result no larger than |h| + |bias|
                err = err * np.abs(scale).reshape(shape) + factor * 4 * e * (np.abs(h) + np.abs(bias))
            elif isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.Tanh)):
                h = layer(T(h)).numpy()
                err = err + factor * e * np.abs(h)
            elif isinstance(layer, (nn.Flatten, nn.Unflatten, nn.Dropout)) and not (
                    isinstance(layer, nn.Dropout) and layer.training):
                h, err = layer(T(h)).numpy(), layer(T(err)).numpy()
            else:
                raise TypeError(f"network_tolerance: no rounding model for {type(layer).__name__}")
    return err
