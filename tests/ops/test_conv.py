"""conv2d and conv_transpose2d: forward against direct NumPy loops, first and second derivatives.

Both layouts of kernels/im2col.py are exercised (channels first for few channels or groups,
channels last from CHANNELS_LAST_MIN channels on), and so are its other paths: the input
gradient as a stride-1 convolution of gy (sub-pixel / flipped kernel) or through col2im,
the width-only im2col of stride-1 rows, the forward's work kept for the weight gradient,
and chunking of the batch.
"""
import itertools

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.kernels import im2col
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, sum_tolerance


def conv2d_reference(x, w, b, stride, padding, dilation, groups):
    """Direct definition: y[n, o, p, q] = sum_{c, i, j} x_pad[n, c, p*s + i*d, q*s + j*d] w[o, c, i, j]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    og = O // groups
    for o in range(O):
        g = o // og
        for p in range(Ho):
            for q in range(Wo):
                patch = xp[:, g * Cg:(g + 1) * Cg, p * sh:p * sh + dh * (kh - 1) + 1:dh,
                           q * sw:q * sw + dw * (kw - 1) + 1:dw]
                y[:, o, p, q] = (patch * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_transpose2d_reference(x, w, b, stride, padding, output_padding, groups, dilation):
    """Direct definition: every input pixel scatters x * w into the (uncropped) output."""
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, padding, output_padding, dilation
    N, Cin, H, W = x.shape
    _, Og, kh, kw = w.shape
    Ho = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1
    Wo = (W - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1
    full = np.zeros((N, Og * groups, Ho + 2 * ph, Wo + 2 * pw))
    cg = Cin // groups
    for c in range(Cin):
        g = c // cg
        for p in range(H):
            for q in range(W):
                for i in range(kh):
                    for j in range(kw):
                        r, s = p * sh + i * dh, q * sw + j * dw
                        if r < full.shape[2] and s < full.shape[3]:
                            full[:, g * Og:(g + 1) * Og, r, s] += x[:, c, p, q][:, None] * w[c, :, i, j]
    y = full[:, :, ph:ph + Ho, pw:pw + Wo]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def pair(v):
    return (v, v) if isinstance(v, int) else v


# (in channels, out channels, kernel, stride, padding, dilation, groups, H, W)
CONV_CASES = [
    (2, 3, 3, 1, 0, 1, 1, 5, 6),
    (2, 4, 3, 2, 1, 1, 2, 6, 5),
    (3, 2, 1, 1, 0, 1, 1, 4, 4),
    (2, 2, 4, 2, 1, 1, 1, 8, 7),
    (2, 3, 3, 1, 2, 2, 1, 5, 5),
    (4, 4, (3, 2), (2, 1), (1, 0), (1, 2), 2, 6, 6),
    (8, 3, 3, 1, 1, 1, 1, 5, 5),          # channels last
    (8, 4, 4, 2, 1, 1, 1, 6, 6),          # channels last, the DCGAN kind of layer
    (9, 2, (1, 3), (1, 2), (0, 2), (2, 1), 1, 5, 7),   # channels last, non-square everything
    (8, 3, (3, 2), (2, 1), (1, 0), (1, 2), 1, 6, 6),   # input gradient: sub-pixel rows, dilated flipped columns
    (8, 4, 4, 2, 0, 1, 1, 7, 8),          # the last input row is read by no window
    (8, 2, 1, 1, 1, 1, 1, 4, 4),          # padding wider than the kernel: sub-pixel with s = 1
    (8, 2, 1, 1, 1, 2, 1, 4, 4),          # ... and dilated: the input gradient takes col2im
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_forward_and_gradients(case, rng):
    cin, cout, k, s, p, d, g, H, W = case
    kh, kw = pair(k)
    x = rng.standard_normal((2, cin, H, W))
    w = rng.standard_normal((cout, cin // g, kh, kw))
    b = rng.standard_normal(cout)
    y = F.conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(b), s, p, d, g)
    ref = conv2d_reference(x, w, b, pair(s), pair(p), pair(d), g)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-10)
    xt, wt, bt = (tinygan.tensor(a, requires_grad=True) for a in (x[:1], w, b))
    f = lambda x, w, b: F.conv2d(x, w, b, s, p, d, g)  # noqa: E731
    assert gradcheck(f, (xt, wt, bt))
    assert gradgradcheck(f, (xt, wt, bt))


# (in channels, out channels, kernel, stride, padding, output_padding, groups, dilation, H, W)
CONVT_CASES = [
    (2, 3, 3, 1, 0, 0, 1, 1, 4, 3),
    (2, 2, 4, 2, 1, 0, 1, 1, 3, 4),
    (2, 2, 4, 2, 1, 1, 1, 1, 3, 3),
    (4, 2, 3, 2, 1, 1, 2, 1, 3, 3),
    (2, 3, 3, 2, 2, 1, 1, 2, 3, 4),
    (3, 2, 1, 1, 0, 0, 1, 1, 3, 3),
    (2, 2, (3, 2), (2, 1), (1, 0), (1, 0), 1, (1, 2), 3, 4),
    (3, 8, 4, 2, 1, 0, 1, 1, 3, 3),      # 8 output channels: the adjoint conv is channels last
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_forward_and_gradients(case, rng):
    cin, cout, k, s, p, op, g, d, H, W = case
    kh, kw = pair(k)
    x = rng.standard_normal((2, cin, H, W))
    w = rng.standard_normal((cin, cout // g, kh, kw))
    b = rng.standard_normal(cout)
    y = F.conv_transpose2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(b), s, p, op, g, d)
    ref = conv_transpose2d_reference(x, w, b, pair(s), pair(p), pair(op), g, pair(d))
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-10)
    xt, wt, bt = (tinygan.tensor(a, requires_grad=True) for a in (x[:1], w, b))
    f = lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d)  # noqa: E731
    assert gradcheck(f, (xt, wt, bt))
    assert gradgradcheck(f, (xt, wt, bt))


@pytest.mark.parametrize("cin, stride", [(2, 2), (8, 2), (8, 1)])
def test_chunked_batch_matches_whole_batch(cin, stride, rng, monkeypatch):
    """Processing the batch in chunks (to stay in cache) changes nothing but speed."""
    monkeypatch.setattr(im2col, "WIDTH_ONLY_MIN", 1)     # stride 1: GEMMs per kernel row
    x = tinygan.tensor(rng.standard_normal((5, cin, 6, 6)), requires_grad=True)
    w = tinygan.tensor(rng.standard_normal((8, cin, 3, 3)), requires_grad=True)
    results = []
    for chunk in (1 << 30, 1, 3 * cin * 9 * 9):   # all at once; one sample at a time; a few
        monkeypatch.setattr(im2col, "CHUNK", chunk)
        x.grad = w.grad = None
        y = F.conv2d(x, w, None, stride, 1)
        (y * y).sum().backward()
        results.append((y.data.copy(), x.grad.data.copy(), w.grad.data.copy()))
    for other in results[1:]:        # the same sums, added in another order
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_every_path_of_every_case(layout, rng, monkeypatch):
    """The whole option grid once more with the layout forced: every case channels last
    (its input gradient through the sub-pixel convolution wherever that applies, and
    stride-1 rows through the width-only im2col however small the image), then every
    case channels first (input gradient through col2im)."""
    monkeypatch.setattr(im2col, "CHANNELS_LAST_MIN", 1 if layout == "channels_last" else 1 << 30)
    monkeypatch.setattr(im2col, "WIDTH_ONLY_MIN", 1)

    def new_path(c_in, c_out, g):      # skip the cases whose default path is the forced one
        if layout == "channels_last":
            return g == 1 and not (c_in >= 8 and c_out >= 8)
        return g == 1 and c_in >= 8

    for cin, cout, k, s, p, d, g, H, W in filter(lambda c: new_path(c[0], c[1], c[6]), CONV_CASES):
        kh, kw = pair(k)
        x = rng.standard_normal((2, cin, H, W))
        w = rng.standard_normal((cout, cin // g, kh, kw))
        y = F.conv2d(tinygan.tensor(x), tinygan.tensor(w), None, s, p, d, g)
        np.testing.assert_allclose(y.data, conv2d_reference(x, w, None, pair(s), pair(p), pair(d), g),
                                   rtol=1e-10, atol=1e-10)
        xt, wt = (tinygan.tensor(a, requires_grad=True) for a in (x[:1], w))
        f = lambda x, w: F.conv2d(x, w, None, s, p, d, g)  # noqa: E731
        assert gradcheck(f, (xt, wt)) and gradgradcheck(f, (xt, wt))
    for cin, cout, k, s, p, op, g, d, H, W in filter(lambda c: new_path(c[1], c[0], c[6]), CONVT_CASES):
        kh, kw = pair(k)
        x = rng.standard_normal((2, cin, H, W))
        w = rng.standard_normal((cin, cout // g, kh, kw))
        y = F.conv_transpose2d(tinygan.tensor(x), tinygan.tensor(w), None, s, p, op, g, d)
        ref = conv_transpose2d_reference(x, w, None, pair(s), pair(p), pair(op), g, pair(d))
        np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-10)
        xt, wt = (tinygan.tensor(a, requires_grad=True) for a in (x[:1], w))
        f = lambda x, w: F.conv_transpose2d(x, w, None, s, p, op, g, d)  # noqa: E731
        assert gradcheck(f, (xt, wt)) and gradgradcheck(f, (xt, wt))


@pytest.mark.parametrize("cin", [2, 8])
def test_forward_cols_kept_for_the_weight_gradient_and_then_dropped(cin, rng, monkeypatch):
    """Channels first, Conv2d keeps the forward's cols for the weight gradient (channels
    last it keeps nothing): the gradients are those computed without keeping anything,
    and backward drops what was kept."""
    x = tinygan.tensor(rng.standard_normal((3, cin, 7, 7)), requires_grad=True)
    w = tinygan.tensor(rng.standard_normal((4, cin, 4, 4)), requires_grad=True)
    grads = []
    for keep_bytes in (1 << 30, 0):            # keep / never
        monkeypatch.setattr(im2col, "KEEP_BYTES", keep_bytes)
        x.grad = w.grad = None
        y = F.conv2d(x, w, None, 2, 1)
        node = y.grad_fn
        assert (node.saved is not None) == (keep_bytes > 0 and cin < im2col.CHANNELS_LAST_MIN)
        (y * y).sum().backward()
        assert node.saved is None
        grads.append((x.grad.data.copy(), w.grad.data.copy()))
    # The same sums, maybe grouped into other GEMMs: within the rounding bound of the chain
    # y (cin * 16 terms), then x.grad (4 * 16 terms) or w.grad (3 * 4 * 4 pixels), whose
    # sums of |terms| are the same backward run on |x| and |w|.
    xa, wa = (tinygan.tensor(np.abs(t.data), requires_grad=True) for t in (x, w))
    ya = F.conv2d(xa, wa, None, 2, 1)
    (ya * ya).sum().backward()
    for a, b, m, n in zip(*grads, (xa.grad.data, wa.grad.data), (cin * 16 + 4 * 16, cin * 16 + 3 * 16)):
        assert_within(a, b, sum_tolerance(m, n, np.float64))
    with tinygan.no_grad():
        assert F.conv2d(x, w, None, 2, 1).grad_fn is None
    assert F.conv2d(x, w.detach(), None, 2, 1).grad_fn.saved is None   # no weight gradient wanted


def test_adjoint_identity(rng):
    """<conv(x, w), y> = <x, conv_transpose(y, w)>: the transposed conv is the adjoint."""
    x = rng.standard_normal((2, 8, 7, 7))
    w = rng.standard_normal((5, 8, 4, 4))
    y = rng.standard_normal((2, 5, 2, 2))
    lhs = (F.conv2d(tinygan.tensor(x), tinygan.tensor(w), stride=2).data * y).sum()
    rhs = (x * F.conv_transpose2d(tinygan.tensor(y), tinygan.tensor(w), stride=2,
                                  output_padding=1).data).sum()
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_float32_stays_float32():
    x = tinygan.randn(2, 8, 6, 6)
    w = tinygan.randn(4, 8, 3, 3)
    assert F.conv2d(x, w, padding=1).dtype == np.float32
    assert F.conv_transpose2d(x, tinygan.randn(8, 4, 4, 4), stride=2, padding=1).dtype == np.float32


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding(padding, rng):
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 4, 3))
    y = F.conv2d(tinygan.tensor(x), tinygan.tensor(w), padding=padding)
    if padding == "valid":
        np.testing.assert_allclose(y.data, conv2d_reference(x, w, None, (1, 1), (0, 0), (1, 1), 1))
    else:   # PyTorch pads the extra row at the bottom: total 3 rows -> 1 above, 2 below
        assert y.shape == (1, 3, 5, 6)
        xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 1)))
        np.testing.assert_allclose(y.data, conv2d_reference(xp, w, None, (1, 1), (0, 0), (1, 1), 1))


def test_channel_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="conv2d: input has 3 channels but weight expects 1"):
        F.conv2d(tinygan.randn(2, 3, 8, 8), tinygan.randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match="conv_transpose2d: input has 3 channels but weight expects 2"):
        F.conv_transpose2d(tinygan.randn(2, 3, 8, 8), tinygan.randn(2, 4, 3, 3))


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(tinygan.randn(3, 8, 8), tinygan.randn(4, 3, 3, 3)), "4-D input"),
    (lambda: F.conv2d(tinygan.randn(1, 3, 2, 2), tinygan.randn(4, 3, 3, 3)), "larger than the padded"),
    (lambda: F.conv2d(tinygan.randn(1, 4, 8, 8), tinygan.randn(4, 2, 3, 3), groups=3), "groups=3"),
    (lambda: F.conv2d(tinygan.randn(1, 3, 8, 8), tinygan.randn(4, 3, 3, 3), stride=0), "stride"),
    (lambda: F.conv2d(tinygan.randn(1, 3, 8, 8), tinygan.randn(4, 3, 3, 3), tinygan.randn(5)),
     "bias has shape"),
    (lambda: F.conv_transpose2d(tinygan.randn(1, 3, 4, 4), tinygan.randn(3, 2, 3, 3), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: F.conv2d(tinygan.randn(1, 3, 8, 8), tinygan.randn(4, 3, 3, 3, dtype=tinygan.float64)),
     "dtype"),
])
def test_bad_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_all_layer_options_agree_with_reference_exhaustively_small(rng):
    """A sweep over stride x padding x dilation x kernel on one tiny input, forward only."""
    x = rng.standard_normal((1, 2, 7, 6))
    for k, s, p, d in itertools.product([1, 3, 4], [1, 2], [0, 1, 2], [1, 2]):
        w = rng.standard_normal((2, 2, k, k))
        if (7 + 2 * p - d * (k - 1) - 1) < 0 or (6 + 2 * p - d * (k - 1) - 1) < 0:
            continue
        y = F.conv2d(tinygan.tensor(x), tinygan.tensor(w), None, s, p, d)
        np.testing.assert_allclose(y.data, conv2d_reference(x, w, None, (s, s), (p, p), (d, d), 1),
                                   atol=1e-12)
