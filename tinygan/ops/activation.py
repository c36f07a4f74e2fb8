"""Activations and (log-)softmax.

Each backward reuses what the forward computed where the derivative is a
function of the output (sigmoid' = y(1 - y), softmax's Jacobian-vector product
y * (gy - sum(gy * y))), and uses the *output Tensor* for it, not its array, so
that the second derivative also flows through y.
"""
from __future__ import annotations

from .. import backend
from ..kernels import elementwise
from ..autograd import Function, Tensor, is_grad_enabled
from .math import PiecewiseConstant, exp, where
from .reduce import _axes


class Sigmoid(Function):
    """y = sigmoid(x) = 1 / (1 + e^-x); dy/dx = y (1 - y), written with the output y."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        # 1 / (1 + e^-x) overflows for very negative x; this form never does.
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, gy):
        y = self.output
        return gy * (y * (1.0 - y))


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


class Softmax(Function):
    """y = e^x / sum e^x along ``axis`` (shape kept; x - max x first, so no overflow).

    Its Jacobian-vector product: dL/dx = y * (gy - sum(gy * y)) along the axis.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - (gy * y).sum(self.axis, keepdim=True))


class LogSoftmax(Function):
    """y = x - log sum e^x along ``axis`` (computed as z - log sum e^z with z = x - max x).

    dL/dx = gy - softmax(x) * sum(gy) along the axis, with softmax(x) = e^y.
    """

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        z = x - x.max(axis=self.axis, keepdims=True)
        return z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - exp(self.output) * gy.sum(self.axis, keepdim=True)


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
