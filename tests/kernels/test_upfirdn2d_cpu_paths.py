"""kernels/upfirdn2d's CPU paths: rank_one (a 2-D filter that is an outer product runs as
two 1-D passes) and upfirdn2d_matmul (each 1-D pass a matrix product) against the twin.

rank_one must find the factors of an outer product (to rounding) and refuse every other
filter; the twin's two passes then give its 2-D pass's numbers to the rounding of a sum of
kh*kw products, and so does upfirdn2d_matmul on every geometry (up, down, negative pads),
1-D and 2-D filters, flipped or not.  The twin itself is held against a literal NumPy
reference in tests/ops/test_upfirdn2d.py.
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


FILTERS = {"binomial": np.array([1.0, 3.0, 3.0, 1.0]) / 8, "odd": np.array([0.5, -1.0, 2.0]),
           "binomial 2d": np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64,
           "odd 2d": np.outer([0.5, -1.0, 2.0], [1.0, 0.25]), "one": np.ones((1, 1))}
GEOMETRIES = [
    dict(up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0)),
    dict(up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1)),
    dict(up=(1, 1), down=(2, 2), pad=(1, 1, 1, 1)),
    dict(up=(4, 2), down=(2, 3), pad=(-1, 3, 2, -2)),
    dict(up=(3, 1), down=(2, 1), pad=(0, -2, 5, 0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("fname", list(FILTERS))
@pytest.mark.parametrize("flip_filter,gain", [(False, 1.0), (True, -1.5)], ids=["conv", "flip"])
def test_matmul_path_matches_the_twin(dtype, geometry, fname, flip_filter, gain, rng):
    x = rng.standard_normal((2, 3, 9, 7)).astype(dtype)
    f = FILTERS[fname].astype(dtype)
    args = dict(flip_filter=flip_filter, gain=gain, **geometry)
    got = kernel.upfirdn2d_matmul(x, f, **args)
    want = kernel.upfirdn2d_reference(x, f, **args)
    assert got.dtype == x.dtype and got.shape == want.shape
    f2 = np.outer(f, f) if f.ndim == 1 else f
    magnitude = kernel.upfirdn2d_reference(np.abs(x).astype(np.float64),
                                           np.abs(f2).astype(np.float64), **geometry)
    assert_within(got, want, 2 * sum_tolerance(abs(gain) * magnitude, f2.size + 3, dtype),
                  f"upfirdn2d_matmul {fname} {args}")


def test_matmul_path_refuses_a_full_rank_filter(rng):
    x = rng.standard_normal((1, 1, 5, 5))
    assert kernel.upfirdn2d_matmul(x, np.array([[1.0, 2.0], [3.0, 4.0]]), (1, 1), (1, 1),
                                   (0, 0, 0, 0)) is None


def test_forward_takes_the_matmul_path_on_small_images_only(monkeypatch, rng):
    calls = []
    real = kernel.upfirdn2d_matmul
    monkeypatch.setattr(kernel, "upfirdn2d_matmul", lambda *a: calls.append(a) or real(*a))
    f = FILTERS["binomial"]
    small = rng.standard_normal((1, 2, kernel.MATMUL_MAX, 5))
    kernel.forward(small, f, (1, 1), (1, 1), (0, 0, 0, 0))
    assert len(calls) == 1
    big = rng.standard_normal((1, 1, kernel.MATMUL_MAX + 1, 5))
    kernel.forward(big, f, (1, 1), (1, 1), (0, 0, 0, 0))
    assert len(calls) == 1


def test_the_matmul_paths_matrices_are_remembered_read_only_and_keyed_by_everything():
    # a step calls upfirdn2d with the same filters and sizes again and again: the matrices are
    # built once (the cache), and a change of any argument gives other matrices
    from tinygan.kernels import upfirdn2d as k
    k._axis_matrices.cache_clear()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    f = np.array([1.0, 3.0, 3.0, 1.0], np.float32) / 8
    first = k.upfirdn2d_matmul(x, f, (2, 2), (1, 1), (2, 1, 2, 1), gain=4.0)
    again = k.upfirdn2d_matmul(x, f, (2, 2), (1, 1), (2, 1, 2, 1), gain=4.0)
    np.testing.assert_array_equal(again, first)
    info = k._axis_matrices.cache_info()
    assert info.misses == 1 and info.hits == 1
    mx_t, my = k._axis_matrices(9, 9, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0, np.dtype(np.float32),
                                f.shape, f.tobytes(), f.dtype)
    assert not mx_t.flags.writeable and not my.flags.writeable
    for other in [dict(gain=1.0), dict(f=f * 2), dict(pad=(1, 1, 1, 1)), dict(flip_filter=True),
                  dict(up=(1, 1))]:
        args = dict(f=f, up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1), gain=4.0) | other
        y = k.upfirdn2d_matmul(x, **args)
        expected = k.upfirdn2d_reference(x, args["f"], args["up"], args["down"], args["pad"],
                                         args.get("flip_filter", False), args["gain"])
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5, err_msg=str(other))
