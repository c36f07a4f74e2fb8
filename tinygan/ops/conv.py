"""2-D convolution and transposed convolution as one big matrix product (im2col + GEMM).

A convolution of x (N, C, H, W) with w (O, C/g, kh, kw) takes, for every output
pixel, the C/g * kh * kw input values under the kernel and dots them with a row
of w.  im2col copies those patches into the columns of a matrix

    cols[group, (c, i, j), (n, ho, wo)] = x_pad[n, c, ho*s + i*d, wo*s + j*d]

so the whole convolution is one GEMM per group, ``w (O/g, K) @ cols (K, M)``,
done by BLAS in float32.  The layout decides the speed: cols is filled with
kh*kw strided copies, one per kernel offset (i, j), each moving a (C, N, Ho, Wo)
block whose innermost run is a row of the image -- long, regular copies rather
than the scattered short ones of a (N, Ho, Wo, C, kh, kw) patch layout.

The three linear maps of a convolution are three Functions, and each one's
backward is made of the other two, which is what makes every derivative
(of any order) exact:

    Conv2d       y  = conv(x, w)               backward: gx = conv_input(gy, w),  gw = conv_weight(x, gy)
    Conv2dInput  gx = conv_input(gy, w)        backward: d/dgy = conv(g, w),      d/dw = conv_weight(g, gy)
    Conv2dWeight gw = conv_weight(x, gy)       backward: d/dx = conv_input(gy, g), d/dgy = conv(x, g)

``conv_input`` -- the adjoint of the convolution with respect to its input --
is the transposed convolution, so ``conv_transpose2d`` is Conv2dInput with the
weight read as (C_in, C_out/g, kh, kw), exactly as in PyTorch.  col2im, the
adjoint of im2col, adds the kh*kw strided slices back; it never uses np.add.at.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from .shape import reshape


def _pair(v, name: str, op: str) -> tuple:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v}")
    return v


class _Geometry:
    """Sizes of one convolution: input (N, C, H, W), kernel (kh, kw), output (Ho, Wo)."""

    __slots__ = ("N", "C", "H", "W", "O", "kh", "kw", "s", "p", "d", "g", "Ho", "Wo")

    def __init__(self, x_shape, w_conv_shape, stride, padding, dilation, groups, out_hw):
        self.N, self.C, self.H, self.W = x_shape
        self.O, _, self.kh, self.kw = w_conv_shape
        self.s, self.p, self.d, self.g = stride, padding, dilation, groups
        self.Ho, self.Wo = out_hw

    def chunks(self, xp):
        """Batch slices to work on: each one's cols fit in cache (~2 MB) on the CPU.

        Filling a 150 MB cols matrix and reading it back costs more than the GEMM
        itself; a few samples at a time keep the copies in the L2/L3 cache.  On a
        GPU the whole batch goes at once.
        """
        per_sample = self.C * self.kh * self.kw * self.Ho * self.Wo
        n = self.N if xp is not np else max(1, min(self.N, _CHUNK_ELEMENTS // max(per_sample, 1)))
        return [slice(a, min(a + n, self.N)) for a in range(0, self.N, n)]


_CHUNK_ELEMENTS = 1 << 19


def _im2col(x, geo: _Geometry):
    """x (n, C, H, W) -> cols (g, C/g * kh * kw, n * Ho * Wo)."""
    xp = backend.get_array_module(x)
    n = x.shape[0]
    (ph, pw), (sh, sw), (dh, dw) = geo.p, geo.s, geo.d
    if ph or pw:
        xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=x.dtype)
        xpad[:, :, ph:ph + geo.H, pw:pw + geo.W] = x.transpose(1, 0, 2, 3)
    else:
        xpad = x.transpose(1, 0, 2, 3)          # a view in (C, n, H, W) order
    cols = xp.empty((geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo), dtype=x.dtype)
    hs, ws = sh * (geo.Ho - 1) + 1, sw * (geo.Wo - 1) + 1
    for i in range(geo.kh):
        for j in range(geo.kw):
            cols[:, i, j] = xpad[:, :, i * dh:i * dh + hs:sh, j * dw:j * dw + ws:sw]
    return cols.reshape(geo.g, -1, n * geo.Ho * geo.Wo)


def _col2im(cols, geo: _Geometry, n: int, out):
    """The adjoint of _im2col: cols (g, C/g * kh * kw, n * Ho * Wo) -> out (n, C, H, W)."""
    xp = backend.get_array_module(cols)
    (ph, pw), (sh, sw), (dh, dw) = geo.p, geo.s, geo.d
    cols = cols.reshape(geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo)
    xpad = xp.zeros((geo.C, n, geo.H + 2 * ph, geo.W + 2 * pw), dtype=cols.dtype)
    hs, ws = sh * (geo.Ho - 1) + 1, sw * (geo.Wo - 1) + 1
    for i in range(geo.kh):
        for j in range(geo.kw):
            xpad[:, :, i * dh:i * dh + hs:sh, j * dw:j * dw + ws:sw] += cols[:, i, j]
    out[...] = xpad[:, :, ph:ph + geo.H, pw:pw + geo.W].transpose(1, 0, 2, 3)


def _gemm_layout(gy, geo: _Geometry):
    """(n, O, Ho, Wo) -> (g, O/g, n*Ho*Wo), the GEMM layout of an output gradient."""
    xp = backend.get_array_module(gy)
    return xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(geo.g, geo.O // geo.g, -1)


def _conv(x, w, geo: _Geometry):
    """y = conv(x, w), one GEMM per chunk of the batch and group."""
    xp = backend.get_array_module(x)
    wm = w.reshape(geo.g, geo.O // geo.g, -1)
    y = xp.empty((geo.N, geo.O, geo.Ho, geo.Wo), dtype=x.dtype)
    for sl in geo.chunks(xp):
        ym = wm @ _im2col(x[sl], geo)                                  # (g, O/g, n*Ho*Wo)
        y[sl] = ym.reshape(geo.O, -1, geo.Ho, geo.Wo).transpose(1, 0, 2, 3)
    return y


def _conv_input(gy, w, geo: _Geometry):
    """gx = the adjoint of conv in x applied to gy: GEMM with w^T, then col2im."""
    xp = backend.get_array_module(gy)
    wt = w.reshape(geo.g, geo.O // geo.g, -1).transpose(0, 2, 1)       # (g, K, O/g)
    gx = xp.empty((geo.N, geo.C, geo.H, geo.W), dtype=gy.dtype)
    for sl in geo.chunks(xp):
        cols = wt @ _gemm_layout(gy[sl], geo)                          # (g, K, n*Ho*Wo)
        _col2im(cols, geo, sl.stop - sl.start, gx[sl])
    return gx


def _conv_weight(x, gy, geo: _Geometry, w_shape):
    """gw = sum over the batch of gy times the patches of x: GEMM with cols^T."""
    xp = backend.get_array_module(x)
    gw = None
    for sl in geo.chunks(xp):
        part = _gemm_layout(gy[sl], geo) @ _im2col(x[sl], geo).transpose(0, 2, 1)
        gw = part if gw is None else gw + part                         # (g, O/g, K)
    return gw.reshape(w_shape)


class Conv2d(Function):
    """y = conv(x, w): x (N, C, H, W), w (O, C/g, kh, kw) -> y (N, O, Ho, Wo)."""

    def __init__(self, geo: _Geometry):
        self.geo = geo

    def forward(self, x, w):
        return _conv(x, w, self.geo)

    def backward(self, gy):
        x, w = self.inputs
        gx = Conv2dInput(self.geo)(gy, w) if self.needs_input_grad[0] else None
        gw = Conv2dWeight(self.geo, w.shape)(x, gy) if self.needs_input_grad[1] else None
        return gx, gw


class Conv2dInput(Function):
    """gx = conv_input(gy, w): the adjoint of conv in x, i.e. the transposed convolution."""

    def __init__(self, geo: _Geometry):
        self.geo = geo

    def forward(self, gy, w):
        return _conv_input(gy, w, self.geo)

    def backward(self, g):
        gy, w = self.inputs
        ggy = Conv2d(self.geo)(g, w) if self.needs_input_grad[0] else None
        gw = Conv2dWeight(self.geo, w.shape)(g, gy) if self.needs_input_grad[1] else None
        return ggy, gw


class Conv2dWeight(Function):
    """gw = conv_weight(x, gy) = sum over n, ho, wo of gy * (the patch of x under the kernel)."""

    def __init__(self, geo: _Geometry, w_shape: tuple):
        self.geo, self.w_shape = geo, w_shape

    def forward(self, x, gy):
        return _conv_weight(x, gy, self.geo, self.w_shape)

    def backward(self, g):
        x, gy = self.inputs
        gx = Conv2dInput(self.geo)(gy, g) if self.needs_input_grad[0] else None
        ggy = Conv2d(self.geo)(x, g) if self.needs_input_grad[1] else None
        return gx, ggy


def _check(op: str, x: Tensor, w: Tensor, in_ch: int, groups: int):
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D weight, got shape {tuple(w.shape)}")
    if groups < 1 or x.shape[1] % groups or (w.shape[0] % groups if op == "conv2d" else 0):
        raise ValueError(f"{op}: groups={groups} must divide the channels "
                         f"(input {tuple(x.shape)}, weight {tuple(w.shape)})")
    if x.shape[1] != in_ch:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight expects {in_ch} "
                         f"(input {tuple(x.shape)}, weight {tuple(w.shape)}, groups={groups})")
    if x.dtype != w.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")


def _add_bias(y: Tensor, bias, op: str) -> Tensor:
    if bias is None:
        return y
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{op}: bias has shape {tuple(bias.shape)} but the output has "
                         f"{y.shape[1]} channels")
    return y + reshape(bias, (1, -1, 1, 1))


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every framework).

    Shapes: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out) with H_out = (H + 2p - d(kh - 1) - 1) // s + 1.
    ``padding`` may also be ``"valid"`` (0) or ``"same"`` (stride 1 only).
    """
    x, w = input, weight
    _check("conv2d", x, w, w.shape[1] * groups if w.ndim == 4 else -1, groups)
    s, d = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    kh, kw = w.shape[2:]
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if s != (1, 1):
            raise ValueError("conv2d: padding='same' needs stride 1")
        th, tw = d[0] * (kh - 1), d[1] * (kw - 1)
        if th % 2 or tw % 2:   # asymmetric: pad the extra row/column explicitly, as PyTorch does
            from .shape import pad as _pad
            x = _pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
            padding = 0
        else:
            padding = (th // 2, tw // 2)
    p = _pair(padding, "padding", "conv2d")
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"conv2d: stride {s} and dilation {d} must be >= 1, padding {p} >= 0")
    H, W = x.shape[2:]
    Ho = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv2d: the kernel ({kh}, {kw}) with dilation {d} is larger than the "
                         f"padded input ({H + 2 * p[0]}, {W + 2 * p[1]})")
    geo = _Geometry(x.shape, w.shape, s, p, d, groups, (Ho, Wo))
    return _add_bias(Conv2d(geo)(x, w), bias, "conv2d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution: the gradient of conv2d with respect to its input.

    Shapes: input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out) with H_out = (H - 1)s - 2p + d(kh - 1) + output_padding + 1.
    """
    x, w = input, weight
    _check("conv_transpose2d", x, w, w.shape[0] if w.ndim == 4 else -1, groups)
    s, d = _pair(stride, "stride", "conv_transpose2d"), _pair(dilation, "dilation", "conv_transpose2d")
    p = _pair(padding, "padding", "conv_transpose2d")
    op = _pair(output_padding, "output_padding", "conv_transpose2d")
    if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
        raise ValueError(f"conv_transpose2d: output_padding {op} must be smaller than "
                         f"stride {s} or dilation {d}")
    N, Cin, H, W = x.shape
    kh, kw = w.shape[2:]
    Ho = (H - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    Wo = (W - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv_transpose2d: output size ({Ho}, {Wo}) is not positive")
    cout = w.shape[1] * groups
    # Seen from the convolution it is the adjoint of: input (N, C_out, Ho, Wo) -> (N, C_in, H, W),
    # whose weight (C_in, C_out/g, kh, kw) is exactly the transposed conv's weight.
    geo = _Geometry((N, cout, Ho, Wo), w.shape, s, p, d, groups, (H, W))
    return _add_bias(Conv2dInput(geo)(x, w), bias, "conv_transpose2d")
