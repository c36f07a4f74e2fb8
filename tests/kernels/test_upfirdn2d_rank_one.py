"""kernels/upfirdn2d.rank_one: a 2-D filter that is an outer product runs as two 1-D passes.

rank_one must find the factors of an outer product (to rounding) and refuse every other
filter; the CPU path then gives the 2-D pass's numbers to the rounding of a sum of kh*kw
products (the literal NumPy reference of tests/ops/test_upfirdn2d.py holds both).
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import upfirdn2d as kernel

from tolerances import assert_within, sum_tolerance


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_factors_of_an_outer_product(dtype):
    col, row = np.array([1.0, 3.0, 3.0, 1.0]) / 8, np.array([0.5, -2.0, 1.0])
    g = np.outer(col, row).astype(dtype)
    factors = kernel.rank_one(g)
    assert factors is not None
    a, b = factors
    assert a.dtype == b.dtype == dtype and a.shape == (4,) and b.shape == (3,)
    assert_within(np.outer(a, b), g, sum_tolerance(np.abs(g), 2, dtype), "rank_one factors")


@pytest.mark.parametrize("g", [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]],
                               [[0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0, -1.0], [0.5, 3.0, 1.5]]],
                         ids=["full rank", "identity", "zero", "2x3"])
def test_other_filters_are_refused(g):
    assert kernel.rank_one(np.asarray(g)) is None


@pytest.mark.parametrize("geometry", [dict(up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1)),
                                      dict(up=(1, 1), down=(2, 2), pad=(1, 1, 1, 1)),
                                      dict(up=(1, 1), down=(1, 1), pad=(1, 1, 1, 1))], ids=str)
def test_two_passes_match_the_2d_pass(geometry, monkeypatch, rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    f = (np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64).astype(np.float32)
    two = kernel.upfirdn2d_reference(x, f, gain=4.0, **geometry)
    monkeypatch.setattr(kernel, "rank_one", lambda g: None)
    one = kernel.upfirdn2d_reference(x, f, gain=4.0, **geometry)
    magnitude = kernel.upfirdn2d_reference(np.abs(x).astype(np.float64),
                                           f.astype(np.float64), gain=4.0, **geometry)
    assert_within(two, one, 2 * sum_tolerance(magnitude, 16 + 3, np.float32), "two passes vs 2-D")
