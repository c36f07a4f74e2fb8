"""Reductions: sum, mean, var, std, max, min, logsumexp (over ``dim``, with ``keepdim``).

The backward of a reduction spreads the output gradient back over the reduced
dims: reshape it to the ``keepdim`` shape, then broadcast it to the input's
shape, one op (``SumBackward``; times 1/n for the mean, times the softmax for
logsumexp).  ``var`` and
``std`` are built from mean and sum, so their higher derivatives come from
those ops and need no code of their own.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from .math import exp, sqrt, where
from .shape import reshape


def _axes(dim, ndim: int, op: str):
    """Normalize ``dim`` (None, int or tuple) to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int) and -ndim <= dim < ndim:     # the common case: one dim, in range
        return (dim % ndim,)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    span = builtins.max(ndim, 1)     # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    for d in dims:
        if not -span <= d < span:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dimensions")
        out.append(d % span)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats a dim")
    return tuple(sorted(a for a in out if a < ndim))


def _keepdim_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple([1 if i in axes else s for i, s in enumerate(shape)])


def _spread(gy: Tensor, shape: tuple, axes: tuple, scale: float = 1.0) -> Tensor:
    """Broadcast a reduced gradient back over the reduced axes (times ``scale``)."""
    if gy.shape == shape and scale == 1.0:       # nothing was reduced
        return gy
    return SumBackward(shape, axes, scale)(gy)


class Sum(Function):
    """y = sum of x over ``axes``; dy/dx = 1: the gradient is gy broadcast back over them."""

    def __init__(self, axes: tuple, keepdim: bool):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        return _spread(gy, self.inputs[0].shape, self.axes)


_FILL_MAX = 1 << 14   # elements: from about here on, writing them costs more than a view


class SumBackward(Function):
    """gx = scale * gy broadcast back over ``axes`` to ``shape``: the backward of a sum
    (scale 1) or a mean (scale 1/n) as one op.

    It is linear in gy and its adjoint is the sum over the same axes: its own gradient
    is scale * (ggx summed over ``axes``), in gy's shape.
    """

    def __init__(self, shape: tuple, axes: tuple, scale: float = 1.0):
        self.shape, self.axes, self.scale = shape, axes, scale

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        g = gy
        if 0 < g.ndim < len(self.shape):     # the reduced dims were dropped: put back 1s
            g = g.reshape(_keepdim_shape(self.shape, self.axes))
        if self.scale != 1.0:
            g = g * self.scale
        if xp is np and math.prod(self.shape) < _FILL_MAX:
            # A fresh array filled with g rather than a broadcast view: NumPy fills a small one
            # in a fraction of np.broadcast_to's fixed cost (0.4 us against 2.5 us for 256
            # elements), and a leaf keeps it as its .grad as it is (a view would be copied).
            gx = np.empty(self.shape, g.dtype)
            gx[...] = g
            return gx
        return xp.broadcast_to(g, self.shape)

    def backward(self, ggx):
        # gy had the keepdim shape (keepdim=True, or nothing reduced) or the reduced one.
        keepdim = self.inputs[0].ndim == len(self.shape)
        g = Sum(self.axes, keepdim)(ggx)
        return g * self.scale if self.scale != 1.0 else g


class Mean(Function):
    """y = sum of x over ``axes`` / n (n: the number of elements summed); dy/dx = 1 / n,
    so the gradient is gy / n broadcast back over them."""

    def __init__(self, axes: tuple, keepdim: bool):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        if type(x) is np.ndarray and x.dtype.itemsize >= 4:
            # What NumPy's mean computes (a sum, then a true division), without its Python
            # wrapper, which costs more than both on small arrays.  (float16 keeps mean():
            # it sums in float32.  On a GPU mean() is one launch, the sum and division two.)
            return np.true_divide(x.sum(axis=self.axes, keepdims=self.keepdim),
                                  _count(x.shape, self.axes))
        return x.mean(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        shape = self.inputs[0].shape
        return _spread(gy, shape, self.axes, 1.0 / builtins.max(_count(shape, self.axes), 1))


def _count(shape: tuple, axes: tuple) -> int:
    """The number of elements a reduction over ``axes`` of ``shape`` takes in."""
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class _Extreme(Function):
    """y = max (or min) of x over axes; dy/dx = 1 at the extreme element, 0 elsewhere: the
    gradient goes to the extreme element(s).

    Ties share it equally (``amax``, full ``max()``), unless ``index`` is given: the arg-max
    along the one reduced axis (keepdim shape), which alone gets the gradient -- as PyTorch's
    ``max(dim)``, whose gradient goes to the element its ``indices`` name.
    """

    fn = "max"

    def __init__(self, axes: tuple, keepdim: bool, index=None):
        self.axes, self.keepdim, self.index = axes, keepdim, index

    def forward(self, x):
        return getattr(x, self.fn)(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        x = self.inputs[0]
        if self.index is not None:
            xp = backend.get_array_module(x.data)
            a = self.axes[0]
            pos = xp.arange(x.shape[a]).reshape([-1 if i == a else 1 for i in range(x.ndim)])
            hit = (pos == self.index).astype(x.data.dtype)          # one-hot along axis a
        else:
            y = self.output.data.reshape(_keepdim_shape(x.shape, self.axes))
            hit = (x.data == y).astype(x.data.dtype)
            hit /= hit.sum(axis=self.axes, keepdims=True)
        return _spread(gy, x.shape, self.axes) * Tensor(hit)


class Max(_Extreme):
    """y = max of x over axes (see ``_Extreme`` for the gradient)."""

    fn = "max"


class Min(_Extreme):
    """y = min of x over axes (see ``_Extreme`` for the gradient)."""

    fn = "min"


class LogSumExp(Function):
    """y = log sum exp x over axes, computed as m + log sum exp(x - m) with m = max x, so it
    never overflows; dy/dx = softmax(x) = exp(x - y)."""

    def __init__(self, axes: tuple, keepdim: bool):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdim else y.reshape([s for i, s in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        # d/dx logsumexp(x) = softmax(x) = exp(x - y), with y the output (keepdim shape).
        x = self.inputs[0]
        y = reshape(self.output, _keepdim_shape(x.shape, self.axes))
        # A slice that is all -inf has y = -inf and x - y = -inf - (-inf) = nan there.  Its
        # exp(x - y) is taken as 0 instead (with y = 0: exp(-inf) = 0), so one fully masked
        # row does not turn the gradient of everything upstream into nan.
        all_neg_inf = y.data == -float("inf")
        if all_neg_inf.any():
            y = where(all_neg_inf, 0.0, y)
        return _spread(gy, x.shape, self.axes) * exp(x - y)


def sum(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - the PyTorch name
    return Sum(_axes(dim, x.ndim, "sum"), keepdim)(x)


def mean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: needs a floating point tensor, got dtype {x.dtype}")
    return Mean(_axes(dim, x.ndim, "mean"), keepdim)(x)


def var(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """Variance, by default the unbiased estimator sum((x - mean)^2) / (n - 1), as PyTorch.

    ``unbiased=False`` (or ``correction=0``) divides by n instead.
    """
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = _axes(dim, x.ndim, "var")
    n = _count(x.shape, axes)
    d = x - mean(x, axes, keepdim=True)
    scale = 1.0 / (n - correction) if n > correction else float("nan")
    return sum(d * d, axes, keepdim=keepdim) * scale


def std(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))`` with the same conventions."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


_MaxResult = namedtuple("max", ["values", "indices"])


def _check_nonempty(x: Tensor, axes: tuple, name: str) -> None:
    """max/min have no identity: reducing over an empty dim is an error (as in PyTorch)."""
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{name}: can't reduce over an empty dim (input shape {tuple(x.shape)}, "
                         f"dims {axes})")


def _extreme(cls, x: Tensor, dim, keepdim: bool, name: str):
    if dim is None:
        axes = _axes(None, x.ndim, name)
        _check_nonempty(x, axes, name)
        return cls(axes, False)(x)
    if not isinstance(dim, int):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}")
    axes = _axes(dim, x.ndim, name)
    _check_nonempty(x, axes, name)
    xp = backend.get_array_module(x.data)
    idx = getattr(xp, "arg" + name)(x.data, axis=axes[0] if axes else None)   # first of ties
    if not axes:                       # a 0-d input: its one element is the max, at index 0
        return _MaxResult(cls(axes, keepdim)(x), Tensor(idx.astype("int64")))
    idx_keep = xp.expand_dims(idx, axes[0])
    values = cls(axes, keepdim, index=idx_keep)(x)
    return _MaxResult(values, Tensor((idx_keep if keepdim else idx).astype("int64")))


def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - the PyTorch name
    """``x.max()`` is the largest element; ``x.max(dim)`` is ``(values, indices)`` along dim."""
    return _extreme(Max, x, dim, keepdim, "max")


def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - the PyTorch name
    return _extreme(Min, x, dim, keepdim, "min")


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, x.ndim, "amax")
    _check_nonempty(x, axes, "amax")
    return Max(axes, keepdim)(x)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, x.ndim, "amin")
    _check_nonempty(x, axes, "amin")
    return Min(axes, keepdim)(x)


def logsumexp(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return LogSumExp(_axes(dim, x.ndim, "logsumexp"), keepdim)(x)
