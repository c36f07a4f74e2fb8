"""2-D pooling: avg_pool2d and max_pool2d, with PyTorch's signatures and output sizes.

Both look at the same windows: output pixel (i, j) sees the input pixels

    x[:, :, i * stride + a * dilation - padding, j * stride + b * dilation - padding]

for kernel offsets a < kh, b < kw.  Two strided views of the (padded) input
give all of them at once, without copying or looping over pixels:

* ``windows``: ``numpy.lib.stride_tricks.as_strided`` makes a view of shape
  (N, C, H_out, W_out, kh, kw) -- one window per output pixel.  Max pooling
  takes the argmax over each window.
* ``offset_view(a, b)``: the basic slice ``x[:, :, a::stride, b::stride]``
  (trimmed to H_out x W_out) holds, for every output pixel, its window's
  element at offset (a, b).  Average pooling adds these kh * kw views, which
  is several times faster in NumPy than reducing the 6-D window view.

Gradients.  Average pooling is linear, x -> S(x) / D with S the window sums and
D the divisor, so its backward is the adjoint S^T(gy / D) -- spreading each
output gradient back over its window -- and the adjoint of that is average
pooling again.  Max pooling is a gather: find the largest element of each
window and remember where it was; its backward scatters gy to those positions
(adding up where windows overlap), and the derivative of a scatter is the
gather at the same positions.  So every derivative order is a pooling, a spread, a gather or
a scatter, each a Function below.  Where the maxima lie is a piecewise-constant function
of x, so max pooling's gradient depends on x with derivative zero: its scatter takes x as
an input with a zero gradient, as PyTorch's max_pool2d_with_indices_backward takes the
input -- so the gradient requires grad exactly when PyTorch's does.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from .math import zero_gradient
from .pair import pair
from .shape import reshape


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool, op: str) -> int:
    """PyTorch's pooling_output_shape: floor (or ceil) of (size + 2p - d(k-1) - 1) / s, plus 1.

    In ceil mode the last window must still start inside the input or its left padding.
    """
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    if out <= 0:
        raise ValueError(
            f"{op}: the output would be empty: input size {size} with kernel {k}, stride {s}, "
            f"padding {p}, dilation {d}"
        )
    return out


def _window(kernel_size, stride, padding, dilation, op: str) -> tuple:
    """The (h, w) pairs of a pooling's window; ``stride`` None (or ``[]``, as PyTorch) is the kernel."""
    kernel = pair(kernel_size, "kernel_size", op, at_least=1)
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        stride = kernel
    return (kernel, pair(stride, "stride", op, at_least=1),
            pair(padding, "padding", op, at_least=0), pair(dilation, "dilation", op, at_least=1))


class _Geometry:
    """Where the windows of a 2-D pooling lie: sizes, strides, paddings per dim (h, w)."""

    def __init__(self, in_hw, kernel, stride, padding, dilation, ceil_mode, op):
        self.in_hw, self.kernel, self.stride = in_hw, kernel, stride
        self.padding, self.dilation = padding, dilation
        for k, p, d in zip(kernel, padding, dilation):
            if p > (d * (k - 1) + 1) // 2:
                raise ValueError(
                    f"{op}: padding should be at most half of the effective kernel size, "
                    f"got padding={padding}, kernel_size={kernel}, dilation={dilation}"
                )
        self.out_hw = tuple(_out_size(n, k, s, p, d, ceil_mode, op)
                            for n, k, s, p, d in zip(in_hw, kernel, stride, padding, dilation))
        # Padding on the far side: up to the end of the last window (more than ``padding``
        # in ceil mode, possibly less otherwise).
        self.far = tuple(max(0, (o - 1) * s + d * (k - 1) + 1 - n - p)
                         for n, o, k, s, p, d in zip(in_hw, self.out_hw, kernel, stride, padding,
                                                     dilation))

    def pad(self, x, value):
        """x (N, C, H, W) padded to hold every window."""
        xp = backend.get_array_module(x)
        (ph, pw), (fh, fw) = self.padding, self.far
        if not (ph or pw or fh or fw):
            return x
        return xp.pad(x, ((0, 0), (0, 0), (ph, fh), (pw, fw)), constant_values=value)

    def windows(self, xpad):
        """View (N, C, H_out, W_out, kh, kw) of the padded input: one window per output pixel."""
        xp = backend.get_array_module(xpad)
        (sh, sw), (dh, dw) = self.stride, self.dilation
        n, c, s_h, s_w = xpad.strides[0], xpad.strides[1], xpad.strides[2], xpad.strides[3]
        return xp.lib.stride_tricks.as_strided(
            xpad, xpad.shape[:2] + self.out_hw + self.kernel,
            (n, c, s_h * sh, s_w * sw, s_h * dh, s_w * dw))

    def offset_view(self, xpad, a: int, b: int):
        """View (N, C, H_out, W_out) of the padded input: each window's element at offset (a, b)."""
        (oh, ow), (sh, sw), (dh, dw) = self.out_hw, self.stride, self.dilation
        return xpad[:, :, a * dh:a * dh + sh * (oh - 1) + 1:sh, b * dw:b * dw + sw * (ow - 1) + 1:sw]

    def positions(self, dim: int):
        """(out, k) input coordinates i * stride + a * dilation - padding along dim 0 (h) or 1 (w)."""
        o, k = self.out_hw[dim], self.kernel[dim]
        s, d, p = self.stride[dim], self.dilation[dim], self.padding[dim]
        return np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - p


# -- average pooling ------------------------------------------------------------------------
def _avg_divisor(g: _Geometry, count_include_pad: bool, divisor_override, xp, dtype):
    """(H_out, W_out) divisor of each window, as PyTorch counts it.

    count_include_pad: the window's cells inside the padded input [-p, n + p) (cells beyond
    that, which only ceil mode reaches, never count); otherwise only cells inside the input.
    """
    if divisor_override is not None:
        return xp.full(g.out_hw, float(divisor_override), dtype=dtype)
    counts = []
    for dim in (0, 1):
        pos, n, p = g.positions(dim), g.in_hw[dim], g.padding[dim]
        lo, hi = (-p, n + p) if count_include_pad else (0, n)
        counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return xp.asarray(np.outer(counts[0], counts[1]).astype(dtype))


class AvgPool2d(Function):
    """y = S(x) / D: window sums divided by the per-window divisor D (H_out, W_out).

    Linear in x, so dL/dx is the adjoint S^T(gy / D) (``AvgPool2dBackward``).
    """

    def __init__(self, geometry: _Geometry, divisor):
        self.g, self.divisor = geometry, divisor

    def forward(self, x):
        g = self.g
        xpad = g.pad(x, 0)
        total = g.offset_view(xpad, 0, 0).copy()
        for a in range(g.kernel[0]):                # kh * kw strided views, not H * W pixels
            for b in range(g.kernel[1]):
                if a or b:
                    total += g.offset_view(xpad, a, b)
        return (total / self.divisor).astype(x.dtype, copy=False)

    def backward(self, gy):
        return AvgPool2dBackward(self.g, self.divisor)(gy)


class AvgPool2dBackward(Function):
    """gx = S^T(gy / D): each output gradient spread evenly over its window (linear in gy)."""

    def __init__(self, geometry: _Geometry, divisor):
        self.g, self.divisor = geometry, divisor

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        g = self.g
        (h, w), (ph, pw), (fh, fw) = g.in_hw, g.padding, g.far
        gxpad = xp.zeros(gy.shape[:2] + (ph + h + fh, pw + w + fw), dtype=gy.dtype)
        share = gy / self.divisor
        for a in range(g.kernel[0]):                # kh * kw strided views, not H * W pixels
            for b in range(g.kernel[1]):
                g.offset_view(gxpad, a, b)[...] += share
        return gxpad[:, :, ph:ph + h, pw:pw + w]

    def backward(self, ggx):
        # The adjoint of S^T(. / D) is S(.) / D: average pooling again.
        return AvgPool2d(self.g, self.divisor)(ggx)


def _batched(input: Tensor, op: str):
    """Accept (N, C, H, W) or unbatched (C, H, W); return the 4-D tensor and an undo function."""
    if input.ndim == 4:
        return input, lambda y: y
    if input.ndim == 3:
        return reshape(input, (1,) + input.shape), lambda y: reshape(y, y.shape[1:])
    raise ValueError(f"{op}: expected input of shape (N, C, H, W) or (C, H, W), "
                     f"got {tuple(input.shape)}")


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Average over kh x kw windows: (N, C, H, W) -> (N, C, H_out, W_out).

    H_out = floor((H + 2 padding - kh) / stride) + 1 (ceil in ceil mode); stride defaults
    to the kernel size.  Zero padding counts in the average unless ``count_include_pad=False``.
    """
    op = "avg_pool2d"
    x, unbatch = _batched(input, op)
    kernel, stride, padding, _ = _window(kernel_size, stride, padding, 1, op)
    g = _Geometry(x.shape[2:], kernel, stride, padding, (1, 1), ceil_mode, op)
    xp = backend.get_array_module(x.data)
    divisor = _avg_divisor(g, count_include_pad, divisor_override, xp, x.dtype)
    return unbatch(AvgPool2d(g, divisor)(x))


# -- max pooling ------------------------------------------------------------------------------
def _window_max(x, g: _Geometry):
    """Each window's maximum (N, C, H_out, W_out) and its position h * W + w in its plane (int64).

    As PyTorch's CPU kernel: the first maximum wins ties, and NaN beats everything -- the
    last NaN of a window wins, since each NaN replaces the running maximum.
    """
    xp = backend.get_array_module(x)
    kh, kw = g.kernel
    win = g.windows(g.pad(x, -np.inf))
    win = win.reshape(win.shape[:4] + (kh * kw,))          # a copy: one row per output pixel
    arg = win.argmax(axis=-1)                              # the first max, or the first NaN
    y = xp.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    nan = xp.isnan(y)
    if bool(nan.any()):
        arg[nan] = (kh * kw - 1) - xp.isnan(win[nan][:, ::-1]).argmax(axis=-1)   # the last NaN
    # Cell k = a * kw + b of window (i, j) lies at start(i, j) + offset(k) in the plane.
    (h, w), (sh, sw), (dh, dw), (ph, pw) = g.in_hw, g.stride, g.dilation, g.padding
    start_r, start_c = np.arange(g.out_hw[0]) * sh - ph, np.arange(g.out_hw[1]) * sw - pw
    start = start_r[:, None] * w + start_c[None, :]
    offset = (np.arange(kh)[:, None] * (dh * w) + np.arange(kw)[None, :] * dw).reshape(-1)
    index = xp.asarray(start) + xp.asarray(offset)[arg]
    if any(g.padding) or any(g.far):
        # A padding cell wins only if every cell of its window is -inf; PyTorch then points
        # at the window's first cell inside the input.
        lost = xp.isneginf(y)
        if bool(lost.any()):
            first_r = np.where(start_r < 0, start_r + (-start_r + dh - 1) // dh * dh, start_r)
            first_c = np.where(start_c < 0, start_c + (-start_c + dw - 1) // dw * dw, start_c)
            index = xp.where(lost, xp.asarray(first_r[:, None] * w + first_c[None, :]), index)
    return y, index.astype(np.int64, copy=False)


class MaxPool2d(Function):
    """y = the maximum of each window; ``self.index`` remembers where each one came from.

    dy/dx = 1 at each window's maximum, 0 elsewhere: the backward scatters gy to the
    positions in ``index`` (``_PlaneScatter``), adding up where windows overlap.
    """

    def __init__(self, geometry: _Geometry):
        self.g = geometry

    def forward(self, x):
        self.in_shape = x.shape
        y, self.index = _window_max(x, self.g)
        return y

    def backward(self, gy):
        return _PlaneScatter(self.index, self.in_shape)(gy, self.inputs[0])


class _PlaneScatter(Function):
    """gx[n, c].flat[index[n, c, i, j]] += gy[n, c, i, j]: each gradient back to its maximum.

    As max pooling's backward it takes the pooled input x too, which ``index`` is a
    piecewise-constant function of: its derivative in x is zero (module docstring).
    """

    def __init__(self, index, in_shape: tuple):
        self.index, self.in_shape = index, in_shape

    def forward(self, gy, x=None):
        xp = backend.get_array_module(gy)
        n, c, h, w = self.in_shape
        # Index into the flattened (N * C * H * W) array; windows may overlap, so add up.
        flat_index = (xp.arange(n * c).reshape(n, c, 1, 1) * (h * w) + self.index).reshape(-1)
        gx = xp.zeros(n * c * h * w, dtype=gy.dtype)
        backend.scatter_add(gx, flat_index, gy.reshape(-1))
        return gx.reshape(self.in_shape)

    def backward(self, ggx):
        ggy = _PlaneGather(self.index)(ggx)
        return ggy if len(self.inputs) == 1 else (ggy, zero_gradient(self.inputs[1]))


class _PlaneGather(Function):
    """The adjoint of ``_PlaneScatter``: y[n, c, i, j] = x[n, c].flat[index[n, c, i, j]]."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        n, c = x.shape[:2]
        flat = x.reshape(n * c, -1)
        rows = backend.get_array_module(x).arange(n * c)[:, None]
        return flat[rows, self.index.reshape(n * c, -1)].reshape(self.index.shape)

    def backward(self, gy):
        return _PlaneScatter(self.index, self.inputs[0].shape)(gy)


class MaxPoolBlocks(Function):
    """Max pooling over non-overlapping kh x kw blocks (kernel = stride, no padding): the common case.

    Cell (a, b) of every block is the strided view ``x[:, :, a::kh, b::kw]``, so the
    maximum is kh*kw elementwise ``maximum``s of views -- no window copy, no argmax.
    The backward sends each gradient to the first maximum of its block (PyTorch's
    rule for ties, which are common after a ReLU) through constant 0/1 masks, one
    per cell: ``_BlockSpread`` and its adjoint ``_BlockGather``.
    """

    def __init__(self, kernel: tuple):
        self.kernel = kernel

    def forward(self, x):
        xp = backend.get_array_module(x)
        cells = _block_cells(x, self.kernel)
        y = cells[0].copy()                   # a fresh array, even for 1 x 1 blocks
        for c in cells[1:]:
            y = xp.maximum(y, c)              # the running maximum over the block's cells
        taken = xp.zeros(y.shape, dtype=bool)
        self.masks = []
        for c in cells:                       # row-major order: the first maximum wins
            first = (c == y) & ~taken
            taken |= first
            self.masks.append(first.astype(x.dtype))
        return y

    def backward(self, gy):
        return _BlockSpread(self.masks, self.kernel)(gy, self.inputs[0])


def _block_cells(x, kernel) -> list:
    kh, kw = kernel
    return [x[:, :, a::kh, b::kw] for a in range(kh) for b in range(kw)]


class _BlockSpread(Function):
    """gx[:, :, a::kh, b::kw] = mask_ab * gy: each gradient to its block's maximum.

    As max pooling's backward it takes the pooled input x too, which the masks are
    piecewise-constant functions of: its derivative in x is zero (module docstring).
    """

    def __init__(self, masks, kernel):
        self.masks, self.kernel = masks, kernel

    def forward(self, gy, x=None):
        xp = backend.get_array_module(gy)
        (kh, kw), (n, c, ho, wo) = self.kernel, gy.shape
        gx = xp.empty((n, c, ho * kh, wo * kw), dtype=gy.dtype)
        for cell, mask in zip(_block_cells(gx, self.kernel), self.masks):
            cell[...] = gy * mask             # every cell of gx is written: the blocks tile it
        return gx

    def backward(self, ggx):
        ggy = _BlockGather(self.masks, self.kernel)(ggx)
        return ggy if len(self.inputs) == 1 else (ggy, zero_gradient(self.inputs[1]))


class _BlockGather(Function):
    """The adjoint of ``_BlockSpread``: y = sum over cells of mask_ab * x[:, :, a::kh, b::kw]."""

    def __init__(self, masks, kernel):
        self.masks, self.kernel = masks, kernel

    def forward(self, x):
        cells = _block_cells(x, self.kernel)
        y = cells[0] * self.masks[0]
        for cell, mask in zip(cells[1:], self.masks[1:]):
            y += cell * mask
        return y

    def backward(self, gy):
        return _BlockSpread(self.masks, self.kernel)(gy)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Maximum over kh x kw windows: (N, C, H, W) -> (N, C, H_out, W_out).

    H_out = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1 (ceil in ceil mode);
    stride defaults to the kernel size; padding is -inf.  With ``return_indices`` also
    returns the int64 positions h * W + w of the maxima in each plane (as PyTorch).
    """
    op = "max_pool2d"
    x, unbatch = _batched(input, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got dtype {x.dtype}")
    kernel, stride, padding, dilation = _window(kernel_size, stride, padding, dilation, op)
    if (stride == kernel and padding == (0, 0) and dilation == (1, 1) and not return_indices
            and x.shape[2] % kernel[0] == 0 and x.shape[3] % kernel[1] == 0):
        return unbatch(MaxPoolBlocks(kernel)(x))
    g = _Geometry(x.shape[2:], kernel, stride, padding, dilation, ceil_mode, op)
    fn = MaxPool2d(g)
    y = unbatch(fn(x))
    if return_indices:
        return y, Tensor(fn.index if input.ndim == 4 else fn.index[0])
    return y
