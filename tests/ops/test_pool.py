"""tinygan.ops.pool: avg_pool2d and max_pool2d.

Forward against a NumPy reference that walks the output pixels one by one (the
way PyTorch's CPU kernels do), over kernel / stride / padding / dilation /
ceil_mode / count_include_pad; first and second derivatives in float64; the
indices max_pool2d returns; and the argument errors.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradcheck, gradgradcheck


def _out(n, k, s, p, d, ceil_mode):
    if ceil_mode:
        o = -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
        return o - 1 if (o - 1) * s >= n + p else o
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _np_avg_pool(x, k, s, p, ceil_mode, count_include_pad):
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, ph, 1, ceil_mode), _out(w, kw, sw, pw, 1, ceil_mode)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            size = (h1 - h0) * (w1 - w0)                 # includes padding, not the overhang
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            div = size if count_include_pad else (h1 - h0) * (w1 - w0)
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return y


def _np_max_pool(x, k, s, p, d, ceil_mode):
    """Returns (values, indices h * W + w); the first maximum of each window wins.

    As PyTorch's CPU kernel: start from the window's first cell inside the input, then take
    any later cell that is larger (or NaN).
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = k, s, p, d
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, ph, dh, ceil_mode), _out(w, kw, sw, pw, dw, ceil_mode)
    y, idx = np.full((n, c, oh, ow), -np.inf), np.zeros((n, c, oh, ow), dtype=np.int64)
    for b, ch, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        first = True
        for a, e in itertools.product(range(kh), range(kw)):
            r, q = i * sh - ph + a * dh, j * sw - pw + e * dw
            if not (0 <= r < h and 0 <= q < w):
                continue
            v = x[b, ch, r, q]
            if first or v > y[b, ch, i, j] or np.isnan(v):
                y[b, ch, i, j], idx[b, ch, i, j] = v, r * w + q
            first = False
    return y, idx


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# kernel, stride, padding, ceil_mode
AVG_CASES = [(2, None, 0, False), (3, 1, 1, False), (3, 2, 1, True), ((2, 3), (1, 2), (1, 0), False),
             (3, 2, 0, True), (1, 1, 0, False), (2, 3, 1, True)]


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", AVG_CASES, ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("hw", [(5, 6), (7, 4)], ids=str)
def test_avg_pool2d_forward(kernel, stride, padding, ceil_mode, count_include_pad, hw, rng, close):
    x = rng.standard_normal((2, 3) + hw)
    y = F.avg_pool2d(tinygan.tensor(x), kernel, stride, padding, ceil_mode, count_include_pad)
    s = kernel if stride is None else stride
    close(y, _np_avg_pool(x, _pair(kernel), _pair(s), _pair(padding), ceil_mode, count_include_pad))


def test_avg_pool2d_divisor_override_and_unbatched(rng, close):
    x = rng.standard_normal((2, 4, 4))
    y = F.avg_pool2d(tinygan.tensor(x), 2, divisor_override=3)
    close(y, _np_avg_pool(x[None], (2, 2), (2, 2), (0, 0), False, True)[0] * 4 / 3)


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", AVG_CASES[:5], ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_grads(kernel, stride, padding, ceil_mode, count_include_pad, make, check_grads):
    x = make(1, 2, 4, 5)
    check_grads(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad), x)


# kernel, stride, padding, dilation, ceil_mode
MAX_CASES = [(2, None, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 2, False),
             ((2, 3), (2, 1), (1, 1), (2, 1), False), (3, 2, 1, 2, True), (2, 2, 1, 1, True)]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_CASES, ids=str)
@pytest.mark.parametrize("hw", [(5, 6), (7, 4)], ids=str)
def test_max_pool2d_forward_and_indices(kernel, stride, padding, dilation, ceil_mode, hw, rng, close):
    x = rng.standard_normal((2, 3) + hw)
    y, idx = F.max_pool2d(tinygan.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                          return_indices=True)
    s = kernel if stride is None else stride
    ref, ref_idx = _np_max_pool(x, _pair(kernel), _pair(s), _pair(padding), _pair(dilation), ceil_mode)
    close(y, ref)
    assert idx.dtype == np.int64
    # exact: max pooling selects; indices are integers
    np.testing.assert_array_equal(idx.data, ref_idx)


def test_max_pool2d_ties_go_to_the_first_and_gradient_to_the_argmax(close):
    x = tinygan.tensor(np.array([[[[1.0, 3.0, 3.0], [0.0, 3.0, 2.0], [5.0, 5.0, -1.0]]]]),
                       requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)                           # overlapping windows
    close(y, [[[[3.0, 3.0], [5.0, 5.0]]]])
    (g,) = tinygan.grad(y, x, tinygan.tensor(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])))
    # Windows (0, 0) and (0, 1) both pick x[0, 1] (the first of the tied 3s): their gradients
    # add up there.  Window (1, 0) picks x[2, 0], window (1, 1) x[2, 1].
    close(g, [[[[0.0, 11.0, 0.0], [0.0, 0.0, 0.0], [100.0, 1000.0, 0.0]]]])


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_CASES, ids=str)
def test_max_pool2d_nan_and_minus_inf(kernel, stride, padding, dilation, ceil_mode, rng, close):
    """NaN wins its window (the last NaN, as PyTorch's CPU kernel); a window of -inf points at
    its first cell inside the input."""
    x = np.full((1, 2, 6, 5), -np.inf)
    x[0, 0, 2, 3] = 1.0
    x[0, 1, 1, 1] = x[0, 1, 1, 2] = x[0, 1, 2, 1] = np.nan      # with several NaNs the last wins
    x[0, 1, 4, 4] = 2.0
    y, idx = F.max_pool2d(tinygan.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                          return_indices=True)
    s = kernel if stride is None else stride
    ref, ref_idx = _np_max_pool(x, _pair(kernel), _pair(s), _pair(padding), _pair(dilation), ceil_mode)
    # exact: max pooling selects; indices are integers
    np.testing.assert_array_equal(y.data, ref)
    np.testing.assert_array_equal(idx.data, ref_idx)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_CASES[:6], ids=str)
def test_max_pool2d_grads(kernel, stride, padding, dilation, ceil_mode, make, check_grads):
    x = make(1, 2, 4, 5, kind="distinct")              # no ties: the max is differentiable
    check_grads(lambda x: F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode), x)


def test_max_pool2d_unbatched_and_float32(rng, close):
    x = rng.standard_normal((3, 4, 4)).astype(np.float32)
    y = F.max_pool2d(tinygan.tensor(x), 2)
    assert y.dtype == np.float32
    close(y, _np_max_pool(x[None].astype(np.float64), (2, 2), (2, 2), (0, 0), (1, 1), False)[0][0])


def test_pool_errors():
    x = tinygan.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half of the "
                                         r"effective kernel size, got padding=\(2, 2\), "
                                         r"kernel_size=\(2, 2\)"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: the output would be empty: input size 4 "
                                         r"with kernel 5"):
        F.avg_pool2d(x, 5)
    with pytest.raises(ValueError, match=r"avg_pool2d: stride must be positive"):
        F.avg_pool2d(x, 2, 0)
    with pytest.raises(ValueError, match=r"max_pool2d: expected input of shape \(N, C, H, W\) or "
                                         r"\(C, H, W\), got \(4, 4\)"):
        F.max_pool2d(tinygan.randn(4, 4), 2)
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel_size must be an int or a pair"):
        F.avg_pool2d(x, (2, 2, 2))


def test_pools_match_torch(rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = rng.standard_normal((2, 3, 7, 6))
    x[0, 0] = -np.inf                                   # windows with nothing but -inf
    x[1, 1, 2:5, 1:3] = np.nan
    for kernel, stride, padding, dilation, ceil_mode in MAX_CASES:
        got, got_idx = F.max_pool2d(tinygan.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                                    return_indices=True)
        want, want_idx = tF.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode,
                                       return_indices=True)
        # exact: max pooling selects; indices are integers
        np.testing.assert_array_equal(got.data, want.numpy())
        np.testing.assert_array_equal(got_idx.data, want_idx.numpy())
    x = rng.standard_normal((2, 3, 7, 6))
    for (kernel, stride, padding, ceil_mode), cip in itertools.product(AVG_CASES, (True, False)):
        got = F.avg_pool2d(tinygan.tensor(x), kernel, stride, padding, ceil_mode, cip)
        want = tF.avg_pool2d(torch.tensor(x), kernel, stride, padding, ceil_mode, cip)
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12, atol=1e-14)


# -- the fast path for non-overlapping blocks (kernel = stride, no padding) -------------------
@pytest.mark.parametrize("kernel", [2, (2, 3), 1])
def test_max_pool_blocks_matches_the_general_path(kernel):
    from tinygan.ops import pool
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    x[0, 0, :2, :2] = 1.5                      # a tied block: the first cell must win
    x[1, 2] = 0.0                              # a plane of zeros, as after a ReLU
    fast = F.max_pool2d(tinygan.tensor(x, requires_grad=True), kernel)
    assert isinstance(fast.grad_fn, pool.MaxPoolBlocks)
    general_y, index = F.max_pool2d(tinygan.tensor(x), kernel, return_indices=True)  # general path
    # exact: max pooling selects
    np.testing.assert_array_equal(fast.data, general_y.data)
    xt = tinygan.tensor(x, requires_grad=True)
    gy = rng.standard_normal(fast.shape)
    F.max_pool2d(xt, kernel).backward(tinygan.tensor(gy))
    expected = np.zeros(x.size)
    n, c = x.shape[:2]
    flat = (np.arange(n * c).reshape(n, c, 1, 1) * 36 + index.data).reshape(-1)
    np.add.at(expected, flat, gy.reshape(-1))
    # exact: each input cell gets the gradient of at most one window: nothing is added
    np.testing.assert_array_equal(xt.grad.data.reshape(-1), expected)
    assert xt.grad.data[0, 0, :2, :2].tolist() == [[gy[0, 0, 0, 0], 0.0], [0.0, 0.0]] or kernel != 2


@pytest.mark.parametrize("kernel", [2, (2, 3)])
def test_max_pool_blocks_gradients(kernel):
    rng = np.random.default_rng(1)
    x = tinygan.tensor(rng.permutation(72).reshape(1, 2, 6, 6) / 10.0, requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, kernel), (x,))
    assert gradgradcheck(lambda x: F.max_pool2d(x, kernel), (x,))
