"""upfirdn2d: upsample, pad, FIR filter, downsample -- StyleGAN2's resampling op, any order.

StyleGAN (Karras et al., 2019) and StyleGAN2 ("Analyzing and Improving the Image Quality
of StyleGAN", 2020) low-pass filter every up- and downsampling with a small FIR filter --
the binomial [1, 3, 3, 1] -- after Zhang, "Making Convolutional Networks Shift-Invariant
Again" (2019), so that resampling does not alias.  One op does it all, with the StyleGAN2
reference code's arguments and meanings:

    upfirdn2d(x, f, up, down, padding, flip_filter, gain)
      1. upsample: insert up - 1 zeros after each pixel (in x and y),
      2. pad with zeros (x0 before, x1 after in x; y0, y1 in y); a negative pad crops,
      3. convolve with the filter f (a true convolution -- f flipped -- unless flip_filter),
         times gain: a 1-D f is applied along x then along y (separable), a 2-D f at once,
      4. downsample: keep every down-th pixel, starting at the first.
    (N, C, H, W) -> (N, C, (H*up_y + y0 + y1 - kh) // down_y + 1, likewise in x).

upsample2d, downsample2d and filter2d are upfirdn2d with the padding that keeps the image
centred, and setup_filter makes a filter (normalized, flipped, scaled, separable or 2-D).
The arithmetic -- strided slice-adds per tap on the CPU, a kernel on a GPU -- is in
``kernels/upfirdn2d.py``.  The filter is a constant: no gradient flows into it.

The derivative.  upfirdn2d is linear in x, so its gradient is its adjoint applied to gy --
and the adjoint is upfirdn2d again.  Along one axis (input length n, up u, down d, pad
p0 and p1, k taps; g the taps as a correlation, g = reversed f unless flip_filter):

    y[o] = sum_t g[t] x[m]   over the t with o*d + t - p0 = m*u          (o < n_out)     (1)

so dL/dx[m] = sum over (o, t) with o*d + t = m*u + p0 of g[t] gy[o].  Now run upfirdn2d
on gy with up d, down u, pad q0, the filter read the other way round (flip_filter
toggled: correlation taps g'[s] = g[k-1-s]); by (1) its output at m is

    sum_s g'[s] gy[o]  over the s with m*u + s - q0 = o*d
    = sum_t g[t] gy[o]  over the t = k-1-s with o*d + t = m*u + (k - 1 - q0),

the adjoint exactly when q0 = k - 1 - p0.  The pad after, q1, is chosen so that the
output has the n entries of x: n_out*d + q0 + q1 - k = (n - 1)*u, i.e.

    q0 = k - 1 - p0,      q1 = n*u - n_out*d + p0 - u + 1.

Terms that q0 or q1 crop away (when negative) are gy entries that no x[m] reads, and
padding only adds zeros, so nothing is lost.  The gain is a scalar and stays.  Swapping
twice gives back (u, d, p0, p1, g), so the gradient of the gradient is upfirdn2d again:
differentiable to any order.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..kernels import upfirdn2d as kernel
from .pair import pair


class Upfirdn2d(Function):
    """y = upfirdn2d(x) for one constant filter f: x (N, C, H, W) -> y (N, C, Ho, Wo).

    ``f``: an array (k,) or (kh, kw) on x's device; ``up``, ``down``: (x, y);
    ``pad``: (x0, x1, y0, y1).  backward: the adjoint, an Upfirdn2d (module docstring).
    """

    def __init__(self, f, up: tuple, down: tuple, pad: tuple, flip_filter: bool, gain: float):
        self.f, self.up, self.down, self.pad = f, up, down, pad
        self.flip_filter, self.gain = flip_filter, gain

    def forward(self, x):
        return kernel.forward(x, self.f, self.up, self.down, self.pad, self.flip_filter,
                              self.gain)

    def backward(self, gy):
        (x,) = self.inputs
        h, w = x.shape[2:]
        ho, wo = gy.shape[2:]
        kh, kw = _filter_size(self.f)
        (ux, uy), (dx, dy), (px0, _, py0, _) = self.up, self.down, self.pad
        pad = (kw - 1 - px0, w * ux - wo * dx + px0 - ux + 1,
               kh - 1 - py0, h * uy - ho * dy + py0 - uy + 1)
        gx = Upfirdn2d(self.f, self.down, self.up, pad, not self.flip_filter, self.gain)(gy)
        assert gx.shape == x.shape, (gx.shape, x.shape)   # by the choice of the pad after
        return gx


def _filter_size(f) -> tuple:
    """(kh, kw) of a (k,) or (kh, kw) filter."""
    return (f.shape[0], f.shape[0]) if f.ndim == 1 else tuple(f.shape)


def _scaling(value, name: str, op: str) -> tuple:
    """up or down as (x, y) integers >= 1."""
    sx, sy = pair(value, name, op, at_least=1)
    return sx, sy


def _padding(padding, op: str) -> tuple:
    """An int, (x, y) or (x0, x1, y0, y1) as (x0, x1, y0, y1); entries may be negative."""
    bad = f"{op}: padding must be an int, (x, y) or (x0, x1, y0, y1), got {padding!r}"
    try:
        n = len(padding)
    except TypeError:
        px, py = pair(padding, "padding", op)
        return px, px, py, py
    if n == 2:
        px, py = pair(padding, "padding", op)
        return px, px, py, py
    if n != 4 or isinstance(padding, str):
        raise ValueError(bad)
    x0, x1 = pair(tuple(padding[:2]), "padding", op)
    y0, y1 = pair(tuple(padding[2:]), "padding", op)
    return x0, x1, y0, y1


def _filter_array(f, x: Tensor, op: str):
    """f (None, a Tensor, an array, a list) as an array of x's dtype on x's device (a filter
    elsewhere is copied, once per call: make it with ``setup_filter(..., device=x.device)``)."""
    xp = backend.get_array_module(x.data)
    if f is None:
        return xp.ones((1, 1), dtype=x.dtype)
    if isinstance(f, Tensor):
        if f.requires_grad:
            raise ValueError(f"{op}: the filter f is a constant here (no gradient flows into "
                             "it), but it requires grad; pass f.detach()")
        f = f.data
    f = backend.to_device(f, x.device)
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError(f"{op}: the filter f must be a non-empty 1-D (separable) or 2-D "
                         f"array, got shape {tuple(f.shape)}")
    if f.dtype.kind not in "fiu":
        raise TypeError(f"{op}: the filter f must hold real numbers, got dtype {f.dtype}")
    return f.astype(x.dtype, copy=False)


def _gain(gain, op: str) -> float:
    if isinstance(gain, (bool, np.bool_)) or not isinstance(gain, numbers.Real):
        raise TypeError(f"{op}: gain must be a real number, got {gain!r}")
    return float(gain)


def upfirdn2d(x: Tensor, f, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1) -> Tensor:
    """Upsample, pad, filter and downsample a batch of images (see the module docstring).

    Args:
        x: (N, C, H, W) floats.
        f: the filter, (k,) separable or (kh, kw), a constant (Tensor without grad, array);
            None means [[1]].
        up, down: integers >= 1, or (x, y) pairs.
        padding: an int, (x, y), or (x0, x1, y0, y1); negative values crop.
        flip_filter: False: a true convolution (f flipped); True: a correlation.
        gain: the output is multiplied by it.
    Returns:
        (N, C, (H*up_y + y0 + y1 - kh) // down_y + 1, (W*up_x + x0 + x1 - kw) // down_x + 1).
    """
    op = "upfirdn2d"
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got "
                         f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point x, got dtype {x.dtype}")
    up, down = _scaling(up, "up", op), _scaling(down, "down", op)
    pad = _padding(padding, op)
    f = _filter_array(f, x, op)
    kh, kw = _filter_size(f)
    h, w = x.shape[2:]
    ph, pw = h * up[1] + pad[2] + pad[3], w * up[0] + pad[0] + pad[1]
    if ph < kh or pw < kw:
        raise ValueError(
            f"{op}: the filter of size (kh, kw) = {(kh, kw)} is larger than the upsampled and "
            f"padded input ({ph}, {pw}) (x of shape {tuple(x.shape)}, up={up}, padding={pad} "
            "as (x0, x1, y0, y1)): the output would be empty")
    return Upfirdn2d(f, up, down, pad, bool(flip_filter), _gain(gain, op))(x)


def setup_filter(f, normalize: bool = True, flip_filter: bool = False, gain: float = 1,
                 separable: bool | None = None, device=None) -> Tensor:
    """A filter for upfirdn2d from a list or array of taps (the StyleGAN2 reference's rules).

    Args:
        f: the taps: a number, (k,) or (kh, kw); None means [1].
        normalize: divide by the sum of the taps (a 2-D filter's sum after the outer product).
        flip_filter: reverse the taps along every axis.
        gain: the overall gain: a 2-D filter is multiplied by it, each pass of a separable
            one by its square root.
        separable: keep a 1-D f 1-D (applied along x then y); None: only when it has 8 or
            more taps (the reference's rule); False makes the outer product f f^T.
        device: where the filter lives (that of the images it will filter).
    Returns:
        a float32 Tensor, (k,) when separable, else (kh, kw).
    """
    op = "setup_filter"
    a = np.asarray([1.0] if f is None else (f.data if isinstance(f, Tensor) else f))
    a = np.asarray(backend.to_device(a, "cpu"), dtype=np.float32)
    if a.ndim == 0:
        a = a[np.newaxis]
    if a.ndim not in (1, 2) or a.size == 0:
        raise ValueError(f"{op}: expected a non-empty number, (k,) or (kh, kw) filter, "
                         f"got shape {a.shape}")
    if separable is None:
        separable = a.ndim == 1 and a.size >= 8
    if a.ndim == 1 and not separable:
        a = np.outer(a, a)
    if separable and a.ndim != 1:
        raise ValueError(f"{op}: separable=True needs a 1-D filter, got shape {a.shape}")
    if normalize:
        total = a.sum()
        if total == 0:
            raise ValueError(f"{op}: can't normalize a filter whose taps sum to 0: {a.tolist()}")
        a = a / total
    if flip_filter:
        a = a[(slice(None, None, -1),) * a.ndim]
    a = (a * np.float32(_gain(gain, op) ** (a.ndim / 2))).astype(np.float32)
    return Tensor(backend.to_device(np.ascontiguousarray(a), device))


def _size_of(f) -> tuple:
    """(kw, kh) of a filter given as None, a Tensor, an array or a list."""
    if f is None:
        return 1, 1
    shape = np.shape(f.data if isinstance(f, Tensor) else f)
    if len(shape) not in (1, 2):
        return 1, 1          # upfirdn2d itself names the bad filter
    return (shape[0], shape[0]) if len(shape) == 1 else (shape[1], shape[0])


def upsample2d(x: Tensor, f, up=2, padding=0, flip_filter: bool = False, gain: float = 1) -> Tensor:
    """Upsample by ``up`` (int or (x, y)) with the filter f: (N, C, H, W) -> (N, C, H*up_y,
    W*up_x) plus the padding.  The gain is multiplied by up_x * up_y, since zero insertion
    leaves one pixel in up_x * up_y: a normalized f then keeps the image's mean."""
    op = "upsample2d"
    ux, uy = _scaling(up, "up", op)
    x0, x1, y0, y1 = _padding(padding, op)
    kw, kh = _size_of(f)
    # The pads that centre the filter on the upsampled grid: k + u - 1 more pixels in all,
    # so that (n*u + pads - k) // 1 + 1 = n*u.
    pad = (x0 + (kw + ux - 1) // 2, x1 + (kw - ux) // 2,
           y0 + (kh + uy - 1) // 2, y1 + (kh - uy) // 2)
    return _named(op, lambda: upfirdn2d(x, f, up=(ux, uy), padding=pad, flip_filter=flip_filter,
                                         gain=_gain(gain, op) * ux * uy))


def downsample2d(x: Tensor, f, down=2, padding=0, flip_filter: bool = False,
                 gain: float = 1) -> Tensor:
    """Filter with f, then keep every ``down``-th pixel (int or (x, y)): (N, C, H, W) ->
    (N, C, H // down_y, W // down_x) for even-sized images, plus the padding."""
    op = "downsample2d"
    dx, dy = _scaling(down, "down", op)
    x0, x1, y0, y1 = _padding(padding, op)
    kw, kh = _size_of(f)
    # The pads that centre the filter on the kept pixels: k - down more pixels in all.
    pad = (x0 + (kw - dx + 1) // 2, x1 + (kw - dx) // 2,
           y0 + (kh - dy + 1) // 2, y1 + (kh - dy) // 2)
    return _named(op, lambda: upfirdn2d(x, f, down=(dx, dy), padding=pad, flip_filter=flip_filter,
                                        gain=gain))


def filter2d(x: Tensor, f, padding=0, flip_filter: bool = False, gain: float = 1) -> Tensor:
    """Filter with f, keeping the image's size (plus the padding): 'same' padding, with the
    extra pixel of an even filter before."""
    op = "filter2d"
    x0, x1, y0, y1 = _padding(padding, op)
    kw, kh = _size_of(f)
    pad = (x0 + kw // 2, x1 + (kw - 1) // 2, y0 + kh // 2, y1 + (kh - 1) // 2)
    return _named(op, lambda: upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain))


def _named(op: str, call):
    """Run upfirdn2d for ``op``, its errors named after op (the function the user called)."""
    try:
        return call()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        if msg.startswith("upfirdn2d:"):
            detail = msg[len("upfirdn2d:"):].lstrip()
            raise type(exc)(f"{op}: {detail} (in upfirdn2d)") from None
        raise
