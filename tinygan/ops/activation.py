"""Activations and (log-)softmax.

Each backward reuses what the forward computed where the derivative is a
function of the output (sigmoid' = y(1 - y), softmax's Jacobian-vector product
y * (gy - sum(gy * y))), and uses the *output Tensor* for it, not its array, so
that the second derivative also flows through y.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..cpu_threads import for_rows
from ..autograd import Function, Tensor, is_grad_enabled
from .math import PiecewiseConstant, exp, where
from .reduce import _axes


class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # 1 / (1 + e^-x) overflows for very negative x; this form never does.
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, gy):
        y = self.output
        return gy * (y * (1.0 - y))


def _gradient_mask(x, dtype, negative_slope: float = 0.0):
    """d leaky_relu(x) / dx as an array of ``dtype``: 1 where x > 0, ``negative_slope`` elsewhere.

    Written straight into a float array (``greater(..., out=)``) and scaled in place, never
    through ``where`` on a boolean mask, which NumPy runs branch by branch: for a (64, 64, 14, 14)
    activation that took 8 ms against 1.6 ms this way (benchmarks/dcgan_step.py spends a
    sixth of its step in LeakyReLU otherwise).
    """
    xp = backend.get_array_module(x)
    if xp is not np:
        m = (x > 0).astype(dtype)
        if negative_slope != 0.0:
            m *= 1.0 - negative_slope
            m += negative_slope
        return m
    m = np.empty(x.shape, dtype)
    x1, m1 = x.reshape(-1), m.reshape(-1)       # (a fresh m; x as it comes, reshaped if need be)

    def part(sl):                               # a share of the elements per thread (cpu_threads)
        ms = np.greater(x1[sl], 0, out=m1[sl])
        if negative_slope != 0.0:
            ms *= 1.0 - negative_slope
            ms += negative_slope
    for_rows(part, m1.size, m1.size)
    return m


class Slope(PiecewiseConstant):
    """leaky_relu'(x): 1 where x > 0, ``negative_slope`` elsewhere (0 for relu's step)."""

    def __init__(self, negative_slope: float):
        self.slope = negative_slope

    def forward(self, x):
        return _gradient_mask(x, x.dtype, self.slope)


def _times_slope(gy: Tensor, x: Tensor, negative_slope: float) -> Tensor:
    """gy * leaky_relu'(x): the backward of relu (slope 0) and leaky_relu.

    While the backward pass is recorded (``create_graph=True``) the slope is ``Slope`` of x,
    a function of x in the graph, so the gradient requires grad as PyTorch's does (its
    threshold_backward and leaky_relu_backward take the input) and its derivative in x is
    the zero it is.  Otherwise the slope is a fresh array, multiplied by gy in place.
    """
    if is_grad_enabled():
        return gy * Slope(negative_slope)(x)
    m = _gradient_mask(x.data, gy.dtype, negative_slope)
    if backend.get_array_module(m) is not np:
        m *= gy.data
        return Tensor(m)
    m1, g1 = m.reshape(-1), gy.data.reshape(-1)

    def part(sl):                               # a share of the elements per thread
        m1[sl] *= g1[sl]
    for_rows(part, m1.size, m1.size)
    return Tensor(m)


def _elementwise(x, op):
    """A fresh array y with ``op(x_part, y_part)`` run on a share of the elements per thread."""
    xp = backend.get_array_module(x)
    if xp is not np or x.ndim == 0:
        y = xp.empty_like(x)
        op(x, y)
        return y
    y = np.empty(x.shape, x.dtype)              # C order, so that y1 below is a view of it
    x1, y1 = x.reshape(-1), y.reshape(-1)
    for_rows(lambda sl: op(x1[sl], y1[sl]), x1.size, x1.size)
    return y


def _leaky(slope: float):
    def op(x, y):
        y = backend.get_array_module(x).multiply(x, slope, out=y)
        backend.get_array_module(x).maximum(x, y, out=y)
    return op


def _relu(x, y):
    backend.get_array_module(x).maximum(x, 0, out=y)


class ReLU(Function):
    def forward(self, x):
        if x.dtype.kind != "f":
            return backend.get_array_module(x).maximum(x, 0)
        return _elementwise(x, _relu)

    def backward(self, gy):
        return _times_slope(gy, self.inputs[0], 0.0)


class LeakyReLU(Function):
    def __init__(self, negative_slope: float):
        self.slope = negative_slope

    def forward(self, x):
        xp = backend.get_array_module(x)
        if 0.0 <= self.slope <= 1.0 and x.dtype.kind == "f":
            # max(x, a x) is leaky_relu for 0 <= a <= 1: two fast passes, no boolean mask.
            return _elementwise(x, _leaky(self.slope))
        return xp.where(x > 0, x, x * self.slope)

    def backward(self, gy):
        return _times_slope(gy, self.inputs[0], self.slope)


class Softplus(Function):
    """log(1 + e^(beta x)) / beta; linear above ``threshold`` (as PyTorch), stable everywhere."""

    def __init__(self, beta: float, threshold: float):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = backend.get_array_module(x)
        bx = x * self.beta if self.beta != 1.0 else x
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z.  One temporary,
        # updated in place: softplus runs on every logit of a Bernoulli decoder each step.
        t = xp.abs(bx, out=xp.empty_like(bx))      # (out=: stays an array for 0-d inputs)
        xp.negative(t, out=t)
        xp.exp(t, out=t)
        xp.log1p(t, out=t)
        xp.add(t, xp.maximum(bx, 0), out=t)
        if self.beta != 1.0:
            xp.divide(t, self.beta, out=t)
        if self.threshold != float("inf"):       # PyTorch's linear shortcut above the threshold
            t = xp.where(bx > self.threshold, x, t)
        return t.astype(x.dtype, copy=False)

    def backward(self, gy):
        x = self.inputs[0]
        g = gy * sigmoid(x * self.beta if self.beta != 1.0 else x)
        if self.threshold == float("inf"):
            return g
        return where(x.data * self.beta > self.threshold, gy, g)


class Softmax(Function):
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
