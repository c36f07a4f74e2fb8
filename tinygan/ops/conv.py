"""2-D convolution and transposed convolution, differentiable to any order.

The arithmetic -- im2col + GEMM -- lives in kernels/im2col.py (beside its plain
twin in kernels/reference.py).  This file is about derivatives.

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

Saving work, not exactness: y = conv(x, w) and gw = conv_weight(x, gy) both
multiply by the patch matrix of x.  When both will run, the two Functions are
given one ``im2col.KeptCols`` holder (``KeptCols.shared_by``; None otherwise):
whether anything is kept in it, and how it is used once and dropped, is the
kernels' business (``im2col.conv_keeping``, ``im2col.conv_weight_kept``).  Conv2dWeight is still an ordinary Function of
(x, gy) with its own backward, so every derivative is unchanged.
"""
from __future__ import annotations

from ..autograd import Function, Tensor, is_grad_enabled
from ..kernels import elementwise
from ..kernels.im2col import Geometry, KeptCols, conv_input, conv_keeping, conv_weight_kept
from .pair import pair
from .shape import reshape, sum_to


class Conv2d(Function):
    """y = conv(x, w): x (N, C, H, W), w (O, C/g, kh, kw) -> y (N, O, Ho, Wo).

        y[n, o, ho, wo] = sum over c, i, j of w[o, c, i, j] x_pad[n, c, ho*s + i*d, wo*s + j*d]

    (with g groups, c runs over the C/g channels of o's group).

    forward: im2col + GEMM.  backward: gx = the transposed convolution of gy,
    gw = the weight gradient, each itself a Function (so derivatives of any order).

    ``kept``: the ``im2col.KeptCols`` this x's weight gradient will read, or None.
    """

    def __init__(self, geo: Geometry, kept: KeptCols | None = None):
        self.geo, self.kept = geo, kept

    @property
    def saved(self):
        """The patch matrix kept from the forward pass for the weight gradient, or None."""
        return None if self.kept is None else self.kept.cols

    def forward(self, x, w):
        return conv_keeping(x, w, self.geo, self.kept)

    def backward(self, gy):
        x, w = self.inputs
        gx = Conv2dInput(self.geo)(gy, w) if self.needs_input_grad[0] else None
        gw = Conv2dWeight(self.geo, w.shape, self.kept)(x, gy) if self.needs_input_grad[1] else None
        return gx, gw

    def _release(self) -> None:
        super()._release()
        self.kept = None


class Conv2dInput(Function):
    """gx = conv_input(gy, w): the adjoint of conv in x, i.e. the transposed convolution.

        gx[n, c, h, w] = sum over o, i, j with h = ho*s + i*d - p (and likewise w)
                         of w[o, c, i, j] gy[n, o, ho, wo]
    """

    def __init__(self, geo: Geometry):
        self.geo = geo

    def forward(self, gy, w):
        return conv_input(gy, w, self.geo)

    def backward(self, g):
        gy, w = self.inputs
        kept = KeptCols.shared_by(*self.needs_input_grad)      # both read the cols of g
        ggy = Conv2d(self.geo, kept)(g, w) if self.needs_input_grad[0] else None
        gw = Conv2dWeight(self.geo, w.shape, kept)(g, gy) if self.needs_input_grad[1] else None
        return ggy, gw


class Conv2dWeight(Function):
    """gw = conv_weight(x, gy) = sum over n, ho, wo of gy * (the patch of x under the kernel).

        gw[o, c, i, j] = sum over n, ho, wo of gy[n, o, ho, wo] x_pad[n, c, ho*s + i*d, wo*s + j*d]

    ``kept``: the ``im2col.KeptCols`` of the Conv2d whose x this is, or None.
    """

    def __init__(self, geo: Geometry, w_shape: tuple, kept: KeptCols | None = None):
        self.geo, self.w_shape, self.kept = geo, w_shape, kept

    def forward(self, x, gy):
        kept, self.kept = self.kept, None
        return conv_weight_kept(x, gy, self.geo, self.w_shape, kept)

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


class AddBias(Function):
    """y + bias[c] on every channel c (axis 1) of a convolution's output, written into y.

    d/dy = 1 (the gradient passes through); dL/dbias[c] = sum of gy over all but axis 1.

    y is the array the convolution has just made: nothing else holds it, and neither
    backward reads it (the convolution's needs x and w, this one nothing), so adding in
    place saves allocating and writing a second output-sized array.
    """

    def forward(self, y, b):
        return elementwise.add_channel_bias_(y, b)      # y[:, c] += b[c], in place

    def backward(self, gy):
        b = self.inputs[1]
        return gy, (sum_to(gy, (1, b.shape[0], 1, 1)).reshape(b.shape)
                    if self.needs_input_grad[1] else None)


def _add_bias(y: Tensor, bias, op: str) -> Tensor:
    if bias is None:
        return y
    if bias.shape != (y.shape[1],):
        raise ValueError(f"{op}: bias has shape {tuple(bias.shape)} but the output has "
                         f"{y.shape[1]} channels")
    if bias.dtype != y.dtype:
        return y + reshape(bias, (1, -1, 1, 1))    # type promotion: a new array after all
    return AddBias()(y, bias)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every framework).

    Shapes: input (N, C_in, H, W), weight (C_out, C_in/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out) with H_out = (H + 2p - d(kh - 1) - 1) // s + 1.
    ``padding`` may also be ``"valid"`` (0) or ``"same"`` (stride 1 only).
    """
    x, w = input, weight
    _check("conv2d", x, w, w.shape[1] * groups if w.ndim == 4 else -1, groups)
    s = pair(stride, "stride", "conv2d", at_least=1)
    d = pair(dilation, "dilation", "conv2d", at_least=1)
    kh, kw = w.shape[2:]
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"conv2d: padding must be 'valid', 'same', an int or a pair of ints, "
                             f"got {padding!r}")
        if padding == "same" and s != (1, 1):
            raise ValueError("conv2d: padding='same' needs stride 1")
        th, tw = (d[0] * (kh - 1), d[1] * (kw - 1)) if padding == "same" else (0, 0)
        if th % 2 or tw % 2:   # asymmetric: pad the extra row/column explicitly, as PyTorch does
            from .shape import pad as _pad
            x = _pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
            padding = 0
        else:
            padding = (th // 2, tw // 2)
    p = pair(padding, "padding", "conv2d", at_least=0)
    H, W = x.shape[2:]
    Ho = (H + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv2d: the kernel ({kh}, {kw}) with dilation {d} is larger than the "
                         f"padded input ({H + 2 * p[0]}, {W + 2 * p[1]})")
    geo = Geometry(x.shape, w.shape, s, p, d, groups, (Ho, Wo))
    kept = KeptCols.shared_by(True, is_grad_enabled() and w.requires_grad)   # w's gradient reads x's cols
    return _add_bias(Conv2d(geo, kept)(x, w), bias, "conv2d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution: the gradient of conv2d with respect to its input.

    Shapes: input (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,)
    -> (N, C_out, H_out, W_out) with H_out = (H - 1)s - 2p + d(kh - 1) + output_padding + 1.
    """
    x, w = input, weight
    _check("conv_transpose2d", x, w, w.shape[0] if w.ndim == 4 else -1, groups)
    s = pair(stride, "stride", "conv_transpose2d", at_least=1)
    d = pair(dilation, "dilation", "conv_transpose2d", at_least=1)
    p = pair(padding, "padding", "conv_transpose2d", at_least=0)
    op = pair(output_padding, "output_padding", "conv_transpose2d", at_least=0)
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
    geo = Geometry((N, cout, Ho, Wo), w.shape, s, p, d, groups, (H, W))
    return _add_bias(Conv2dInput(geo)(x, w), bias, "conv_transpose2d")
