"""Every fast kernel against its plain twin in tinygan/kernels/reference.py.

Over a grid of shapes, thread counts (1, 2, 3: one, even and uneven shares) and, for
the convolution, both memory layouts, the width-only im2col, one sample per chunk and
the sub-pixel input gradient.  Thresholds are lowered so that small arrays are split too.

Tolerances follow from the arithmetic (tests/tolerances.py):
* an elementwise op computes each element with the same correctly rounded operations in
  both -- equal bits, asserted exactly (the slope mask, 1 * (1 - a) + a, is the exception:
  two roundings of a number <= 1, so within eps);
* a sum of n terms (a channel sum, a matrix product, a convolution, batch norm's
  statistics) differs by at most ``n * eps * sum |term|`` (Higham sec. 3.1), times FACTOR;
  the references run in float64, so the bound is for the float32 kernel's own rounding;
* across thread counts an elementwise kernel gives equal bits (tinygan's promise:
  same machine, each element computed the same way whatever the split).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygan.kernels import adam, batch_norm, elementwise, im2col, matmul, reference, threads
from tinygan.kernels.im2col import Geometry

from tolerances import assert_within, eps, product_tolerance, sum_tolerance

THREADS = (1, 2, 3)


@pytest.fixture(params=THREADS, ids=lambda n: f"threads{n}")
def split(request, monkeypatch):
    """n threads, and every kernel split however small its arrays; restored afterwards."""
    before = threads.get_num_threads()
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    monkeypatch.setattr(matmul, "GEMM_SPLIT_MIN", 1)
    threads.set_num_threads(request.param)
    yield request.param
    threads.set_num_threads(before)


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % (1 << 32))


SHAPES = [(7,), (5, 3), (4, 3, 5, 5), (3, 8, 6, 7)]


# -- elementwise: equal bits ---------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("ufunc", [np.add, np.subtract, np.multiply], ids=lambda u: u.__name__)
def test_binary_is_the_ufunc(split, shape, ufunc):
    rng = _rng(shape)
    a = rng.standard_normal(shape).astype(np.float32)
    for b in (rng.standard_normal(shape).astype(np.float32),              # same shape
              rng.standard_normal(shape[-1:]).astype(np.float32),         # broadcast along rows
              rng.standard_normal((1,) + shape[1:]).astype(np.float32)):  # broadcast along axis 0
        np.testing.assert_array_equal(elementwise.binary(ufunc, a, b), reference.binary(ufunc, a, b))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0])
def test_activations_and_masks(split, shape, slope):
    rng = _rng(shape, slope)
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[:2] = 0.0                                   # the kink: taken as "not > 0"
    gy = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(elementwise.relu(x), reference.relu(x))
    np.testing.assert_array_equal(elementwise.leaky_relu(x, slope), reference.leaky_relu(x, slope))
    # 1 * (1 - a) + a: two roundings of a value <= 1
    assert_within(elementwise.slope_mask(x, np.float32, slope),
                  reference.slope_mask(x, np.float32, slope), eps(np.float32), "slope mask")
    # and one more rounding, of the product with gy
    assert_within(elementwise.gy_times_slope(gy, x, slope), reference.gy_times_slope(gy, x, slope),
                  2 * eps(np.float32) * np.abs(gy), "gy * slope")


@pytest.mark.parametrize("shape", SHAPES[2:], ids=str)
def test_add_channel_bias(split, shape):
    rng = _rng(shape)
    y = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    expected = reference.add_channel_bias(y, b)
    np.testing.assert_array_equal(elementwise.add_channel_bias_(y.copy(), b), expected)


def test_elementwise_bits_do_not_depend_on_threads(monkeypatch):
    """Same machine, each element computed the same way: 1, 2 and 3 threads give equal bits."""
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    before = threads.get_num_threads()
    x = _rng("bits").standard_normal((5, 4, 6, 6)).astype(np.float32)
    out = []
    try:
        for n in THREADS:
            threads.set_num_threads(n)
            out.append([elementwise.leaky_relu(x, 0.2), elementwise.slope_mask(x, np.float32, 0.2),
                        elementwise.binary(np.multiply, x, x)])
    finally:
        threads.set_num_threads(before)
    for other in out[1:]:
        for a, b in zip(out[0], other):
            np.testing.assert_array_equal(a, b)


# -- sums: within the rounding bound -------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES[2:], ids=str)
def test_channel_sums(split, shape):
    x = _rng(shape).standard_normal(shape).astype(np.float32)
    n = x.size // shape[1]
    assert_within(elementwise.channel_sums(x), reference.channel_sums(x.astype(np.float64)),
                  sum_tolerance(reference.channel_sums(np.abs(x).astype(np.float64)), n, np.float32),
                  "channel sums")


@pytest.mark.parametrize("m,k,n", [(7, 5, 3), (3, 9, 11), (16, 1, 6), (33, 17, 4)])
def test_product(split, m, k, n):
    rng = _rng(m, k, n)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    assert_within(matmul.product(a, b), reference.product(a.astype(np.float64), b.astype(np.float64)),
                  product_tolerance(a, b), "product")


# -- convolution ---------------------------------------------------------------------------
#          N, C, H, W, O, k, stride, padding, dilation, groups
CONVS = [(2, 1, 7, 7, 4, 3, 1, 1, 1, 1),         # one channel: channels first
         (3, 8, 8, 8, 16, 4, 2, 1, 1, 1),        # a DCGAN layer: channels last, sub-pixel gx
         (2, 9, 9, 7, 8, 3, 1, 1, 1, 1),         # stride 1: width-only im2col
         (2, 8, 9, 9, 8, 3, 1, 2, 2, 1),         # dilation 2, stride 1
         (2, 8, 10, 9, 8, 3, 2, 2, 2, 1),        # dilation 2 and stride 2: col2im
         (3, 8, 7, 7, 10, (3, 2), (2, 1), (1, 0), 1, 1),   # unequal axes
         (2, 6, 6, 6, 4, 3, 1, 1, 1, 2)]         # groups: channels first


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("case", CONVS, ids=lambda c: "x".join(map(str, c)).replace(" ", ""))
def test_conv_maps(split, monkeypatch, case, layout):
    N, C, H, W, O, k, s, p, d, g = case
    (kh, kw), s, p, d = _pair(k), _pair(s), _pair(p), _pair(d)
    monkeypatch.setattr(im2col, "CHANNELS_LAST_MIN", 1 if layout == "channels_last" else 1 << 30)
    monkeypatch.setattr(im2col, "WIDTH_ONLY_MIN", 1)
    monkeypatch.setattr(im2col, "CHUNK", 1)                   # one sample per chunk
    rng = _rng(case, layout)
    Ho = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((O, C // g, kh, kw)).astype(np.float32)
    gy = rng.standard_normal((N, O, Ho, Wo)).astype(np.float32)
    geo = Geometry(x.shape, w.shape, s, p, d, g, (Ho, Wo))
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    ax, aw, agy = np.abs(x64), np.abs(w64), np.abs(gy64)
    f32 = np.float32

    y, saved = im2col.conv(x, w, geo, keep=True)
    assert_within(y, reference.conv2d(x64, w64, s, p, d, g),
                  sum_tolerance(reference.conv2d(ax, aw, s, p, d, g), C // g * kh * kw, f32), "conv")
    for kept in (saved, None):     # the weight gradient from the forward's cols, and rebuilt
        assert_within(im2col.conv_weight(x, gy, geo, w.shape, kept),
                      reference.conv2d_weight(x64, gy64, w.shape, s, p, d, g),
                      sum_tolerance(reference.conv2d_weight(ax, agy, w.shape, s, p, d, g),
                                    N * Ho * Wo, f32), "conv_weight")
    assert_within(im2col.conv_input(gy, w, geo), reference.conv2d_input(gy64, w64, x.shape, s, p, d, g),
                  sum_tolerance(reference.conv2d_input(agy, aw, x.shape, s, p, d, g),
                                O // g * kh * kw, f32), "conv_input")


def test_im2col_twin_against_the_definition():
    """The twin itself, against the definition written as loops over every index."""
    rng = _rng("def")
    x = rng.standard_normal((2, 3, 6, 5))
    s, p, d, kh, kw = (2, 1), (1, 2), (1, 2), 3, 2
    cols = reference.im2col(x, kh, kw, s, p, d)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    for n, c, i, j, ho, wo in itertools.product(*map(range, cols.shape)):
        assert cols[n, c, i, j, ho, wo] == xp[n, c, ho * s[0] + i * d[0], wo * s[1] + j * d[1]]
    # col2im is im2col's adjoint: <im2col(x), c> = <x, col2im(c)>
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.vdot(cols, c), np.vdot(x, reference.col2im(c, x.shape, s, p, d)), rtol=1e-12)


# -- batch norm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (5, 3, 7), (4, 6, 5, 5), (7, 2, 3, 4)], ids=str)
def test_batch_norm(split, shape):
    """Sums of count = N * L terms: mu within count eps mean|x|, the variance within
    count eps mean(d^2) plus what mu's error moves it; y, dx are then first-order functions
    of those.  Bounded as a few roundings of each term, scaled by the sums' bound."""
    rng = _rng(shape)
    c = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    w, b = rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    shape1 = (1, -1) + (1,) * (x.ndim - 2)
    y, mean, var, inv_std = batch_norm.forward(x, w.reshape(shape1), b.reshape(shape1), 1e-5)
    y_r, mean_r, var_r, inv_std_r = reference.batch_norm_forward(
        x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1e-5)
    count = x.size // c
    u = count * eps(np.float32) * 2                           # relative bound of a sum's rounding
    axes = (0,) + tuple(range(2, x.ndim))
    assert_within(mean, mean_r, u * np.abs(x).mean(axis=axes, keepdims=True), "mean")
    assert_within(var, var_r, 2 * u * var_r, "var")
    xhat = (x - mean_r) * inv_std_r
    shape1 = (1, -1) + (1,) * (x.ndim - 2)
    # d xhat = -dmu inv_std - xhat dvar / (2 (var + eps)) + a few roundings of xhat
    t_xhat = u * (np.abs(x).mean(axis=axes, keepdims=True) * inv_std_r + np.abs(xhat)) + 4 * eps(np.float32) * np.abs(xhat)
    assert_within(y, y_r, np.abs(w.reshape(shape1)) * t_xhat + 2 * eps(np.float32) * np.abs(y_r), "y")

    gx, gw, gb = batch_norm.backward(x, gy, w, mean, inv_std)
    gx_r, gw_r, gb_r = reference.batch_norm_backward(x.astype(np.float64), gy.astype(np.float64),
                                                     w.astype(np.float64), mean_r, inv_std_r)
    m_abs = np.abs(gy).mean(axis=axes, keepdims=True)
    t_mean_gxhat = u * (np.abs(gy) * np.abs(xhat)).mean(axis=axes, keepdims=True) + m_abs * t_xhat.max(axis=axes, keepdims=True)
    t_gx = np.abs(w.reshape(shape1)) * inv_std_r * (
        u * m_abs + np.abs(xhat) * t_mean_gxhat + t_xhat * np.abs((gy * xhat).mean(axis=axes, keepdims=True))
        + 4 * eps(np.float32) * (np.abs(gy) + m_abs)) + 2 * u * np.abs(gx_r)
    assert_within(gx, gx_r, t_gx, "dx")
    assert_within(gw, gw_r, count * t_mean_gxhat.reshape(c) + u * np.abs(gw_r), "dgamma")
    assert_within(gb, gb_r, sum_tolerance(np.abs(gy).sum(axis=axes), count, np.float32), "dbeta")


# -- Adam ----------------------------------------------------------------------------------
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("shape", [(5,), (7, 3), (4, 3, 3, 3)], ids=str)
def test_adam(split, shape, amsgrad):
    """Three steps against Algorithm 1.  The kernel arranges the step as PyTorch does (the
    bias corrections as one factor on m and a sqrt of one), the same quantities with other
    roundings: each moment within a few eps of itself, the step within ~10 eps relative."""
    rng = _rng(shape, amsgrad)
    p = rng.standard_normal(shape).astype(np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    vmax = np.zeros_like(p) if amsgrad else None
    pr, mr, vr = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    vmaxr = None if vmax is None else vmax.astype(np.float64)
    hyper = dict(lr=1e-2, beta1=0.5, beta2=0.999, eps=1e-8)
    for t in (1, 2, 3):
        g = rng.standard_normal(shape).astype(np.float32)
        before = pr
        adam.update_(p, g, m, v, vmax, step=t, **hyper)
        pr, mr, vr, vmaxr = reference.adam_update(pr, g.astype(np.float64), mr, vr, vmaxr, step=t, **hyper)
        f = eps(np.float32)
        assert_within(m, mr, 4 * t * f * (np.abs(mr) + np.abs(g)), "m")
        assert_within(v, vr, 4 * t * f * (np.abs(vr) + g * g), "v")
        # p moves by lr * m^ / (sqrt(v^) + eps) <= about lr per step; its rounding error
        # accumulates over the steps, plus the rounding of p itself
        assert_within(p, pr, t * (10 * f * hyper["lr"] * 4 + 2 * f * np.abs(pr)), f"p at step {t}")
        assert np.all(np.abs(pr - before) <= 4 * hyper["lr"])
