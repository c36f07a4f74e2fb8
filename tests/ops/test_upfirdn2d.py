"""tinygan.ops.upfirdn2d: upfirdn2d, setup_filter, upsample2d, downsample2d, filter2d.

The forward pass is held against ``_literal``, the four steps written out as plainly as
they are said -- an np.zeros array with the input written at every up-th pixel, np.pad,
a crop by slicing, a double loop over the output pixels of a direct 2-D convolution, and
a strided slice -- computed in float64.  Gradients of first and second order against
central differences; the gradient against the adjoint identity <A x, y> = <x, A^T y>;
the helpers' shapes and meanings; errors; the twin's threaded path against one thread.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.kernels import threads
from tinygan.kernels import upfirdn2d as kernel

from tolerances import assert_within, sum_tolerance


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(p):
    if isinstance(p, int):
        return p, p, p, p
    return (p[0], p[0], p[1], p[1]) if len(p) == 2 else tuple(p)


def _literal(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """upfirdn2d in float64, step by step, in the most literal way."""
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    (ux, uy), (dx, dy) = _pair(up), _pair(down)
    x0, x1, y0, y1 = _pads(padding)
    n, c, h, w = x.shape
    # 1. zero insertion
    u = np.zeros((n, c, h * uy, w * ux))
    u[:, :, ::uy, ::ux] = x
    # 2. pad (the positive parts), then crop (the negative parts)
    u = np.pad(u, ((0, 0), (0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0))))
    u = u[:, :, max(-y0, 0):u.shape[2] - max(-y1, 0), max(-x0, 0):u.shape[3] - max(-x1, 0)]
    # 3. a true 2-D convolution (the filter reversed) unless flip_filter; a 1-D f is f f^T
    f2 = np.outer(f, f) if f.ndim == 1 else f
    kernel2 = f2 if flip_filter else f2[::-1, ::-1]
    kh, kw = kernel2.shape
    hv, wv = u.shape[2] - kh + 1, u.shape[3] - kw + 1
    v = np.zeros((n, c, hv, wv))
    for i in range(hv):
        for j in range(wv):
            v[:, :, i, j] = (u[:, :, i:i + kh, j:j + kw] * kernel2).sum(axis=(2, 3))
    # 4. keep every down-th pixel
    return v[:, :, ::dy, ::dx] * gain


F1 = [1.0, 3.0, 3.0, 1.0]
F_ODD = [0.5, -1.0, 2.0]                    # not symmetric: flipping it matters
F2 = np.array([[1.0, 2.0, -1.0], [0.5, 3.0, 1.5]])   # 2 x 3, not symmetric

CASES = [
    dict(),
    dict(up=2),
    dict(up=2, padding=(2, 1)),
    dict(up=4, padding=(3, 2, 1, 0)),
    dict(down=2),
    dict(down=2, padding=1),
    dict(up=2, down=2, padding=(1, 2, 2, 1)),
    dict(up=(2, 1), down=(1, 2), padding=(1, 0, 2, 3)),
    dict(padding=(-1, 2, 1, -2)),
    dict(up=2, padding=(-2, -1, 3, -3)),
    dict(up=4, down=2, padding=(-3, 1, 0, 2)),
    dict(down=2, padding=(-1, -1, 0, 0)),
    dict(flip_filter=True, up=2, padding=(1, 2, 0, 1)),
    dict(gain=2.5, down=2, padding=2),
    dict(up=(1, 4), down=(2, 1), padding=(3, 0, 0, 3), flip_filter=True, gain=-0.5),
]
FILTERS = {"binomial": F1, "odd": F_ODD, "2d": F2, "one": [[1.0]],
           "binomial 2d": np.outer(F1, F1).tolist()}   # an outer product: two 1-D passes on a CPU


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("fname", list(FILTERS))
@pytest.mark.parametrize("shape", [(2, 1, 5, 7), (1, 3, 6, 6)], ids=str)
def test_forward_float64(case, fname, shape, rng, close):
    x = rng.standard_normal(shape)
    f = np.asarray(FILTERS[fname])
    try:
        expected = _literal(x, f, **case)
    except ValueError:
        pytest.fail("a case whose padded input is smaller than the filter")
    y = F.upfirdn2d(tinygan.tensor(x), f, **case)
    close(y, expected, rtol=1e-12, atol=1e-12, dtype=np.float64)


@pytest.mark.parametrize("case", CASES[:8], ids=str)
@pytest.mark.parametrize("fname", ["binomial", "2d"])
def test_forward_float32(case, fname, rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    f = np.asarray(FILTERS[fname])
    y = F.upfirdn2d(tinygan.tensor(x), f, **case)
    assert y.dtype == np.float32
    expected = _literal(x, f, **case)
    # each output is a sum of at most kh*kw products, then two roundings (the gain, a pass)
    magnitude = np.abs(_literal(np.abs(x), np.abs(f), **case))
    k = f.size if f.ndim == 2 else f.size ** 2
    assert_within(y.data, expected, sum_tolerance(magnitude, k + 2, np.float32), "upfirdn2d f32")


def test_forward_matches_a_slow_gather():
    """Rule (1) of kernels/upfirdn2d.py by brute force: every output, every tap, in Python."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 4, 5))
    g = rng.standard_normal(3)
    for (u, d, p0, p1) in itertools.product([1, 2, 3], [1, 2, 3], [-2, 0, 3], [-1, 2]):
        n_out = kernel.out_size(5, u, d, p0, p1, 3)
        if n_out < 1:
            continue
        y = F.upfirdn2d(tinygan.tensor(x), g, up=(u, 1), down=(d, 1), padding=(p0, p1, 1, 1),
                        flip_filter=True).numpy()
        for o in range(n_out):
            for row in range(y.shape[2]):
                want = 0.0
                for ty in range(3):
                    iy = row + ty - 1
                    if not 0 <= iy < 4:
                        continue
                    for tx in range(3):
                        m = o * d + tx - p0
                        if m % u == 0 and 0 <= m // u < 5:
                            want += g[ty] * g[tx] * x[0, 0, iy, m // u]
                assert abs(y[0, 0, row, o] - want) < 1e-12, (u, d, p0, p1, o, row)


@pytest.mark.parametrize("case", [CASES[i] for i in (1, 3, 5, 6, 9, 10, 12, 14)], ids=str)
@pytest.mark.parametrize("fname", ["odd", "2d"])
def test_grads(case, fname, make, check_grads):
    x = make(1, 2, 4, 5)
    f = np.asarray(FILTERS[fname])
    check_grads(lambda x: F.upfirdn2d(x, f, **case), x)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("fname", ["odd", "2d"])
def test_gradient_is_the_adjoint(case, fname, rng):
    """<upfirdn(x), v> == <x, gradient at v>, with the gradient built by upfirdn2d itself."""
    f = np.asarray(FILTERS[fname])
    x = tinygan.tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    y = F.upfirdn2d(x, f, **case)
    v = rng.standard_normal(y.shape)
    (gx,) = tinygan.grad(y, x, grad_outputs=tinygan.tensor(v))
    assert gx.shape == x.shape
    lhs, rhs = float((y.data * v).sum()), float((x.data * gx.data).sum())
    scale = float((np.abs(_literal(np.abs(x.data), np.abs(f), **case)) * np.abs(v)).sum())
    assert abs(lhs - rhs) <= 1e-13 * scale, (lhs, rhs)
    # and the adjoint itself is the matrix transpose: column by column on a small input
    x1 = np.zeros((1, 1, 5, 6))
    small = tinygan.tensor(x1, requires_grad=True)
    ys = F.upfirdn2d(small, f, **case)
    w = rng.standard_normal(ys.shape)
    (g1,) = tinygan.grad(ys, small, grad_outputs=tinygan.tensor(w))
    for i, j in itertools.product(range(5), range(6)):
        e = np.zeros_like(x1)
        e[0, 0, i, j] = 1.0
        col = _literal(e, f, **case)
        assert abs(g1.data[0, 0, i, j] - (col * w).sum()) < 1e-12


def test_third_derivative_runs_through_upfirdn2d(rng):
    """Derivatives of any order are upfirdn2d again: with A the map, grad(<A x, v>, x) = A^T v,
    its derivative in v along u is A u, and the derivative of that in u along w is A^T w."""
    f = np.asarray(F_ODD)
    x = tinygan.tensor(rng.standard_normal((1, 1, 4, 5)), requires_grad=True)
    case = dict(up=2, down=2, padding=(2, -1, 1, 0))
    y = F.upfirdn2d(x, f, **case)
    v = tinygan.tensor(rng.standard_normal(y.shape), requires_grad=True)
    (gx,) = tinygan.grad(y, x, grad_outputs=v, create_graph=True)
    u = tinygan.tensor(rng.standard_normal(x.shape), requires_grad=True)
    (gv,) = tinygan.grad(gx, v, grad_outputs=u, create_graph=True)
    np.testing.assert_allclose(gv.data, _literal(u.data, f, **case), rtol=1e-12, atol=1e-12)
    assert type(gv.grad_fn).__name__ == "Upfirdn2d"      # recorded: differentiable once more
    w = rng.standard_normal(gv.shape)
    (gu,) = tinygan.grad(gv, u, grad_outputs=tinygan.tensor(w))
    (gx_again,) = tinygan.grad(F.upfirdn2d(x, f, **case), x, grad_outputs=tinygan.tensor(w))
    np.testing.assert_allclose(gu.data, gx_again.data, rtol=1e-12, atol=1e-12)


# -- setup_filter and the helpers ------------------------------------------------------------
def test_setup_filter():
    f = F.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == np.float32 and not f.requires_grad
    np.testing.assert_allclose(f.numpy(), np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64, rtol=1e-7)
    sep = F.setup_filter([1, 3, 3, 1], separable=True, gain=4)
    np.testing.assert_allclose(sep.numpy(), np.array([1, 3, 3, 1]) / 8 * 2, rtol=1e-7)
    long = F.setup_filter(np.ones(8))
    assert long.shape == (8,)                      # 8 or more taps: separable by default
    np.testing.assert_allclose(long.numpy(), np.ones(8) / 8, rtol=1e-7)
    flipped = F.setup_filter(F2, normalize=False, flip_filter=True, gain=2)
    np.testing.assert_allclose(flipped.numpy(), F2[::-1, ::-1] * 2, rtol=1e-7)
    assert F.setup_filter(None).shape == (1, 1)
    assert F.setup_filter(3.0).numpy().tolist() == [[1.0]]


@pytest.mark.parametrize("up", [1, 2, 4, (2, 1), (1, 4)], ids=str)
@pytest.mark.parametrize("f", [[1, 3, 3, 1], [1, 2, 1], F2], ids=["b4", "b3", "2d"])
def test_upsample2d(up, f, rng, close):
    x = rng.standard_normal((2, 3, 5, 6))
    y = F.upsample2d(tinygan.tensor(x), f, up=up)
    ux, uy = _pair(up)
    assert y.shape == (2, 3, 5 * uy, 6 * ux)
    f = np.asarray(f, dtype=np.float64)
    kw, kh = (f.shape[0], f.shape[0]) if f.ndim == 1 else (f.shape[1], f.shape[0])
    pad = ((kw + ux - 1) // 2, (kw - ux) // 2, (kh + uy - 1) // 2, (kh - uy) // 2)
    close(y, _literal(x, f, up=up, padding=pad, gain=ux * uy))


def test_upsample2d_keeps_a_constant_image():
    """A normalized filter and the gain up**2 give back a constant image in the interior."""
    x = tinygan.tensor(np.full((1, 1, 6, 6), 3.0))
    y = F.upsample2d(x, F.setup_filter([1, 3, 3, 1]), up=2)
    np.testing.assert_allclose(y.numpy()[0, 0, 2:-2, 2:-2], 3.0, rtol=1e-6)


@pytest.mark.parametrize("down", [2, (2, 1), 4], ids=str)
@pytest.mark.parametrize("f", [[1, 3, 3, 1], [1, 2, 1], F2], ids=["b4", "b3", "2d"])
def test_downsample2d(down, f, rng, close):
    x = rng.standard_normal((1, 2, 8, 8))
    y = F.downsample2d(tinygan.tensor(x), f, down=down, padding=(1, 0, 0, 1))
    dx, dy = _pair(down)
    f = np.asarray(f, dtype=np.float64)
    kw, kh = (f.shape[0], f.shape[0]) if f.ndim == 1 else (f.shape[1], f.shape[0])
    pad = (1 + (kw - dx + 1) // 2, (kw - dx) // 2, (kh - dy + 1) // 2, 1 + (kh - dy) // 2)
    close(y, _literal(x, f, down=down, padding=pad))
    assert F.downsample2d(tinygan.tensor(x), f, down=down).shape == (1, 2, 8 // dy, 8 // dx)


@pytest.mark.parametrize("f", [[1, 3, 3, 1], [1, 2, 1], F2], ids=["b4", "b3", "2d"])
def test_filter2d(f, rng, close):
    x = rng.standard_normal((1, 2, 5, 7))
    y = F.filter2d(tinygan.tensor(x), f, gain=2)
    assert y.shape == x.shape
    f = np.asarray(f, dtype=np.float64)
    kw, kh = (f.shape[0], f.shape[0]) if f.ndim == 1 else (f.shape[1], f.shape[0])
    close(y, _literal(x, f, padding=(kw // 2, (kw - 1) // 2, kh // 2, (kh - 1) // 2), gain=2))


def test_helpers_grads(make, check_grads):
    x = make(1, 1, 4, 3)
    f = F.setup_filter([1, 3, 3, 1]).numpy().astype(np.float64)
    check_grads(lambda x: F.upsample2d(x, f), x)
    check_grads(lambda x: F.downsample2d(x, [1, 2, 1], down=(1, 2)), x)
    check_grads(lambda x: F.filter2d(x, F2, padding=(0, 1, 1, -1)), x)


# -- errors ------------------------------------------------------------------------------------
X = tinygan.randn(1, 2, 3, 3)
ERRORS = [
    (lambda: F.upfirdn2d(X, np.ones((5, 5))), ValueError,
     r"upfirdn2d: the filter of size \(kh, kw\) = \(5, 5\) is larger than the upsampled and "
     r"padded input \(3, 3\) \(x of shape \(1, 2, 3, 3\)"),
    (lambda: F.upfirdn2d(X, np.ones(4), padding=(-1, 0, 0, 0)), ValueError,
     r"upfirdn2d: the filter .* \(4, 4\) is larger .* input \(3, 2\)"),
    (lambda: F.upfirdn2d(X, [1.0], up=0), ValueError, r"upfirdn2d: up must be positive, got 0"),
    (lambda: F.upfirdn2d(X, [1.0], down=(1, -2)), ValueError,
     r"upfirdn2d: down must be positive, got \(1, -2\)"),
    (lambda: F.upfirdn2d(X, [1.0], up=1.5), TypeError,
     r"upfirdn2d: up must be an int or a pair of ints, got 1.5"),
    (lambda: F.upfirdn2d(X, [1.0], padding=(1, 2, 3)), ValueError,
     r"upfirdn2d: padding must be an int, \(x, y\) or \(x0, x1, y0, y1\), got \(1, 2, 3\)"),
    (lambda: F.upfirdn2d(X, np.ones((1, 1, 3))), ValueError,
     r"upfirdn2d: the filter f must be a non-empty 1-D .* shape \(1, 1, 3\)"),
    (lambda: F.upfirdn2d(X, np.ones(0)), ValueError,
     r"upfirdn2d: the filter f must be a non-empty .* shape \(0,\)"),
    (lambda: F.upfirdn2d(tinygan.randn(2, 3, 3), [1.0]), ValueError,
     r"upfirdn2d: expected x of shape \(N, C, H, W\), got \(2, 3, 3\)"),
    (lambda: F.upfirdn2d(X, tinygan.ones(3, requires_grad=True)), ValueError,
     r"upfirdn2d: the filter f is a constant"),
    (lambda: F.upfirdn2d(X, [1.0], gain="2"), TypeError, r"upfirdn2d: gain must be a real number"),
    (lambda: F.upsample2d(X, np.ones((9, 9)), padding=-5), ValueError,
     r"upsample2d: the filter of size .* larger than .* \(in upfirdn2d\)"),
    (lambda: F.downsample2d(X, [1, 1], down=0), ValueError, r"downsample2d: down must be positive"),
    (lambda: F.setup_filter([1, -1]), ValueError,
     r"setup_filter: can't normalize a filter whose taps sum to 0"),
    (lambda: F.setup_filter(F2, separable=True), ValueError,
     r"setup_filter: separable=True needs a 1-D filter, got shape \(2, 3\)"),
]


@pytest.mark.parametrize("call,error,message", ERRORS, ids=[m[:48] for _, _, m in ERRORS])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- the twin: threads and chunks ----------------------------------------------------------
@pytest.mark.parametrize("fname", ["binomial", "2d"])
@pytest.mark.parametrize("case", [dict(up=2), dict(down=2, padding=1),
                                  dict(up=(4, 2), down=(1, 2), padding=(-1, 3, 2, 0))], ids=str)
def test_threaded_twin_equals_one_thread(fname, case, rng, monkeypatch):
    """Large enough for several chunks per thread; every size split over the pool."""
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    x = rng.standard_normal((6, 37, 24, 20)).astype(np.float32)
    f = np.asarray(FILTERS[fname], dtype=np.float32)
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        one = F.upfirdn2d(tinygan.tensor(x), f, **case).numpy()
        threads.set_num_threads(3)
        many = F.upfirdn2d(tinygan.tensor(x), f, **case).numpy()
    finally:
        threads.set_num_threads(before)
    # exact: each output element gets the same products added in the same tap order on any
    # split of the planes -- IEEE multiply and add round each element the same way
    np.testing.assert_array_equal(many, one)
    magnitude = np.abs(_literal(np.abs(x[:1, :2]), np.abs(f), **case))
    k = f.size if f.ndim == 2 else f.size ** 2
    assert_within(one[:1, :2], _literal(x[:1, :2], f, **case),
                  sum_tolerance(magnitude, k + 2, np.float32), "threaded twin vs literal")
