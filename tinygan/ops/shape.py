"""Shape ops: reshape, permute, broadcast, indexing, concatenation, splitting, padding.

None of these change values, only where they sit, so every backward is another
shape op that puts the gradient back where the value came from: reshape undoes
reshape, permute by the inverse permutation undoes permute, ``sum_to`` undoes
broadcasting, and scattering into zeros (``IndexBackward``) undoes indexing.
Since those are Functions too, gradients of any order come out right.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..kernels.elementwise import channel_sums


def _normalize_dim(dim: int, ndim: int, op: str) -> int:
    span = max(ndim, 1)      # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    if not -span <= dim < span:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % span


# -- reshape ------------------------------------------------------------------
class Reshape(Function):
    """y = x's elements in C order in a new shape; the gradient is gy reshaped back."""

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except (ValueError, TypeError):
            _check_reshape(x.shape, self.shape)   # say why, naming both shapes
            raise

    def backward(self, gy):
        return Reshape(self.in_shape)(gy)


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x: Tensor, *shape) -> Tensor:
    """Same data, new shape (one entry may be -1)."""
    shape = _shape_args(shape)
    if x.shape == shape:
        return x
    return Reshape(shape)(x)


def _check_reshape(old: tuple, shape: tuple) -> None:
    """Raise a ValueError naming both shapes when ``old`` can't be viewed as ``shape``."""
    n = 1
    for s in old:
        n *= s
    bad = f"reshape: shape {tuple(shape)} is invalid for input of shape {tuple(old)} ({n} elements)"
    if any(not isinstance(s, (int, np.integer)) or s < -1 for s in shape):
        raise ValueError(bad + ": sizes must be non-negative ints or a single -1")
    if sum(1 for s in shape if s == -1) > 1:
        raise ValueError(bad + ": only one dim can be -1")
    known = 1
    for s in shape:
        if s != -1:
            known *= int(s)
    if -1 in shape:
        if known == 0 or n % known:
            raise ValueError(bad + f": {n} is not a multiple of {known}")
    elif known != n:
        raise ValueError(bad + f": the new shape has {known} elements")


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) for start_dim=1."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s = _normalize_dim(start_dim, x.ndim, "flatten")
    e = _normalize_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1:])


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Drop dims of size 1 (all of them, or only ``dim`` if it has size 1)."""
    if dim is None:
        return reshape(x, tuple(d for d in x.shape if d != 1))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = {_normalize_dim(d, x.ndim, "squeeze") for d in dims}
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if not (i in dims and d == 1)))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim`` (which may be ``x.ndim``: appended at the end)."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of {x.ndim} dimensions")
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


# -- permute ------------------------------------------------------------------
class Permute(Function):
    """y = x with its axes reordered (y's axis i is x's axis ``axes[i]``); the gradient is gy
    permuted by the inverse permutation."""

    def __init__(self, axes: tuple):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        inverse = [0] * len(self.axes)       # axis i went to place j: it comes back from j
        for j, i in enumerate(self.axes):
            inverse[i] = j
        return Permute(tuple(inverse))(gy)


def permute(x: Tensor, *dims) -> Tensor:
    """Reorder the dims: output dim i is input dim ``dims[i]``."""
    dims = _shape_args(dims)
    n = x.ndim
    # Range-check each dim first: wrapping (d % ndim) alone would let (0, 3) pass as (0, 1).
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"permute: dim {d} is out of range for a tensor of {n} dimensions")
    axes = tuple([d % n for d in dims])
    if sorted(axes) != list(range(n)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {n} dims of the input")
    if axes == tuple(range(n)):
        return x
    return Permute(axes)(x)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    d0 = _normalize_dim(dim0, x.ndim, "transpose")
    d1 = _normalize_dim(dim1, x.ndim, "transpose")
    if d0 == d1:             # (also the 0-d tensor, whose dims 0 and -1 name the tensor itself)
        return x
    axes = list(range(x.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute(tuple(axes))(x)


def swap_last_dims(x: Tensor) -> Tensor:
    """x with its last two dims swapped (x must have at least 2): a matrix transposed."""
    n = x.ndim
    return Permute(tuple(range(n - 2)) + (n - 1, n - 2))(x)


# -- broadcasting -----------------------------------------------------------------
class BroadcastTo(Function):
    """y = x repeated along the axes broadcast to ``shape``; its adjoint sums the gradient back
    (``SumTo``)."""

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        xp = backend.get_array_module(x)
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class SumTo(Function):
    """y = x summed over the axes broadcasting added or stretched, down to ``shape``: the
    adjoint of broadcasting, so its gradient is gy broadcast back (``BroadcastTo``)."""

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(self.shape) if s == 1 and x.shape[i + lead] != 1
        )
        if axes and _per_channel(x, axes):
            y = channel_sums(x).reshape((1, -1) + (1,) * (x.ndim - 2))
        else:
            y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


def _per_channel(x, axes: tuple) -> bool:
    """A sum over every axis but 1 of a NumPy float array: a bias's gradient (N, C, H, W) -> C."""
    return (type(x) is np.ndarray and x.ndim >= 3 and x.dtype in (np.float32, np.float64)
            and axes == (0,) + tuple(range(2, x.ndim)))


def broadcast_to(x: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return BroadcastTo(shape)(x)


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum over the dims that broadcasting added or stretched, leaving ``shape``."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


def expand(x: Tensor, *sizes) -> Tensor:
    """Broadcast to ``sizes`` without copying; -1 keeps a dim's size (as ``torch.Tensor.expand``)."""
    sizes = _shape_args(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: the number of sizes {len(sizes)} is less than the input's {x.ndim} dims")
    shape = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for a new leading dim (sizes {sizes})")
            s = x.shape[i - lead]
        elif i >= lead and x.shape[i - lead] not in (1, s):
            raise ValueError(
                f"expand: the input's size {x.shape[i - lead]} at dim {i - lead} must match "
                f"the size {s} or be 1 (input shape {tuple(x.shape)}, sizes {sizes})"
            )
        shape.append(s)
    return broadcast_to(x, tuple(shape))


# -- indexing -----------------------------------------------------------------------
def _is_basic(index) -> bool:
    """True for indices made only of ints, slices, None and Ellipsis (they select a view)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items
               if not isinstance(i, (bool, np.bool_)))


def _convert_index(index, xp):
    """Turn Tensors and lists in an index into arrays on the right device."""
    def conv(i):
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and xp is not np:
            i = xp.asarray(i)
        return i
    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


class Index(Function):
    """y = ``x[index]`` for any NumPy index: ints, slices, integer arrays, boolean masks.

    A gather; its adjoint scatters gy back to the positions read (``IndexBackward``).
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x[self.index]
        except IndexError as exc:
            raise IndexError(f"index: {exc} (input shape {x.shape})") from None

    def backward(self, gy):
        return IndexBackward(self.index, self.in_shape)(gy)


class IndexBackward(Function):
    """gx = ``gy`` scattered into zeros of the input's shape, repeated indices adding up: the
    adjoint of ``Index``, whose own adjoint is the gather ``ggx[index]``."""

    def __init__(self, index, shape: tuple):
        self.index, self.shape = index, shape

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy          # a view: each element is hit at most once
        else:
            backend.scatter_add(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return ggx[self.index]


def getitem(x: Tensor, index) -> Tensor:
    if type(index) is not slice:         # (a slice needs no conversion)
        index = _convert_index(index, backend.get_array_module(x.data))
    return Index(index)(x)


# -- joining and splitting -------------------------------------------------------------
class Cat(Function):
    """y = the inputs joined along ``dim``; each input's gradient is its slice of gy."""

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        self.sizes = [x.shape[self.dim] for x in xs]
        return xp.concatenate(xs, axis=self.dim)

    def backward(self, gy):
        grads, start = [], 0
        lead = (slice(None),) * self.dim
        for size, need in zip(self.sizes, self.needs_input_grad):
            grads.append(Index(lead + (slice(start, start + size),))(gy) if need else None)
            start += size
        return tuple(grads)


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; all other dims must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = as_tensor(tensors[0])
    tensors = [as_tensor(t, like=first) for t in tensors]
    d = _normalize_dim(dim, first.ndim, "cat")
    before, after = first.shape[:d], first.shape[d + 1:]
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] != before or t.shape[d + 1:] != after:
            raise ValueError(
                f"cat: tensor {i} has shape {tuple(t.shape)} but tensor 0 has shape "
                f"{tuple(first.shape)}; all dims but dim {d} must match"
            )
    return Cat(d)(*tensors)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(
                f"stack: tensor {i} has shape {tuple(t.shape)} but tensor 0 has shape "
                f"{tuple(tensors[0].shape)}; stack needs equal shapes"
            )
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Cut into pieces of ``split_size`` (the last may be smaller) or of the listed sizes."""
    d = _normalize_dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {d} has size {n}")
    lead = (slice(None),) * d
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, lead + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Cut into ``chunks`` pieces of equal size (the last may be smaller), as ``torch.chunk``."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = _normalize_dim(dim, x.ndim, "chunk")
    size = -(-x.shape[d] // chunks)
    return split(x, max(size, 1), d)


# -- padding ------------------------------------------------------------------------
class ConstantPad(Function):
    """y = x with ``widths`` of ``value`` around it; the gradient is gy's slice where x lies."""

    def __init__(self, widths: tuple, value: float):
        self.widths, self.value = widths, value

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return gy[tuple(slice(lo, lo + n) for (lo, _), n in zip(self.widths, self.inputs[0].shape))]


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims, as ``torch.nn.functional.pad``.

    ``pad`` lists (left, right) for the last dim first: (left, right, top, bottom) pads W then H.
    Modes: ``constant`` (with ``value``), ``reflect`` (mirror without repeating the edge),
    ``replicate`` (repeat the edge).  Reflect and replicate are gathers with an index array
    along each padded dim, so their backward is the scatter-add of ``IndexBackward``.
    """
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad must have an even length of at most 2*{x.ndim}, got {pad}")
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    if mode == "constant":
        if any(p < 0 for p in pad):
            raise ValueError(f"pad: negative padding {pad} is not supported")
        return ConstantPad(tuple(widths), value)(x) if any(pad) else x
    if mode not in ("reflect", "replicate"):
        raise ValueError(f"pad: unknown mode {mode!r}; use 'constant', 'reflect' or 'replicate'")
    xp = backend.get_array_module(x.data)
    out = x
    for axis, (lo, hi) in enumerate(widths):
        if lo == 0 and hi == 0:
            continue
        n = x.shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(
                f"pad: reflect padding ({lo}, {hi}) must be less than the size {n} of dim {axis} "
                f"(input shape {tuple(x.shape)})"
            )
        idx = np.arange(-lo, n + hi)
        if mode == "reflect":
            idx = np.abs(idx)                                  # -1 -> 1, -2 -> 2 ...
            idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)  # n -> n-2 ...
        else:
            idx = np.clip(idx, 0, n - 1)
        out = Index((slice(None),) * axis + (xp.asarray(idx),))(out)
    return out
