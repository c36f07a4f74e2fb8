"""bias_act: a bias, an activation, a gain and a clamp in one op (StyleGAN2's fused layer output).

    y = clamp(act(x + b) * gain, -clamp, clamp)

with ``b`` broadcast along axis ``dim`` (the channels: dim 1 of NCHW).  StyleGAN2 ends every
layer with it: equalized learning rate keeps activations at unit variance, and the gain
sqrt(2) of (leaky) ReLU restores the variance the activation halves (He et al. 2015, eq. 10);
StyleGAN2-ADA clamps the outputs of its higher-resolution layers at +-256 so that float16
stays finite (Karras et al. 2020, "Training Generative Adversarial Networks with Limited
Data", appendix D.1).  The semantics, defaults and derivatives are the reference code's
(``torch_utils/ops/bias_act.py`` of StyleGAN2-ADA):

    act       formula                 def. alpha  def. gain  act' read from   act''
    linear    z                       0           1          -                0
    relu      max(z, 0)               0           sqrt(2)    y                0
    lrelu     z > 0 ? z : alpha z     0.2         sqrt(2)    y                0
    tanh      tanh(z)                 0           1          y                -2 t (1 - t^2)
    sigmoid   1 / (1 + e^-z)          0           1          y                s (1 - s)(1 - 2 s)
    swish     z sigmoid(z)            0           sqrt(2)    x                s (1 - s)(2 + z (1 - 2 s))

The derivative, by the chain rule, with z = x + b and a = act(z) = y / gain:

    dL/dx = gy * act'(z) * gain   where |y| < clamp, 0 where clamped     (Eq. 1)
    dL/db = sum of dL/dx over every axis but dim

Three Functions, each one kernel call (``tinygan/kernels/bias_act.py``), make it
differentiable to any order -- R1 and path-length regularization differentiate through the
gradient (Eq. 1) of every layer:

    BiasAct        (x, b)          -> y                       forward
    BiasActGrad    (gy, x, b)      -> Eq. 1                    its backward
    BiasActGradGrad(ggx, gy, x, b) -> ggx * gy * act''(z) * gain, 0 where clamped

Eq. 1 is linear in gy, so its derivative in gy is Eq. 1 again (applied to ggx); its derivative
in x and b is BiasActGradGrad, which is zero for the piecewise-linear activations.
BiasActGradGrad is in turn linear in ggx and in gy (its derivatives there are itself), and
its derivative in x, with act''', is written with tinygan ops, so every order exists.

The forward output y is kept by the backward Functions only to read act'(z) and act''(z)
from it: it stands for act(x + b) at the point, and its own dependence on x is what the
next derivative (act'' and act''') accounts for -- nothing is frozen.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..autograd import Function, Tensor
from ..kernels import bias_act as kernels
from .math import tanh, zero_gradient
from .shape import sum_to
from .activation import sigmoid


class Activation(NamedTuple):
    """An activation's defaults in bias_act and whether its second derivative can be nonzero."""
    def_alpha: float
    def_gain: float
    has_2nd_grad: bool


ACTIVATIONS = {
    "linear": Activation(0.0, 1.0, False),
    "relu": Activation(0.0, math.sqrt(2), False),
    "lrelu": Activation(0.2, math.sqrt(2), False),
    "tanh": Activation(0.0, 1.0, True),
    "sigmoid": Activation(0.0, 1.0, True),
    "swish": Activation(0.0, math.sqrt(2), True),
}


class Params(NamedTuple):
    """bias_act's settings, resolved: dim >= 0, and clamp -1 for no clamping."""
    dim: int
    act: str
    alpha: float
    gain: float
    clamp: float


def _bias_shape(ndim: int, dim: int) -> tuple:
    """The shape b broadcasts from along ``dim``: (1, C, 1, 1) for dim 1 of NCHW."""
    return (1,) * dim + (-1,) + (1,) * (ndim - dim - 1)


def _bias_gradient(gx: Tensor, p: Params) -> Tensor:
    """dL/db from dL/d(x + b): the sum over every axis but dim (sum_to, the adjoint of
    broadcasting b, which sums the channels of NCHW in one fast pass)."""
    shape = tuple(gx.shape[i] if i == p.dim else 1 for i in range(gx.ndim))
    return sum_to(gx, shape).reshape(-1)


class BiasAct(Function):
    """y = clamp(act(z) * gain, -clamp, clamp) with z = x + b; x: any shape, b: (x.shape[dim],).

    dy/dx = act'(z) * gain where |y| < clamp, else 0 (Eq. 1, BiasActGrad); dL/db is dL/dx
    summed over every axis but dim.
    """

    def __init__(self, p: Params):
        self.p = p

    def forward(self, x, b=None):
        p = self.p
        return kernels.forward(x, b, p.dim, p.act, p.alpha, p.gain, p.clamp)

    def backward(self, gy):
        p = self.p
        if p.act == "linear" and p.gain == 1.0 and p.clamp < 0:
            gx = gy                               # y = x + b: Eq. 1 is gy itself (as Add's)
        else:
            gx = BiasActGrad(p, self.output.data)(gy, *self.inputs)           # Eq. 1
        if len(self.inputs) == 1:
            return gx
        return gx, (_bias_gradient(gx, self.p) if self.needs_input_grad[1] else None)


class BiasActGrad(Function):
    """Eq. 1: gx = gy * act'(z) * gain, 0 where clamped (z = x + b).  All of x's shape but b.

    Derivatives of <ggx, gx>: in gy, Eq. 1 applied to ggx (BiasActGrad again); in x,
    ggx * gy * act''(z) * gain, 0 where clamped (BiasActGradGrad); in b, that summed over
    every axis but dim.  ``y`` is the forward output (an array), read for act'(z) where the
    activation allows it: act'(z) is then a function of a = act(z) = y / gain.
    """

    def __init__(self, p: Params, y):
        self.p, self.y = p, y

    def forward(self, gy, x, b=None):
        p = self.p
        return kernels.grad(gy, x, b, self.y, p.dim, p.act, p.alpha, p.gain, p.clamp)

    def backward(self, ggx):
        gy, x = self.inputs[0], self.inputs[1]
        b = self.inputs[2] if len(self.inputs) > 2 else None
        need = self.needs_input_grad
        # Eq. 1 is linear in gy: d<ggx, Eq. 1>/dgy is Eq. 1 applied to ggx.
        d_gy = BiasActGrad(self.p, self.y)(ggx, *self.inputs[1:]) if need[0] else None
        d_x = None
        if need[1] or (b is not None and need[2]):
            if ACTIVATIONS[self.p.act].has_2nd_grad:
                d_x = BiasActGradGrad(self.p, self.y)(ggx, *self.inputs)
            else:
                d_x = zero_gradient(x)            # act'' = 0: act' is piecewise constant
        if b is None:
            return d_gy, d_x
        d_b = _bias_gradient(d_x, self.p) if need[2] else None
        return d_gy, (d_x if need[1] else None), d_b


def _act3(p: Params, z: Tensor) -> Tensor:
    """act'''(z) with tinygan ops (so that it is differentiable again), for the activations
    whose act'' is not zero."""
    if p.act == "tanh":                           # d/dz [-2 t (1 - t^2)] = (1 - t^2)(6 t^2 - 2)
        t = tanh(z)
        return (1.0 - t * t) * (6.0 * t * t - 2.0)
    s = sigmoid(z)
    u = s * (1.0 - s)                             # sigmoid'
    if p.act == "sigmoid":                        # d/dz [s (1 - s)(1 - 2 s)] = s (1 - s)(1 - 6 s + 6 s^2)
        return u * (1.0 - 6.0 * s + 6.0 * s * s)
    # swish: d/dz [u (2 + z (1 - 2 s))] = u ((1 - 2 s)(3 + z (1 - 2 s)) - 2 z u)
    w = 1.0 - 2.0 * s
    return u * (w * (3.0 + z * w) - 2.0 * z * u)


class BiasActGradGrad(Function):
    """out = ggx * gy * act''(z) * gain, 0 where clamped (z = x + b): d<ggx, Eq. 1>/dx.

    Derivatives of <g, out>: in ggx, g * gy * act''(z) * gain (this Function of (g, gy)); in
    gy, this Function of (g, ggx); in x, g * ggx * gy * act'''(z) * gain, 0 where clamped,
    written with tinygan ops; in b, that summed over every axis but dim.
    """

    def __init__(self, p: Params, y):
        self.p, self.y = p, y

    def forward(self, ggx, gy, x, b=None):
        p = self.p
        return kernels.grad2(ggx, gy, x, b, self.y, p.dim, p.act, p.gain, p.clamp)

    def backward(self, g):
        ggx, gy, x = self.inputs[:3]
        b = self.inputs[3] if len(self.inputs) > 3 else None
        need, p = self.needs_input_grad, self.p
        rest = self.inputs[2:]                    # (x, b) or (x,)
        # ggx * gy * K is linear in ggx and in gy: each derivative is this Function again.
        d_ggx = BiasActGradGrad(p, self.y)(g, gy, *rest) if need[0] else None
        d_gy = BiasActGradGrad(p, self.y)(g, ggx, *rest) if need[1] else None
        d_x = d_b = None
        if need[2] or (b is not None and need[3]):
            z = x if b is None else x + b.reshape(_bias_shape(x.ndim, p.dim))
            d_x = g * ggx * gy * _act3(p, z) * p.gain
            if p.clamp >= 0:
                d_x = d_x * Tensor(((self.y > -p.clamp) & (self.y < p.clamp)).astype(self.y.dtype))
            if b is not None and need[3]:
                d_b = _bias_gradient(d_x, p)
        if b is None:
            return d_ggx, d_gy, d_x
        return d_ggx, d_gy, (d_x if need[2] else None), d_b


def bias_act(x: Tensor, b: Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None,
             clamp: float | None = None) -> Tensor:
    """clamp(act(x + b) * gain, -clamp, clamp), with the bias ``b`` broadcast along ``dim``.

    Args:
        x: the input, any shape (N, C, H, W) or (N, C) typically; floating point.
        b: the bias, shape (x.shape[dim],), or None for none.
        dim: the axis of x that b runs along (1: the channels of NCHW).
        act: 'linear', 'relu', 'lrelu', 'tanh', 'sigmoid' or 'swish'.
        alpha: lrelu's negative slope (>= 0; default 0.2); ignored by the others.
        gain: the factor after the activation (default sqrt(2) for relu, lrelu and swish, else 1).
        clamp: clamp the output to [-clamp, clamp] (>= 0), or None for no clamping.
    Returns:
        a tensor of x's shape and dtype.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"bias_act: x must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"bias_act: x must be floating point, got dtype {x.dtype}")
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown act {act!r}; known: {', '.join(ACTIVATIONS)}")
    spec = ACTIVATIONS[act]
    if b is not None:
        if not isinstance(b, Tensor):
            raise TypeError(f"bias_act: b must be a Tensor or None, got {type(b).__name__}")
        if not isinstance(dim, int) or not -x.ndim <= dim < x.ndim:
            raise ValueError(f"bias_act: dim {dim!r} is out of range for x of shape {tuple(x.shape)}")
        dim %= x.ndim
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias_act: b must be 1-D with x.shape[dim] elements; got b of shape "
                f"{tuple(b.shape)} for x of shape {tuple(x.shape)} and dim {dim}")
        if b.dtype != x.dtype:
            raise TypeError(f"bias_act: b has dtype {b.dtype} but x has dtype {x.dtype}")
        if b.device != x.device:
            raise ValueError(f"bias_act: b is on {b.device} but x is on {x.device}")
    else:
        dim = 0                                   # (only the bias runs along dim)
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    if act == "lrelu" and not alpha >= 0:
        # The backward pass reads lrelu's slope from the sign of the output, as the reference
        # does; a negative slope makes that sign ambiguous.
        raise ValueError(f"bias_act: lrelu needs alpha >= 0, got {alpha}")
    if not math.isfinite(gain):
        raise ValueError(f"bias_act: gain must be finite, got {gain}")
    if clamp is not None and not float(clamp) >= 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    p = Params(dim, act, alpha, gain, -1.0 if clamp is None else float(clamp))
    return BiasAct(p)(x) if b is None else BiasAct(p)(x, b)
