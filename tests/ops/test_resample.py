"""tinygan.ops.resample: interpolate with 'nearest', 'nearest-exact' and 'bilinear'.

Forward against a NumPy reference that computes each output pixel from PyTorch's
source-index formulas (aten/src/ATen/native/UpSample.h) and the four-neighbour
bilinear formula; first and second derivatives in float64 over modes, sizes and
scale factors; output sizes and errors.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F


def _np_nearest_src(n_in, n_out, scale_factor, exact):
    f32 = np.float32
    scale = f32(1.0 / scale_factor) if scale_factor else f32(n_in) / f32(n_out)   # float, as PyTorch
    i = np.arange(n_out)
    if exact:
        src = np.floor((i.astype(f32) + f32(0.5)) * scale)
    elif n_out == n_in:
        src = i
    elif n_out == 2 * n_in:
        src = i // 2
    else:
        src = np.floor(i.astype(f32) * scale)
    return np.minimum(src.astype(np.int64), n_in - 1)


def _np_linear_src(n_in, n_out, scale_factor, align_corners):
    i = np.arange(n_out, dtype=np.float64)
    if n_out == n_in:
        return i                          # PyTorch copies a dim whose size doesn't change
    if align_corners:
        return i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    scale = 1.0 / scale_factor if scale_factor else n_in / n_out
    return np.maximum((i + 0.5) * scale - 0.5, 0.0)


def _np_interpolate(x, out_hw, mode, align_corners=None, scales=(None, None)):
    (h, w), (oh, ow) = x.shape[2:], out_hw
    if mode.startswith("nearest"):
        exact = mode == "nearest-exact"
        rows = _np_nearest_src(h, oh, scales[0], exact)
        cols = _np_nearest_src(w, ow, scales[1], exact)
        return x[:, :, rows[:, None], cols[None, :]]
    sh = _np_linear_src(h, oh, scales[0], align_corners)
    sw = _np_linear_src(w, ow, scales[1], align_corners)
    h0 = np.minimum(np.floor(sh).astype(int), h - 1)
    w0 = np.minimum(np.floor(sw).astype(int), w - 1)
    h1, w1 = np.minimum(h0 + 1, h - 1), np.minimum(w0 + 1, w - 1)
    lh, lw = (sh - h0)[:, None], (sw - w0)[None, :]
    return ((1 - lh) * (1 - lw) * x[:, :, h0[:, None], w0[None, :]]
            + (1 - lh) * lw * x[:, :, h0[:, None], w1[None, :]]
            + lh * (1 - lw) * x[:, :, h1[:, None], w0[None, :]]
            + lh * lw * x[:, :, h1[:, None], w1[None, :]])


SIZES = [dict(size=(7, 3)), dict(size=5), dict(size=(4, 6)), dict(size=(8, 12)), dict(size=(1, 1)),
         dict(scale_factor=2), dict(scale_factor=1.5), dict(scale_factor=(0.5, 2.5)),
         dict(scale_factor=1.7, recompute_scale_factor=True), dict(scale_factor=(1.1, 1.5))]
MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)]


def _expected_size_and_scales(hw, kw):
    if "size" in kw:
        s = kw["size"]
        return ((s, s) if isinstance(s, int) else s), (None, None)
    sf = kw["scale_factor"]
    sf = (sf, sf) if not isinstance(sf, tuple) else sf
    out = tuple(int(math.floor(n * f)) for n, f in zip(hw, sf))
    return out, ((None, None) if kw.get("recompute_scale_factor") else sf)


@pytest.mark.parametrize("mode,align_corners", MODES, ids=str)
@pytest.mark.parametrize("kw", SIZES, ids=str)
def test_interpolate_forward(mode, align_corners, kw, rng, close):
    x = rng.standard_normal((2, 3, 4, 6))
    y = F.interpolate(tinygan.tensor(x), mode=mode, align_corners=align_corners, **kw)
    out_hw, scales = _expected_size_and_scales((4, 6), kw)
    close(y, _np_interpolate(x, out_hw, mode, align_corners, scales), rtol=1e-12, atol=1e-12)


def test_interpolate_float32_and_identity(rng, close):
    x = rng.standard_normal((1, 2, 3, 5)).astype(np.float32)
    y = F.interpolate(tinygan.tensor(x), scale_factor=2, mode="bilinear")
    assert y.dtype == np.float32 and y.shape == (1, 2, 6, 10)
    same = F.interpolate(tinygan.tensor(x), size=(3, 5))
    close(same, x, dtype=np.float32)
    # Nearest upsampling by 2 repeats each pixel in a 2 x 2 block.
    close(F.interpolate(tinygan.tensor(x), scale_factor=2), x.repeat(2, axis=2).repeat(2, axis=3))


GRAD_CASES = [("nearest", None, dict(size=(5, 3))), ("nearest", None, dict(scale_factor=2)),
              ("nearest-exact", None, dict(size=(2, 5))), ("bilinear", False, dict(size=(5, 7))),
              ("bilinear", False, dict(scale_factor=0.5)), ("bilinear", True, dict(scale_factor=1.5)),
              ("bilinear", True, dict(size=(2, 2)))]


@pytest.mark.parametrize("mode,align_corners,kw", GRAD_CASES, ids=str)
def test_interpolate_grads(mode, align_corners, kw, make, check_grads):
    x = make(1, 2, 3, 4)
    check_grads(lambda x: F.interpolate(x, mode=mode, align_corners=align_corners, **kw), x)


def test_interpolate_errors():
    x = tinygan.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match=r"interpolate: align_corners can only be set"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"interpolate: mode 'bicubic' is not supported"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ValueError, match=r"interpolate: expected 4-D input \(N, C, H, W\), "
                                         r"got shape \(1, 4, 4\)"):
        F.interpolate(tinygan.randn(1, 4, 4), size=3)
    with pytest.raises(ValueError, match=r"interpolate: the output size \(1, 0\) must be positive"):
        F.interpolate(x, scale_factor=(0.3, 0.2))


def test_interpolate_matches_torch(rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    for dtype, (h, w) in itertools.product((np.float32, np.float64), ((5, 7), (4, 4), (1, 3))):
        x = rng.standard_normal((2, 3, h, w)).astype(dtype)
        tol = 1e-6 if dtype == np.float32 else 1e-13
        for (mode, ac), kw in itertools.product(MODES, SIZES + [dict(scale_factor=0.3 * 3.7)]):
            try:
                want = tF.interpolate(torch.tensor(x), mode=mode, align_corners=ac, **kw).numpy()
            except RuntimeError:                         # an empty output: both refuse
                with pytest.raises(ValueError, match="must be positive"):
                    F.interpolate(tinygan.tensor(x), mode=mode, align_corners=ac, **kw)
                continue
            got = F.interpolate(tinygan.tensor(x), mode=mode, align_corners=ac, **kw)
            assert got.shape == want.shape, (mode, ac, kw)
            np.testing.assert_allclose(got.data, want, rtol=tol, atol=tol, err_msg=f"{mode} {ac} {kw}")
    # The gradient too (the adjoint of the interpolation matrices).
    x = rng.standard_normal((1, 2, 5, 4))
    gy = rng.standard_normal((1, 2, 7, 9))
    for mode, ac in MODES:
        xt = torch.tensor(x, requires_grad=True)
        tF.interpolate(xt, size=(7, 9), mode=mode, align_corners=ac).backward(torch.tensor(gy))
        xg = tinygan.tensor(x, requires_grad=True)
        (g,) = tinygan.grad(F.interpolate(xg, size=(7, 9), mode=mode, align_corners=ac), xg,
                            tinygan.tensor(gy))
        np.testing.assert_allclose(g.data, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
