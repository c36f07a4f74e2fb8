"""tinygan.ops.modulated_conv: F.modulated_conv2d (StyleGAN2 eqs. 1-3).

The forward pass against a NumPy reference written here with per-sample loops (each
sample's weights modulated and demodulated by the formulas, then a direct convolution, and
the FIR resampling in the StyleGAN2 reference code's order -- up: zero insertion, the
convolution over the full extent, then the filter; down: the filter, then the convolution
at every second pixel -- each filter a direct 2-D convolution);
the fused and non-fused paths against each other; noise; first and second derivatives in
float64 on both paths, with up and down; and the errors for bad input.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import assert_within, sum_tolerance

FIR = [1.0, 3.0, 3.0, 1.0]


def np_conv(x, w, pad):
    """Cross-correlation of one image x (I, H, W) with w (O, I, kh, kw), zero padding pad."""
    o, i, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    ho, wo = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    y = np.zeros((o, ho, wo), dtype=np.float64)
    for a in range(kh):
        for b in range(kw):
            y += np.einsum("oi,ihw->ohw", w[:, :, a, b], xp[:, a:a + ho, b:b + wo])
    return y


def np_fir2d(x, taps, before, after, gain):
    """True 2-D convolution of every channel of x (C, H, W) with the normalized outer-product
    filter, zero padding (before, after) on both axes, times gain."""
    f = np.outer(taps, taps)
    f = f / f.sum() * gain
    k = f.shape[0]
    xp = np.pad(x, ((0, 0), (before, after), (before, after)))
    ho, wo = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    y = np.zeros((x.shape[0], ho, wo))
    fl = f[::-1, ::-1]                         # a convolution flips the filter
    for a in range(k):
        for b in range(k):
            y += fl[a, b] * xp[:, a:a + ho, b:b + wo]
    return y


def np_up_conv(x, w, pad, taps):
    """Upsample by 2 around a conv, the StyleGAN2 reference code's way: the correlation with
    w of x with zeros between pixels, full size ((H - 1)*2 + k: a stride-2 transposed conv),
    then the filter (gain 4 keeps the mean) on the pads that crop it to 2H."""
    c, h, w_ = x.shape
    k, f = w.shape[2], len(taps)
    z = np.zeros((c, 2 * h - 1, 2 * w_ - 1))
    z[:, ::2, ::2] = x
    before, after = pad + (f + 1) // 2 - (k - 1), pad + (f - 2) // 2 - (k - 2)
    assert before >= 0 and after >= 0, "np_fir2d pads only"
    return np_fir2d(np_conv(z, w, k - 1), taps, before, after, 4.0)


def np_conv_down(x, w, pad, taps):
    """Downsample by 2 around a conv, the reference code's way: the filter on a padded x,
    then the conv at every second pixel (a stride-2 conv)."""
    f = len(taps)
    xf = np_fir2d(x, taps, pad + (f - 1) // 2, pad + (f - 2) // 2, 1.0)
    return np_conv(xf, w, 0)[:, ::2, ::2]


def np_modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, taps=FIR,
                        demodulate=True):
    """Per sample n: w' = s w (eq. 1), w'' = w' / sqrt(sum w'^2 + 1e-8) (eq. 3), convolve."""
    x, weight, styles = (np.asarray(a, dtype=np.float64) for a in (x, weight, styles))
    out = []
    for n in range(x.shape[0]):
        wn = weight * styles[n][None, :, None, None]
        if demodulate:
            for j in range(wn.shape[0]):
                wn[j] = wn[j] / np.sqrt(np.sum(wn[j] ** 2) + 1e-8)
        if up == 2:
            out.append(np_up_conv(x[n], wn, padding, taps))
        elif down == 2:
            out.append(np_conv_down(x[n], wn, padding, taps))
        else:
            out.append(np_conv(x[n], wn, padding))
    y = np.stack(out)
    return y if noise is None else y + noise


def make(rng, n, i, o, h, k, dtype=np.float64):
    x = rng.standard_normal((n, i, h, h)).astype(dtype)
    w = rng.standard_normal((o, i, k, k)).astype(dtype)
    s = (rng.standard_normal((n, i)) + 1.0).astype(dtype)
    return x, w, s


def magnitude(x, w, s, **kw):
    """The same computation on |x|, |w|, |s| (the demodulation sees the same squares): the
    sum of the absolute values of the terms behind each output element."""
    return np_modulated_conv2d(np.abs(x), np.abs(w), np.abs(s), **kw)


CASES = [  # (up, down, padding, h, k)
    (1, 1, 1, 5, 3),
    (1, 1, 0, 6, 3),
    (1, 1, 0, 4, 1),
    (2, 1, 1, 4, 3),
    (2, 1, 2, 3, 3),
    (1, 2, 1, 6, 3),
    (1, 2, 0, 6, 3),
    (1, 2, 0, 4, 1),
]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up,down,padding,h,k", CASES)
def test_forward_matches_numpy(fused, demodulate, up, down, padding, h, k):
    rng = np.random.default_rng(1)
    x, w, s = make(rng, 3, 2, 4, h, k)
    kw = dict(up=up, down=down, padding=padding, demodulate=demodulate)
    y = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(s),
                           resample_filter=F.setup_filter(FIR), fused_modconv=fused, **kw)
    expected = np_modulated_conv2d(x, w, s, **kw)
    terms = 2 * k * k * 16 + 8                 # taps of conv and filter, and the scalings
    assert_within(y.numpy(), expected, sum_tolerance(magnitude(x, w, s, **kw), terms, np.float64),
                  "modulated_conv2d vs NumPy")


def test_float32_forward_matches_numpy():
    rng = np.random.default_rng(2)
    x, w, s = make(rng, 2, 3, 2, 6, 3, np.float32)
    y = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(s), padding=1)
    assert y.dtype == np.float32
    expected = np_modulated_conv2d(x, w, s, padding=1)
    assert_within(y.numpy(), expected,
                  sum_tolerance(magnitude(x, w, s, padding=1), 3 * 9 + 8, np.float32), "float32")


@pytest.mark.parametrize("up,down,padding,h,k", CASES)
def test_fused_and_non_fused_agree(up, down, padding, h, k):
    rng = np.random.default_rng(3)
    x, w, s = make(rng, 4, 3, 2, h, k)
    args = (tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(s))
    kw = dict(up=up, down=down, padding=padding, resample_filter=F.setup_filter(FIR))
    a = F.modulated_conv2d(*args, fused_modconv=True, **kw).numpy()
    b = F.modulated_conv2d(*args, fused_modconv=False, **kw).numpy()
    terms = 3 * k * k * 16 + 8
    assert_within(a, b, sum_tolerance(magnitude(x, w, s, up=up, down=down, padding=padding),
                                      terms, np.float64), "fused vs non-fused")


def test_demodulated_output_channels_have_unit_weight_norm():
    """With demodulation each sample's effective weights have sum w''^2 = 1 (eq. 3), so a
    large style scale does not change the output: s and 10 s give the same result."""
    rng = np.random.default_rng(4)
    x, w, s = make(rng, 2, 3, 2, 5, 3)
    a = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(s), padding=1)
    b = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(10 * s), padding=1)
    # eq. 3's epsilon is the one difference: (q + 1e-8)^-1/2 against (100 q + 1e-8)^-1/2 / 10
    # differ relatively by about 0.5e-8 / q for the smallest q = sum w'^2 of an output channel.
    q = np.min(np.einsum("oikl,ni->no", w ** 2, s ** 2))
    tol = sum_tolerance(magnitude(x, w, s, padding=1), 3 * 9 + 8, np.float64)
    assert_within(a.numpy(), b.numpy(), tol + 1e-8 / q * np.abs(a.numpy()), "scale")
    c = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(10 * s),
                           padding=1, demodulate=False)
    assert np.abs(c.numpy()).max() > 5 * np.abs(a.numpy()).max()


@pytest.mark.parametrize("fused", [True, False])
def test_noise_is_added(fused):
    rng = np.random.default_rng(5)
    x, w, s = make(rng, 2, 2, 3, 4, 3)
    noise = rng.standard_normal((2, 1, 4, 4))
    y = F.modulated_conv2d(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(s),
                           noise=tinygan.tensor(noise), padding=1, fused_modconv=fused)
    expected = np_modulated_conv2d(x, w, s, noise=noise, padding=1)
    assert_within(y.numpy(), expected,
                  sum_tolerance(magnitude(x, w, s, padding=1) + np.abs(noise), 2 * 9 + 8,
                                np.float64), "noise")


GRAD_CASES = [(1, 1, 1, 3, 3), (2, 1, 1, 2, 3), (1, 2, 1, 4, 3)]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up,down,padding,h,k", GRAD_CASES)
def test_first_and_second_derivatives(fused, up, down, padding, h, k):
    rng = np.random.default_rng(6)
    x, w, s = make(rng, 2, 2, 2, h, k)
    noise = rng.standard_normal((2, 1, h * up // down, h * up // down))
    ts = [tinygan.tensor(a, requires_grad=True) for a in (x, w, s, noise)]

    def fn(x, w, s, noise):
        return F.modulated_conv2d(x, w, s, noise=noise, up=up, down=down, padding=padding,
                                  resample_filter=F.setup_filter(FIR), fused_modconv=fused)

    assert gradcheck(fn, ts)
    assert gradgradcheck(fn, ts)


@pytest.mark.parametrize("fused", [True, False])
def test_derivatives_without_demodulation(fused):
    rng = np.random.default_rng(7)
    x, w, s = make(rng, 2, 2, 2, 3, 3)
    ts = [tinygan.tensor(a, requires_grad=True) for a in (x, w, s)]

    def fn(x, w, s):
        return F.modulated_conv2d(x, w, s, padding=1, demodulate=False, fused_modconv=fused)

    assert gradcheck(fn, ts)
    assert gradgradcheck(fn, ts)


def test_bad_input_is_named():
    x = tinygan.zeros(2, 3, 4, 4)
    w = tinygan.zeros(5, 3, 3, 3)
    s = tinygan.ones(2, 3)
    with pytest.raises(ValueError, match=r"modulated_conv2d: expected styles of shape \(N, I\) "
                                         r"= \(2, 3\).*got \(2, 4\)"):
        F.modulated_conv2d(x, w, tinygan.ones(2, 4))
    with pytest.raises(ValueError, match=r"modulated_conv2d: expected styles.*got \(3, 3\)"):
        F.modulated_conv2d(x, w, tinygan.ones(3, 3))
    with pytest.raises(ValueError, match=r"modulated_conv2d: weight \(5, 2, 3, 3\) expects 2 "
                                         r"input channels, x \(2, 3, 4, 4\) has 3"):
        F.modulated_conv2d(x, tinygan.zeros(5, 2, 3, 3), s)
    with pytest.raises(ValueError, match=r"modulated_conv2d: expected x of shape"):
        F.modulated_conv2d(tinygan.zeros(3, 4, 4), w, s)
    with pytest.raises(ValueError, match=r"modulated_conv2d: expected weight of shape"):
        F.modulated_conv2d(x, tinygan.zeros(5, 3, 3), s)
    with pytest.raises(ValueError, match=r"modulated_conv2d: expected up to be an integer"):
        F.modulated_conv2d(x, w, s, up=0)
    with pytest.raises(ValueError, match=r"modulated_conv2d: up=2 and down=2"):
        F.modulated_conv2d(x, w, s, up=2, down=2)
    with pytest.raises(ValueError, match=r"modulated_conv2d: noise \(2, 1, 3, 3\) does not "
                                         r"broadcast to the output \(2, 5, 4, 4\)"):
        F.modulated_conv2d(x, w, s, noise=tinygan.zeros(2, 1, 3, 3), padding=1)
