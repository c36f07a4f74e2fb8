"""Convolution as matrix multiplication: im2col, GEMM, col2im (the arrays behind ops/conv.py).

A convolution of x (N, C, H, W) with w (O, C, kh, kw) dots, for every output
pixel, the C * kh * kw input values under the kernel with a row of w.  im2col
copies those patches into a matrix, one row per output pixel,

    cols[(n, ho, wo), (i, j, c)] = x_pad[n, c, ho*s + i*d, wo*s + j*d]

so the convolution is ONE matrix product ``cols (M, K) @ w' (K, O)``, done by BLAS
in float32 (M = N*Ho*Wo output pixels, K = kh*kw*C).  Its two adjoints are also
one GEMM each: the weight gradient ``cols^T @ gy`` and the input gradient
``gy @ w'^T`` followed by col2im, which adds every patch back where it came from.

The speed is decided by memory, not arithmetic, in two ways:

* Layout.  cols is filled with kh*kw strided copies, one per kernel offset
  (i, j).  With channels last -- x as (N, H, W, C) and (i, j, c) ordered with c
  innermost -- each copy moves runs of C contiguous floats.  Channels first, the
  runs are rows of Wo floats taken every s-th element: for a 7x7 output that is
  7 scattered floats per run, and the copies cost more than the GEMM.  Channels
  first is kept where channels last has nothing to gain: few channels (the
  1-channel image layers of MNIST models) and grouped convolutions.
* Size.  cols is kh*kw/s^2 times larger than x (9x for a 3x3 convolution).  A
  150 MB cols matrix filled and read back costs more than the GEMM itself, so
  the batch is processed in chunks whose cols stay in the cache (``CHUNK``).
  On a GPU the whole batch goes at once.
"""
from __future__ import annotations

import numpy as np

from .. import backend

CHUNK = 1 << 19          # floats of cols per chunk (2 MB): stays in this machine's L2 + L3 share
CHANNELS_LAST_MIN = 8    # fewer input channels than this: channels-first layout


class Geometry:
    """Sizes of one convolution: input (N, C, H, W), weight (O, C/g, kh, kw), output (Ho, Wo)."""

    __slots__ = ("N", "C", "H", "W", "O", "kh", "kw", "s", "p", "d", "g", "Ho", "Wo")

    def __init__(self, x_shape, w_conv_shape, stride, padding, dilation, groups, out_hw):
        self.N, self.C, self.H, self.W = x_shape
        self.O, _, self.kh, self.kw = w_conv_shape
        self.s, self.p, self.d, self.g = stride, padding, dilation, groups
        self.Ho, self.Wo = out_hw

    def channels_last(self, xp) -> bool:
        return xp is np and self.g == 1 and self.C >= CHANNELS_LAST_MIN

    def chunks(self, xp) -> list:
        """Slices of the batch to process one after another (all of it at once on a GPU)."""
        per_sample = self.C * self.kh * self.kw * self.Ho * self.Wo
        n = self.N if xp is not np else max(1, min(self.N, CHUNK // max(per_sample, 1)))
        return [slice(a, min(a + n, self.N)) for a in range(0, self.N, n)]

    def offsets(self):
        """(i, j, rows, cols): each kernel offset and the strided window of x_pad it reads."""
        (sh, sw), (dh, dw) = self.s, self.d
        hs, ws = sh * (self.Ho - 1) + 1, sw * (self.Wo - 1) + 1
        for i in range(self.kh):
            for j in range(self.kw):
                yield i, j, slice(i * dh, i * dh + hs, sh), slice(j * dw, j * dw + ws, sw)


# -- the three maps, each one GEMM per chunk ---------------------------------------------
def conv(x, w, geo: Geometry):
    """y = conv(x, w): x (N, C, H, W), w (O, C/g, kh, kw) -> y (N, O, Ho, Wo)."""
    xp = backend.get_array_module(x)
    if geo.channels_last(xp):
        xh = _pad_nhwc(x, geo)
        wt = w.transpose(2, 3, 1, 0).reshape(-1, geo.O)                 # (K, O), K = (i, j, c)
        y = xp.empty((geo.N, geo.Ho, geo.Wo, geo.O), dtype=x.dtype)
        for sl in geo.chunks(xp):
            y[sl] = (_im2col_nhwc(xh[sl], geo) @ wt).reshape(-1, geo.Ho, geo.Wo, geo.O)
        return xp.ascontiguousarray(y.transpose(0, 3, 1, 2))
    wm = w.reshape(geo.g, geo.O // geo.g, -1)
    y = xp.empty((geo.N, geo.O, geo.Ho, geo.Wo), dtype=x.dtype)
    for sl in geo.chunks(xp):
        ym = wm @ _im2col_nchw(x[sl], geo)                                # (g, O/g, n*Ho*Wo)
        y[sl] = ym.reshape(geo.O, -1, geo.Ho, geo.Wo).transpose(1, 0, 2, 3)
    return y


def conv_input(gy, w, geo: Geometry):
    """gx = the adjoint of conv in x: gy (N, O, Ho, Wo) -> (N, C, H, W).  The transposed conv."""
    xp = backend.get_array_module(gy)
    if geo.channels_last(xp):
        wt = w.transpose(0, 2, 3, 1).reshape(geo.O, -1)                 # (O, K)
        gyh = gy.transpose(0, 2, 3, 1)
        gxh = xp.zeros((geo.N, geo.H + 2 * geo.p[0], geo.W + 2 * geo.p[1], geo.C), dtype=gy.dtype)
        for sl in geo.chunks(xp):
            cols = gyh[sl].reshape(-1, geo.O) @ wt                       # (n*Ho*Wo, K)
            _col2im_nhwc(cols, gxh[sl], geo)
        (ph, pw) = geo.p
        return xp.ascontiguousarray(gxh[:, ph:ph + geo.H, pw:pw + geo.W].transpose(0, 3, 1, 2))
    wt = w.reshape(geo.g, geo.O // geo.g, -1).transpose(0, 2, 1)          # (g, K, O/g)
    gx = xp.empty((geo.N, geo.C, geo.H, geo.W), dtype=gy.dtype)
    for sl in geo.chunks(xp):
        cols = wt @ _gemm_layout_nchw(gy[sl], geo)                         # (g, K, n*Ho*Wo)
        _col2im_nchw(cols, geo, sl.stop - sl.start, gx[sl])
    return gx


def conv_weight(x, gy, geo: Geometry, w_shape):
    """gw = sum over the batch of gy times the patches of x: (O, C/g, kh, kw)."""
    xp = backend.get_array_module(x)
    if geo.channels_last(xp):
        xh = _pad_nhwc(x, geo)
        gyh = gy.transpose(0, 2, 3, 1)
        gw = None
        for sl in geo.chunks(xp):
            part = _im2col_nhwc(xh[sl], geo).T @ gyh[sl].reshape(-1, geo.O)    # (K, O)
            gw = part if gw is None else gw + part
        gw = gw.reshape(geo.kh, geo.kw, geo.C, geo.O).transpose(3, 2, 0, 1)
        return xp.ascontiguousarray(gw)
    gw = None
    for sl in geo.chunks(xp):
        part = _gemm_layout_nchw(gy[sl], geo) @ _im2col_nchw(x[sl], geo).transpose(0, 2, 1)
        gw = part if gw is None else gw + part                              # (g, O/g, K)
    return gw.reshape(w_shape)


# -- channels last: runs of C contiguous floats ----------------------------------------------
def _pad_nhwc(x, geo: Geometry):
    """(N, C, H, W) -> zero-padded (N, H + 2ph, W + 2pw, C): one copy, then every patch is a view."""
    xp = backend.get_array_module(x)
    ph, pw = geo.p
    xh = xp.empty((geo.N, geo.H + 2 * ph, geo.W + 2 * pw, geo.C), dtype=x.dtype)
    if ph or pw:
        xh[:, :ph], xh[:, geo.H + ph:], xh[:, :, :pw], xh[:, :, geo.W + pw:] = 0, 0, 0, 0
    xh[:, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(0, 2, 3, 1)
    return xh


def _im2col_nhwc(xh, geo: Geometry):
    """xh (n, Hp, Wp, C) -> cols (n*Ho*Wo, kh*kw*C)."""
    xp = backend.get_array_module(xh)
    n = xh.shape[0]
    cols = xp.empty((n, geo.Ho, geo.Wo, geo.kh, geo.kw, geo.C), dtype=xh.dtype)
    for i, j, rows, columns in geo.offsets():
        cols[:, :, :, i, j] = xh[:, rows, columns]
    return cols.reshape(n * geo.Ho * geo.Wo, -1)


def _col2im_nhwc(cols, gxh, geo: Geometry) -> None:
    """The adjoint of _im2col_nhwc: add cols (n*Ho*Wo, kh*kw*C) into gxh (n, Hp, Wp, C)."""
    cols = cols.reshape(-1, geo.Ho, geo.Wo, geo.kh, geo.kw, geo.C)
    for i, j, rows, columns in geo.offsets():
        gxh[:, rows, columns] += cols[:, :, :, i, j]


# -- channels first: for few channels and for groups ---------------------------------------
def _im2col_nchw(x, geo: Geometry):
    """x (n, C, H, W) -> cols (g, C/g * kh * kw, n * Ho * Wo), rows ordered (c, i, j)."""
    xp = backend.get_array_module(x)
    n = x.shape[0]
    ph, pw = geo.p
    if ph or pw:
        xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=x.dtype)
        xpad[:, :, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(1, 0, 2, 3)
    else:
        xpad = x.transpose(1, 0, 2, 3)          # a view in (C, n, H, W) order
    cols = xp.empty((geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo), dtype=x.dtype)
    for i, j, rows, columns in geo.offsets():
        cols[:, i, j] = xpad[:, :, rows, columns]
    return cols.reshape(geo.g, -1, n * geo.Ho * geo.Wo)


def _col2im_nchw(cols, geo: Geometry, n: int, out) -> None:
    """The adjoint of _im2col_nchw: cols (g, C/g * kh * kw, n * Ho * Wo) -> out (n, C, H, W)."""
    xp = backend.get_array_module(cols)
    ph, pw = geo.p
    cols = cols.reshape(geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo)
    xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=cols.dtype)
    for i, j, rows, columns in geo.offsets():
        xpad[:, :, rows, columns] += cols[:, i, j]
    out[...] = xpad[:, :, ph:ph + geo.H, pw:pw + geo.W].transpose(1, 0, 2, 3)


def _gemm_layout_nchw(gy, geo: Geometry):
    """(n, O, Ho, Wo) -> (g, O/g, n*Ho*Wo), the GEMM layout of an output gradient."""
    xp = backend.get_array_module(gy)
    return xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(geo.g, geo.O // geo.g, -1)
