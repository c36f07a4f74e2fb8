"""Activations and (log-)softmax.

Each backward reuses what the forward computed where the derivative is a
function of the output (sigmoid' = y(1 - y), softmax's Jacobian-vector product
y * (gy - sum(gy * y))), and uses the *output Tensor* for it, not its array, so
that the second derivative also flows through y.  Those backwards are one op of
(gy, y) each (``SigmoidBackward``, ``SoftmaxBackward``, ``LogSoftmaxBackward``),
with their own derivatives written out, rather than three or four recorded ops:
on small tensors an op's bookkeeping costs more than its arithmetic.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..kernels import elementwise
from ..autograd import Function, Tensor, is_grad_enabled
from .math import PiecewiseConstant, exp, where
from .reduce import _axes


class Sigmoid(Function):
    """y = sigmoid(x) = 1 / (1 + e^-x); dy/dx = y (1 - y), written with the output y."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        # 1 / (1 + e^-x) overflows for very negative x; with e = e^-|x| <= 1 it never does:
        # sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0.
        e = xp.exp(xp.copysign(x, -1.0))          # copysign(x, -1) = -|x|, in one pass
        y = xp.where(x >= 0, 1.0, e)
        y /= 1.0 + e
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def backward(self, gy):
        return SigmoidBackward()(gy, self.output)


class SigmoidBackward(Function):
    """gx = gy * y (1 - y): sigmoid's backward as one op of (gy, y), y = sigmoid(x).

    Its own derivatives (for a gradient of a gradient): linear in gy, so
    d/dgy is the same product with ggx; and d/dy [y (1 - y)] = 1 - 2y.
    """

    def forward(self, gy, y):
        gx = gy * y
        gx *= 1.0 - y
        return gx

    def backward(self, ggx):
        gy, y = self.inputs
        return (SigmoidBackward()(ggx, y) if self.needs_input_grad[0] else None,
                ggx * gy * (1.0 - 2.0 * y) if self.needs_input_grad[1] else None)


class Slope(PiecewiseConstant):
    """leaky_relu'(x): 1 where x > 0, ``negative_slope`` elsewhere (0 for relu's step)."""

    def __init__(self, negative_slope: float):
        self.slope = negative_slope

    def forward(self, x):
        return elementwise.slope_mask(x, x.dtype, self.slope)


def _times_slope(gy: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    """gy * leaky_relu'(x): the backward of relu (slope 0) and leaky_relu.

    While the backward pass is recorded (``create_graph=True``) the slope is ``Slope`` of x,
    a function of x in the graph, so the gradient requires grad as PyTorch's does (its
    threshold_backward and leaky_relu_backward take the input) and its derivative in x is
    the zero it is.  Otherwise the slope is a fresh array, multiplied by gy in place.
    """
    if is_grad_enabled():
        return gy * Slope(negative_slope)(x)
    return Tensor(elementwise.gy_times_slope(gy.data, x.data, negative_slope))


class ReLU(Function):
    """relu(x) = max(x, 0); relu'(x) = 1 where x > 0, else 0 (0 at the kink, as PyTorch)."""

    def forward(self, x):
        if x.dtype.kind != "f":
            return backend.get_array_module(x).maximum(x, 0)
        return elementwise.relu(x)                  # max(x, 0), split over threads when large

    def backward(self, gy):
        return _times_slope(gy, self.inputs[0], 0.0)


class LeakyReLU(Function):
    """leaky_relu(x) = x where x > 0, else a x (Maas et al. 2013); its derivative 1 or a."""

    def __init__(self, negative_slope: float):
        self.slope = negative_slope

    def forward(self, x):
        xp = backend.get_array_module(x)
        if 0.0 <= self.slope <= 1.0 and x.dtype.kind == "f":
            # max(x, a x) is leaky_relu for 0 <= a <= 1: two fast passes, no boolean mask.
            return elementwise.leaky_relu(x, self.slope)
        return xp.where(x > 0, x, x * self.slope)

    def backward(self, gy):
        return _times_slope(gy, self.inputs[0], self.slope)


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta; dy/dx = sigmoid(beta x).

    Above ``threshold`` (beta x > threshold) y = x and dy/dx = 1, as PyTorch's softplus.
    """

    def __init__(self, beta: float, threshold: float):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = backend.get_array_module(x)
        bx = x * self.beta if self.beta != 1.0 else x
        # log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): e^-|z| <= 1, so no overflow for large z.
        y = xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))
        if self.beta != 1.0:
            y = y / self.beta
        if self.threshold != float("inf"):       # PyTorch's linear shortcut above the threshold
            y = xp.where(bx > self.threshold, x, y)
        return xp.asarray(y, dtype=x.dtype)      # (an array, also for a 0-d x)

    def backward(self, gy):
        x = self.inputs[0]
        g = gy * sigmoid(x * self.beta if self.beta != 1.0 else x)
        if self.threshold == float("inf"):
            return g
        return where(x.data * self.beta > self.threshold, gy, g)


def _max_along(x, axis: int):
    """The max of array ``x`` along ``axis``, keepdims (what softmax subtracts first).

    On NumPy floats it is asked for with ``initial=-inf``: the same values (NaN still wins),
    but NumPy then runs its faster reduction loop -- 1.4 us against 2.3 us over the rows of
    a (16, 16) array.  (CuPy's max takes no ``initial``.)
    """
    if type(x) is np.ndarray and x.dtype.kind == "f":
        return x.max(axis=axis, keepdims=True, initial=-np.inf)
    return x.max(axis=axis, keepdims=True)


class Softmax(Function):
    """y = e^x / sum e^x along ``axis`` (shape kept; x - max x first, so no overflow).

    Its Jacobian-vector product: dL/dx = y * (gy - sum(gy * y)) along the axis
    (``SoftmaxBackward``).
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(x - _max_along(x, self.axis))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def backward(self, gy):
        return SoftmaxBackward(self.axis)(gy, self.output)


class SoftmaxBackward(Function):
    """gx = y * (gy - sum(gy * y)) along ``axis``: softmax's backward as one op of (gy, y).

    It is J gy with softmax's Jacobian J = diag(y) - y y^T.  Its own derivatives:
    J is symmetric, so d/dgy applied to ggx is the same product, y * (ggx - sum(ggx * y));
    and d/dy gives ggx * (gy - sum(gy * y)) - gy * sum(ggx * y).
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, gy, y):
        gx = gy * y
        gx -= y * gx.sum(axis=self.axis, keepdims=True)
        return gx

    def backward(self, ggx):
        gy, y = self.inputs
        g_gy = g_y = None
        if self.needs_input_grad[0]:
            g_gy = SoftmaxBackward(self.axis)(ggx, y)
        if self.needs_input_grad[1]:
            g_y = (ggx * (gy - (gy * y).sum(self.axis, keepdim=True))
                   - gy * (ggx * y).sum(self.axis, keepdim=True))
        return g_gy, g_y


class LogSoftmax(Function):
    """y = x - log sum e^x along ``axis`` (computed as z - log sum e^z with z = x - max x).

    dL/dx = gy - softmax(x) * sum(gy) along the axis, with softmax(x) = e^y
    (``LogSoftmaxBackward``).
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        z = x - _max_along(x, self.axis)
        return z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return LogSoftmaxBackward(self.axis)(gy, self.output)


class LogSoftmaxBackward(Function):
    """gx = gy - e^y * sum(gy) along ``axis``: log_softmax's backward as one op of (gy, y).

    Its own derivatives: d/dgy applied to ggx is ggx - sum(ggx * e^y) (the transpose of
    I - e^y 1^T), and d/dy is -ggx * e^y * sum(gy).
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, gy, y):
        xp = backend.get_array_module(y)
        s = gy.sum(axis=self.axis, keepdims=True)
        return gy - xp.exp(y) * s

    def backward(self, ggx):
        gy, y = self.inputs
        ggx_p = ggx * exp(y)                 # ggx * softmax(x), used by both derivatives
        return (ggx - ggx_p.sum(self.axis, keepdim=True) if self.needs_input_grad[0] else None,
                -ggx_p * gy.sum(self.axis, keepdim=True) if self.needs_input_grad[1] else None)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid()(x)


def relu(x: Tensor) -> Tensor:
    return ReLU()(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLU(negative_slope)(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    if x.dtype.kind != "f":
        raise TypeError(f"softplus: expected a floating point input, got dtype {x.dtype}")
    return Softplus(beta, threshold)(x)


def _softmax_dim(x: Tensor, dim, op: str) -> int:
    if dim is None:
        raise TypeError(f"{op}: dim must be given (the dim whose entries sum to one)")
    return _axes(dim, x.ndim, op)[0] if x.ndim else 0


def softmax(x: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``."""
    return Softmax(_softmax_dim(x, dim, "softmax"))(x)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """x - logsumexp(x) along ``dim``, computed stably."""
    return LogSoftmax(_softmax_dim(x, dim, "log_softmax"))(x)
