"""kernels/im2col's 1x1 path (a matrix product per sample, channels first) against the general
im2col path, for the three maps -- conv, conv_weight, conv_input -- on one and two threads,
channels-first and channels-last sizes.  tests/ops/test_conv.py holds conv2d (both paths)
against a literal NumPy reference, with first and second derivatives."""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import im2col, threads

from tolerances import assert_within, sum_tolerance


def _geometry(n, c, o, h, w):
    return im2col.Geometry((n, c, h, w), (o, c, 1, 1), (1, 1), (0, 0), (1, 1), 1, (h, w))


def _maps(x, w, gy, geo):
    y, _ = im2col.conv(x, w, geo)
    return y, im2col.conv_weight(x, gy, geo, w.shape), im2col.conv_input(gy, w, geo)


@pytest.mark.parametrize("n,c,o,h,w", [(3, 1, 32, 8, 8), (4, 32, 1, 8, 8), (5, 16, 9, 6, 7),
                                       (2, 2, 3, 1, 1)])
@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pointwise_matches_the_general_path(n, c, o, h, w, num_threads, dtype, rng, monkeypatch):
    monkeypatch.setattr(threads, "get_num_threads", lambda: num_threads)
    monkeypatch.setattr(im2col, "get_num_threads", lambda: num_threads)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c, 1, 1)).astype(dtype)
    gy = rng.standard_normal((n, o, h, w)).astype(dtype)
    geo = _geometry(n, c, o, h, w)
    assert im2col._pointwise(geo, np)
    fast = _maps(x, wt, gy, geo)
    monkeypatch.setattr(im2col, "_pointwise", lambda geo, xp: False)
    plain = _maps(x, wt, gy, geo)
    ax, aw, ag = np.abs(x).astype(np.float64), np.abs(wt).astype(np.float64), np.abs(gy)
    magnitudes = (np.einsum("oc,nchw->nohw", aw[:, :, 0, 0], ax),
                  np.einsum("nohw,nchw->oc", ag, ax)[:, :, None, None],
                  np.einsum("oc,nohw->nchw", aw[:, :, 0, 0], ag))
    terms = (c, n * h * w, o)
    for name, a, b, m, k in zip(("conv", "conv_weight", "conv_input"), fast, plain, magnitudes,
                                terms):
        assert a.shape == b.shape and a.dtype == b.dtype == dtype, name
        assert_within(a, b, 2 * sum_tolerance(m, k, dtype), f"1x1 {name}")


def test_other_geometries_take_the_general_path():
    def pointwise(w_shape, stride, padding, groups, out_hw, c=2):
        geo = im2col.Geometry((1, c, 4, 4), w_shape, stride, padding, (1, 1), groups, out_hw)
        return im2col._pointwise(geo, np)
    assert not pointwise((3, 2, 3, 3), (1, 1), (1, 1), 1, (4, 4))          # 3x3
    assert not pointwise((3, 2, 1, 1), (2, 2), (0, 0), 1, (2, 2))          # strided
    assert not pointwise((3, 2, 1, 1), (1, 1), (1, 1), 1, (6, 6))          # padded
    assert not pointwise((4, 2, 1, 1), (1, 1), (0, 0), 2, (4, 4), c=4)     # grouped
