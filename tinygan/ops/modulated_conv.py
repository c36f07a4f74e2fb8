"""Modulated convolution: StyleGAN2's style-controlled convolution (Karras et al. 2020, sec. 2.2).

StyleGAN2 replaces AdaIN by scaling the convolution weights with the style and then
normalizing them back to unit expected output variance ("Analyzing and Improving the
Image Quality of StyleGAN", eqs. 1-3).  For one sample with style s (one scale per input
channel i) and the shared weight w (out j, in i, taps k):

    w'_ijk  = s_i * w_ijk                                   (eq. 1, modulation)
    sigma_j = sqrt(sum_{i,k} w'_ijk^2)                      (eq. 2, the output's std)
    w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps)       (eq. 3, demodulation; eps 1e-8)

Two ways to compute the same thing, both composed of tinygan ops (conv2d, upfirdn2d,
elementwise products), so the op is differentiable to any order with no Function of its own:

- fused (``fused_modconv=True``): build every sample's own weights w'' and run ONE grouped
  convolution with the batch folded into the groups: x (N, I, H, W) is read as (1, N*I, H, W)
  and the weights as (N*O, I, kh, kw), groups = N.
- non-fused: since the per-sample scales act on separate channels, scaling the input by s,
  convolving with the shared w, and scaling the output by d_j = 1/sqrt(sum w'^2 + eps) gives
  the same numbers: conv(x * s, w) * d.  Both paths get d from sum_{i,k} w'^2 =
  sum_i s_i^2 sum_k w_jik^2, an (N, I) @ (I, O) product, never forming w' for it.
  On a CPU the non-fused path is the faster one: 1.2-4.7x over the fused path in forward +
  backward at batch 32 for StyleGAN-lite's layer shapes (benchmarks/modulated_conv.py).

Resampling (``conv2d_resample``), in the StyleGAN2 reference code's forms, which touch the
fewest pixels:

- up = 2: a stride-2 transposed convolution with the weight flipped in space -- the
  correlation with w of x with a zero between pixels, over the full extent ((H - 1)*2 + k
  pixels a side), with the zeros never multiplied -- then the FIR filter (gain 4), whose
  pads crop the result to 2H.  Upsampling first and convolving at 2H instead would
  multiply 4x as many pixels by the weights.
- down = 2: the FIR filter on the padded input, then a stride-2 convolution: the
  convolution is evaluated only at the pixels that are kept.  A 1x1 kernel mixes channels
  only, so it commutes with the filter: downsample2d first, then the 1x1 conv.

Away from the border this is the plain composition (upsample2d then conv2d; conv2d then
downsample2d): both filters and the convolution are linear and shift-invariant, so they
commute.  At the border they differ, because the plain form crops and zero-pads between
the two steps and this form does not: with a 3x3 kernel and the 4-tap filter, the
outermost ring of output pixels is not the plain form's numbers (tinygan used the plain
form before; tests/nn/test_equalized.py checks that only that ring differs, and
tests/ops/test_modulated_conv.py holds this form against a per-sample NumPy loop).  On a CPU the reference form's convolution and resampling at StyleGAN-lite's layer
shapes take 1.5-3x less time in forward + backward, 1.9x over all of them
(benchmarks/conv2d_resample.py).
"""
from __future__ import annotations

from ..autograd import Tensor
from .conv import conv2d, conv_transpose2d
from .pair import pair
from .upfirdn2d import _size_of, downsample2d, upfirdn2d

DEMODULATION_EPS = 1e-8      # eq. 3's epsilon, the reference code's value


def _shape(t) -> tuple:
    return tuple(t.shape) if hasattr(t, "shape") else type(t).__name__


def conv2d_resample(x: Tensor, weight: Tensor, up: int = 1, down: int = 1, padding=0,
                    resample_filter=None, groups: int = 1) -> Tensor:
    """conv2d with FIR-filtered up- or downsampling around it, in the StyleGAN2 reference
    code's cheap forms (see the module docstring).

    x (N, C, H, W), weight (O, C/groups, kh, kw), padding an int or (ph, pw).
    up = 2: a stride-2 transposed conv, then the filter (gain 4); down = 2: the filter,
    then a stride-2 conv (a 1x1 kernel: downsample2d, then the conv).  With padding = k // 2
    for an odd k the output is (N, O, H*up // down, W*up // down) (H, W even when down = 2).
    """
    o, c, kh, kw = weight.shape
    fw, fh = _size_of(resample_filter)
    ph, pw = pair(padding, "padding", "conv2d_resample", at_least=0)
    if up == 1 and down == 1:
        return conv2d(x, weight, padding=(ph, pw), groups=groups)
    if down != 1:
        if kh == 1 and kw == 1:
            # A 1x1 conv mixes channels only, so it commutes with the per-channel filter and
            # the decimation: decimate first, convolve down**2 times fewer pixels.
            return conv2d(downsample2d(x, resample_filter, down=down, padding=(pw, ph)),
                          weight, groups=groups)
        # Pad so that a stride-`down` conv over the filtered image sees the same pixel grid
        # as downsample2d of a padded stride-1 conv would: fw - down more pixels in all.
        pad0, pad1 = pw + (fw - down + 1) // 2, pw + (fw - down) // 2
        padh0, padh1 = ph + (fh - down + 1) // 2, ph + (fh - down) // 2
        x = upfirdn2d(x, resample_filter, padding=(pad0, pad1, padh0, padh1))
        return conv2d(x, weight, stride=down, groups=groups)
    # up: conv_transpose2d(x, w~) with w~ the weight flipped in space (and, per group, its
    # in and out channels swapped) is the correlation with w of x with up - 1 zeros between
    # pixels -- the first half of upsample2d's work without ever storing the zeros; its
    # output, (H - 1)*up + kh pixels a side, the FIR filter (gain up**2) then crops to H*up.
    wt = weight[:, :, ::-1, ::-1]
    g = groups
    wt = wt.reshape(g, o // g, c, kh, kw).permute(0, 2, 1, 3, 4).reshape(g * c, o // g, kh, kw)
    y = conv_transpose2d(x, wt, stride=up, groups=groups)
    pad0 = pw + (fw + up - 1) // 2 - (kw - 1)
    pad1 = pw + (fw - up) // 2 - (kw - up)
    padh0 = ph + (fh + up - 1) // 2 - (kh - 1)
    padh1 = ph + (fh - up) // 2 - (kh - up)
    return upfirdn2d(y, resample_filter, padding=(pad0, pad1, padh0, padh1), gain=up * up)


def _check(x, weight, styles, up, down) -> None:
    op = "modulated_conv2d"
    for name, t in (("x", x), ("weight", weight), ("styles", styles)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expected x of shape (N, I, H, W), got {_shape(x)}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected weight of shape (O, I, kh, kw), got {_shape(weight)}")
    n, i = x.shape[:2]
    if weight.shape[1] != i:
        raise ValueError(f"{op}: weight {_shape(weight)} expects {weight.shape[1]} input channels, "
                         f"x {_shape(x)} has {i}")
    if tuple(styles.shape) != (n, i):
        raise ValueError(f"{op}: expected styles of shape (N, I) = ({n}, {i}) for x {_shape(x)}, "
                         f"got {_shape(styles)}")
    for name, v in (("up", up), ("down", down)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{op}: expected {name} to be an integer >= 1, got {v!r}")
    if up != 1 and down != 1:
        raise ValueError(f"{op}: up={up} and down={down} at once is not supported")


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, noise: Tensor | None = None,
                     up: int = 1, down: int = 1, padding=0, resample_filter=None,
                     demodulate: bool = True, fused_modconv: bool = True) -> Tensor:
    """A convolution whose weights each sample's style scales (eq. 1) and, optionally,
    demodulates (eq. 3).

    Args:
        x: (N, I, H, W) images.
        weight: (O, I, kh, kw) shared weights.
        styles: (N, I) per-sample, per-input-channel scales s.
        noise: None or a Tensor that broadcasts to the output, e.g. (N, 1, Ho, Wo), added
            after the convolution (already scaled by the caller).
        up, down: 1 or an integer resampling factor, with ``resample_filter`` (as for
            upfirdn2d; None is the one-tap filter [1]).
        padding: conv2d's padding, an int or (ph, pw).
        demodulate: divide each output channel by sqrt(sum w'^2 + 1e-8) (eq. 3).
        fused_modconv: one grouped convolution with per-sample weights (True) or the
            shared convolution between two scalings (False); the results agree.
    Returns:
        (N, O, Ho, Wo): Ho = (H*up + 2*ph - kh + 1) // down, likewise Wo.
    """
    _check(x, weight, styles, up, down)
    n, i, h, w = x.shape
    o, _, kh, kw = weight.shape

    d = None
    if demodulate:
        # eq. 3: d[n, j] = (sum_{i,k} w'^2 + eps)^(-1/2), and by eq. 1 (w' = s_i w_jik)
        # sum_{i,k} w'^2 = sum_i s_i^2 sum_k w_jik^2: one (N, I) @ (I, O) product instead of
        # the (N, O, I, kh, kw) tensor of modulated weights, its square and its sum.   (N, O)
        wsq = (weight * weight).sum(dim=(2, 3))                                       # (O, I)
        d = ((styles * styles) @ wsq.T + DEMODULATION_EPS) ** -0.5

    if fused_modconv:
        # eq. 1: w'[n, j, i, k] = s[n, i] w[j, i, k]                              (N, O, I, kh, kw)
        wmod = weight.reshape(1, o, i, kh, kw) * styles.reshape(n, 1, i, 1, 1)
        if d is not None:
            wmod = wmod * d.reshape(n, o, 1, 1, 1)                                 # w'' (eq. 3)
        # Fold the batch into the groups: group n sees sample n's I channels and weights.
        y = conv2d_resample(x.reshape(1, n * i, h, w), wmod.reshape(n * o, i, kh, kw), up=up,
                            down=down, padding=padding, resample_filter=resample_filter,
                            groups=n)
        y = y.reshape(n, o, y.shape[2], y.shape[3])
    else:
        # Scaling input channel i by s_i before the shared convolution is eq. 1; scaling
        # output channel j by d_j after it is eq. 3 (both commute with the linear conv).
        y = conv2d_resample(x * styles.reshape(n, i, 1, 1), weight, up=up, down=down,
                            padding=padding, resample_filter=resample_filter)
        if d is not None:
            y = y * d.reshape(n, o, 1, 1)
    if noise is not None:
        if not isinstance(noise, Tensor):
            raise TypeError(f"modulated_conv2d: expected noise to be a Tensor or None, got "
                            f"{type(noise).__name__}")
        try:
            y = y + noise
        except ValueError as e:
            raise ValueError(f"modulated_conv2d: noise {_shape(noise)} does not broadcast to the "
                             f"output {_shape(y)}") from e
    return y
