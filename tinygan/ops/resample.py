"""Resampling images: ``interpolate`` (nearest and bilinear), as ``torch.nn.functional``.

Both modes are linear maps that act on the rows and the columns separately, so
resizing an image is two small matrix products:

    y = A_h @ x @ A_w^T        x: (N, C, H, W),  A_h: (H_out, H),  A_w: (W_out, W)

Row i of A_h says how output row i mixes the input rows: one 1 for 'nearest',
two weights (1 - lambda, lambda) for 'bilinear'.  The modes differ only in how
A is built (``_nearest_matrix``, ``_linear_matrix``), which follows PyTorch's
index conventions exactly (aten/src/ATen/native/UpSample.h).  The gradient is
A_h^T @ gy @ A_w and every higher derivative is again a product with the same
constant matrices, all supplied by ``matmul``.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Tensor
from .math import matmul
from .pair import pair

_MODES = ("nearest", "nearest-exact", "bilinear")


def _scale(n_in: int, n_out: int, scale_factor, dtype) -> np.floating:
    """PyTorch's compute_scales_value: 1 / scale_factor when one was given, else n_in / n_out.

    Computed in ``dtype`` (float32 for float32 images), as PyTorch computes it.
    """
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n_in) / dtype.type(n_out)


def _nearest_matrix(n_in: int, n_out: int, scale_factor, exact: bool) -> np.ndarray:
    """(n_out, n_in) 0/1 matrix: output i copies input src(i).

    'nearest':       src = min(floor(i * scale), n_in - 1), with n_out == n_in and
                     n_out == 2 n_in special-cased (i and i // 2) as PyTorch does.
    'nearest-exact': src = min(floor((i + 0.5) * scale), n_in - 1).
    """
    i = np.arange(n_out)
    f32 = np.dtype(np.float32)                 # PyTorch uses float for nearest, whatever the dtype
    scale = _scale(n_in, n_out, scale_factor, f32)
    if exact:
        src = np.floor((i.astype(f32) + f32.type(0.5)) * scale).astype(np.int64)
    elif n_out == n_in:
        src = i
    elif n_out == 2 * n_in:
        src = i // 2
    else:
        src = np.floor(i.astype(f32) * scale).astype(np.int64)
    src = np.minimum(src, n_in - 1)
    a = np.zeros((n_out, n_in))
    a[i, src] = 1.0
    return a


def _linear_matrix(n_in: int, n_out: int, scale_factor, align_corners: bool, dtype) -> np.ndarray:
    """(n_out, n_in) matrix of linear-interpolation weights (PyTorch's conventions).

    align_corners=True:  src = i * (n_in - 1) / (n_out - 1)   (corner pixels' centers align)
    align_corners=False: src = max((i + 0.5) * scale - 0.5, 0) (pixel areas align; scale as
                         in ``_scale``)
    then i0 = min(floor(src), n_in - 1), i1 = min(i0 + 1, n_in - 1), lambda = src - i0:
    output i = (1 - lambda) x[i0] + lambda x[i1].  When n_out == n_in the dim is copied,
    whatever the scale factor (PyTorch's compute_source_index_and_lambda does so).
    """
    if n_out == n_in:
        return np.eye(n_in, dtype=dtype)
    i = np.arange(n_out).astype(dtype)
    if align_corners:
        scale = dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
        src = scale * i
    else:
        scale = _scale(n_in, n_out, scale_factor, dtype)
        src = np.maximum(scale * (i + dtype.type(0.5)) - dtype.type(0.5), dtype.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = np.clip(src - i0, 0, 1).astype(dtype)
    a = np.zeros((n_out, n_in), dtype=dtype)
    rows = np.arange(n_out)
    np.add.at(a, (rows, i0), 1 - lam)
    np.add.at(a, (rows, i1), lam)          # i1 == i0 at the last pixel: the weights add to 1
    return a


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, H, W) images to (N, C, H_out, W_out).

    Args:
        size: (H_out, W_out) or one int for both.
        scale_factor: a float or a pair; then H_out = floor(H * scale_factor), and the source
            coordinates use 1 / scale_factor (not H / H_out) unless ``recompute_scale_factor``.
        mode: 'nearest' (PyTorch's legacy nearest), 'nearest-exact' or 'bilinear'.
        align_corners: for 'bilinear' (default False); must be None for the nearest modes.
    Exactly one of size and scale_factor must be given.
    """
    if mode not in _MODES:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not supported; use one of {', '.join(_MODES)}")
    if input.ndim != 4:
        raise ValueError(
            f"interpolate: expected 4-D input (N, C, H, W), got shape {tuple(input.shape)}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode == "bilinear":
        align_corners = bool(align_corners)
    elif align_corners is not None:
        raise ValueError(
            "interpolate: align_corners can only be set with the interpolating mode 'bilinear'")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_hw = tuple(input.shape[2:])
    if size is not None:
        out_hw = pair(size, "size", "interpolate")
        scales = (None, None)
    else:
        scales = pair(scale_factor, "scale_factor", "interpolate", real=True)
        if min(scales) <= 0:
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor}")
        out_hw = tuple(int(math.floor(n * s)) for n, s in zip(in_hw, scales))
        if recompute_scale_factor:
            scales = (None, None)
    if min(out_hw) <= 0:
        raise ValueError(
            f"interpolate: the output size {out_hw} must be positive (input {in_hw}, "
            f"size={size}, scale_factor={scale_factor})")
    if input.dtype.kind != "f":
        raise TypeError(f"interpolate: expected a floating point input, got dtype {input.dtype}")

    xp = backend.get_array_module(input.data)
    y = input
    for dim, (n_in, n_out, s) in enumerate(zip(in_hw, out_hw, scales)):
        if mode == "bilinear":
            a = _linear_matrix(n_in, n_out, s, align_corners, np.dtype(input.dtype))
        else:
            a = _nearest_matrix(n_in, n_out, s, exact=(mode == "nearest-exact"))
        if n_in == n_out and np.array_equal(a, np.eye(n_in)):
            continue                                          # identity along this dim
        a = Tensor(xp.asarray(a.astype(input.dtype)))
        # rows: (H_out, H) @ (N, C, H, W); columns: (N, C, H_out, W) @ (W, W_out)
        y = matmul(a, y) if dim == 0 else matmul(y, a.T)
    if y is input:
        y = input * 1.0          # a new tensor, as PyTorch returns (the map is the identity)
    return y
