"""tinygan.ops.bias_act: F.bias_act(x, b, dim, act, alpha, gain, clamp).

The forward pass against NumPy formulas written here, per activation, with and without a
bias, gain and clamp, along several dims; first and second derivatives in float64 against
central differences for every activation and option (and the third, through the gradient's
gradient, for the activations whose second derivative is not zero); the defaults of the
StyleGAN2 reference code; agreement with the composition of tinygan ops it replaces; and
the errors for bad input.

For relu and lrelu the inputs keep z = x + b away from the kink at 0, and every case keeps
|y| away from the clamp, so that central differences see one smooth piece.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import assert_within, eps

ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "swish"]
SMOOTH = ["tanh", "sigmoid", "swish"]              # act'' is not zero
SQRT2 = math.sqrt(2)
DEFAULT_GAIN = {"linear": 1.0, "relu": SQRT2, "lrelu": SQRT2, "tanh": 1.0, "sigmoid": 1.0,
                "swish": SQRT2}


def np_act(z, act, alpha):
    """The activations, written from their definitions."""
    if act == "linear":
        return z
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "lrelu":
        return np.where(z > 0, z, alpha * z)
    if act == "tanh":
        return np.tanh(z)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if act == "swish":
        return z / (1.0 + np.exp(-z))
    raise ValueError(act)


def np_bias_act(x, b, dim, act, alpha, gain, clamp):
    z = x
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        z = x + b.reshape(shape)
    y = np_act(z, act, alpha) * gain
    return y if clamp is None else np.clip(y, -clamp, clamp)


def inputs(rng, shape, dim, act, bias=True, away=0.15):
    """float64 x (and b) such that z = x + b keeps ``away`` from 0 (relu's and lrelu's kink)."""
    dim %= len(shape)
    b = rng.standard_normal(shape[dim]) if bias else None
    z = np.where(rng.random(shape) < 0.5, -1.0, 1.0) * (away + np.abs(rng.standard_normal(shape)))
    x = z if b is None else z - b.reshape([-1 if i == dim else 1 for i in range(len(shape))])
    t = lambda a: None if a is None else tinygan.tensor(a, dtype=tinygan.float64, requires_grad=True)  # noqa: E731
    return t(x), t(b)


def clamp_between(y, margin=1e-3):
    """A clamp value that cuts some of |y| and keeps ``margin`` from every |y|."""
    values = np.sort(np.abs(y).ravel())
    for c in np.linspace(np.quantile(values, 0.3), np.quantile(values, 0.95), 200):
        if np.min(np.abs(values - c)) > margin:
            return float(c)
    raise AssertionError("no clamp value keeps away from every |y|")


# -----------------------------------------------------------------------------
# forward
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dim", [1, 0, 2, -1])
def test_forward_matches_numpy(act, bias, dim, rng):
    x, b = inputs(rng, (3, 4, 5), dim, act, bias)
    xa, ba = x.data.copy(), None if b is None else b.data.copy()
    d = dim % 3
    for alpha, gain, clamp in [(None, None, None), (0.3, 0.7, None), (None, 2.5, 0.9), (0.1, -1.5, 1.2),
                               (1.5, 0.0, None), (0.0, 1.0, 0.0)]:
        y = F.bias_act(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
        a = 0.2 if alpha is None else alpha
        g = DEFAULT_GAIN[act] if gain is None else gain
        expected = np_bias_act(xa, ba, d, act, a, g, clamp)
        assert y.shape == x.shape and y.dtype == np.float64
        np.testing.assert_allclose(y.data, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("act", ACTS)
def test_forward_float32(act, rng):
    """float32 in, float32 out, within a few roundings of the float64 formula."""
    x = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    y = F.bias_act(tinygan.tensor(x), tinygan.tensor(b), act=act, clamp=1.5)
    assert y.dtype == np.float32
    expected = np_bias_act(x.astype(np.float64), b.astype(np.float64), 1, act, 0.2,
                           DEFAULT_GAIN[act], 1.5)
    # x + b, the activation (exp, a division: a few ulps), the gain: each rounds once or so.
    assert_within(y.data, expected, 8 * eps(np.float32) * (np.abs(expected) + 1), f"bias_act {act}")


def test_defaults_of_the_reference():
    """alpha 0.2 for lrelu; gain sqrt(2) for relu, lrelu and swish, 1 for the others;
    no clamp; no bias; dim 1."""
    x = tinygan.tensor([[-2.0, -0.5, 0.5, 3.0]], dtype=tinygan.float64)
    a = x.data
    np.testing.assert_allclose(F.bias_act(x).data, a, rtol=1e-15)
    np.testing.assert_allclose(F.bias_act(x, act="relu").data, np.maximum(a, 0) * SQRT2, rtol=1e-15)
    np.testing.assert_allclose(F.bias_act(x, act="lrelu").data, np.where(a > 0, a, 0.2 * a) * SQRT2,
                               rtol=1e-15)
    np.testing.assert_allclose(F.bias_act(x, act="tanh").data, np.tanh(a), rtol=1e-15)
    np.testing.assert_allclose(F.bias_act(x, act="sigmoid").data, 1 / (1 + np.exp(-a)), rtol=1e-15)
    np.testing.assert_allclose(F.bias_act(x, act="swish").data, a / (1 + np.exp(-a)) * SQRT2,
                               rtol=1e-15)
    b = tinygan.tensor([0.0, 1.0, 2.0, 3.0], dtype=tinygan.float64)
    with pytest.raises(ValueError, match="bias_act"):        # dim 1 by default: 4 entries there
        F.bias_act(x.reshape(4, 1), b)


def test_saturation_is_finite():
    x = tinygan.tensor([-1000.0, -90.0, 0.0, 90.0, 1000.0], dtype=tinygan.float32, requires_grad=True)
    for act in ACTS:
        y = F.bias_act(x, act=act)
        (g,) = tinygan.grad(y.sum(), x)
        assert np.isfinite(y.data).all() and np.isfinite(g.data).all(), act


# -----------------------------------------------------------------------------
# derivatives
# -----------------------------------------------------------------------------
OPTIONS = [  # (alpha, gain, clamp?)
    (None, None, False),
    (0.3, 0.7, False),
    (None, None, True),
    (0.05, -1.3, True),
]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("alpha,gain,clamp", OPTIONS, ids=["defaults", "alpha_gain", "clamp",
                                                            "negative_gain_clamp"])
def test_first_and_second_derivatives(act, bias, alpha, gain, clamp, rng):
    x, b = inputs(rng, (2, 3, 4), 1, act, bias)
    c = None
    if clamp:
        with tinygan.no_grad():
            c = clamp_between(F.bias_act(x, b, act=act, alpha=alpha, gain=gain).data)

    def f(x, *b):
        return F.bias_act(x, b[0] if b else None, act=act, alpha=alpha, gain=gain, clamp=c)
    args = (x,) if b is None else (x, b)
    assert gradcheck(f, args)
    assert gradgradcheck(f, args)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dim", [0, 2, -1])
def test_derivatives_along_other_dims(act, dim, rng):
    x, b = inputs(rng, (3, 2, 4), dim, act)

    def f(x, b):
        return F.bias_act(x, b, dim=dim, act=act, gain=1.7)
    assert gradcheck(f, (x, b))
    assert gradgradcheck(f, (x, b))


@pytest.mark.parametrize("act", ACTS)
def test_third_derivatives(act, rng):
    """The gradient's gradient is differentiable again (BiasActGradGrad's backward): gradcheck
    and gradgradcheck of (x, b) -> the gradient of <v, bias_act(x, b)> check orders 2 to 4."""
    x, b = inputs(rng, (2, 3, 2), 1, act)
    with tinygan.no_grad():
        c = clamp_between(F.bias_act(x, b, act=act, gain=1.3).data)
    v = tinygan.tensor(rng.standard_normal(x.shape), dtype=tinygan.float64)

    def first(x, b):
        with tinygan.enable_grad():
            return tinygan.grad(F.bias_act(x, b, act=act, gain=1.3, clamp=c), (x, b), v,
                                create_graph=True)
    assert gradcheck(first, (x, b))
    assert gradgradcheck(first, (x, b))


def test_gradient_is_zero_where_clamped():
    x = tinygan.tensor([-3.0, -0.5, 0.25, 0.5, 4.0], dtype=tinygan.float64, requires_grad=True)
    y = F.bias_act(x, act="linear", gain=2.0, clamp=1.5)
    np.testing.assert_allclose(y.data, [-1.5, -1.0, 0.5, 1.0, 1.5], rtol=1e-15)
    (g,) = tinygan.grad(y.sum(), x, create_graph=True)
    # exact: the gradient is the gain (2) where unclamped and exactly 0 where clamped
    np.testing.assert_array_equal(g.data, [0.0, 2.0, 2.0, 2.0, 0.0])
    y = F.bias_act(x, act="tanh", clamp=0.4)
    (g,) = tinygan.grad(y.sum(), x, create_graph=True)
    (gg,) = tinygan.grad(g.sum(), x)
    t = np.tanh(x.data)
    inside = np.abs(t) < 0.4
    np.testing.assert_allclose(g.data, np.where(inside, 1 - t * t, 0.0), rtol=1e-14)
    np.testing.assert_allclose(gg.data, np.where(inside, -2 * t * (1 - t * t), 0.0), rtol=1e-14)


def test_piecewise_linear_second_derivative_is_zero_and_connected():
    """For relu/lrelu the gradient still depends on x in the graph (as PyTorch's), so an R1-style
    penalty's gradient exists; its value is zero."""
    x = tinygan.tensor([[-1.0, 2.0], [0.5, -3.0]], dtype=tinygan.float64, requires_grad=True)
    b = tinygan.tensor([0.1, -0.2], dtype=tinygan.float64, requires_grad=True)
    y = F.bias_act(x, b, act="lrelu")
    gx, gb = tinygan.grad(y.sum(), (x, b), create_graph=True)
    np.testing.assert_allclose(gx.data, np.where(x.data + b.data > 0, 1.0, 0.2) * SQRT2, rtol=1e-15)
    np.testing.assert_allclose(gb.data, gx.data.sum(0), rtol=1e-15)
    assert gx.requires_grad
    ggx, ggb = tinygan.grad((gx * gx).sum(), (x, b))
    # exact: lrelu' is piecewise constant, so the derivative of anything of it in x is 0
    np.testing.assert_array_equal(ggx.data, 0.0)
    np.testing.assert_array_equal(ggb.data, 0.0)


# -----------------------------------------------------------------------------
# the composition it replaces
# -----------------------------------------------------------------------------
COMPOSITIONS = {
    "linear": lambda z: z,
    "relu": lambda z: F.relu(z) * SQRT2,
    "lrelu": lambda z: F.leaky_relu(z, 0.2) * SQRT2,
    "tanh": lambda z: tinygan.tanh(z),
    "sigmoid": lambda z: tinygan.sigmoid(z),
    "swish": lambda z: z * tinygan.sigmoid(z) * SQRT2,
}


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_matches_the_composition(act, dtype, rng):
    """bias_act(x, b, act) is act(x + b) * gain written with tinygan ops: values, gradients
    in x and b, and the gradient of the squared gradient norm (R1's shape)."""
    shape = (3, 4, 2, 2)
    xa = rng.standard_normal(shape).astype(dtype)
    ba = rng.standard_normal(4).astype(dtype)
    gy = tinygan.tensor(rng.standard_normal(shape).astype(dtype))
    results = []
    for fused in (True, False):
        x = tinygan.tensor(xa, requires_grad=True)
        b = tinygan.tensor(ba, requires_grad=True)
        y = F.bias_act(x, b, act=act) if fused else COMPOSITIONS[act](x + b.reshape(1, -1, 1, 1))
        gx, gb = tinygan.grad(y, (x, b), gy, create_graph=True)
        r1 = (gx * gx).sum() + (gb * gb).sum()
        # (the composition's linear gradient does not depend on x: nothing to differentiate)
        hx, hb = tinygan.grad(r1, (x, b), allow_unused=True) if r1.requires_grad else (None, None)
        hx = np.zeros(shape) if hx is None else hx.data
        hb = np.zeros(4) if hb is None else hb.data
        results.append((y.data, gx.data, gb.data, hx, hb))
    # a handful of roundings per element; the bias gradient sums 12 of them, the last terms 24
    e = eps(dtype)
    for name, a, c in zip(["y", "gx", "gb", "d r1/dx", "d r1/db"], *results):
        assert a.dtype == c.dtype == dtype or name.startswith("d")
        tol = 64 * e * (np.abs(c) + np.abs(results[1][1]).max() * (24 if name != "y" else 1) + e)
        assert_within(a, c, tol, f"{act} {name}")


# -----------------------------------------------------------------------------
# the array twin on other layouts
# -----------------------------------------------------------------------------
def test_non_contiguous_input(rng):
    a = rng.standard_normal((5, 4, 3))
    x = tinygan.tensor(a).permute(2, 1, 0)                  # (3, 4, 5), not C-contiguous
    b = tinygan.tensor(rng.standard_normal(4))
    y = F.bias_act(x, b, act="sigmoid", gain=1.5)
    np.testing.assert_allclose(y.data, np_bias_act(a.transpose(2, 1, 0), b.data, 1, "sigmoid", 0, 1.5, None),
                               rtol=1e-14)


def test_scalar_and_empty_inputs():
    y = F.bias_act(tinygan.tensor(-2.0, dtype=tinygan.float64), act="lrelu")
    np.testing.assert_allclose(y.data, -0.4 * SQRT2, rtol=1e-15)
    e = F.bias_act(tinygan.zeros(0, 3), tinygan.zeros(3), act="tanh")
    assert e.shape == (0, 3)


# -----------------------------------------------------------------------------
# bad input
# -----------------------------------------------------------------------------
def test_errors_name_the_op_and_what_is_wrong():
    x = tinygan.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"bias_act: b must be 1-D with x.shape\[dim\] elements.*\(3, 1\).*\(2, 3, 4\)"):
        F.bias_act(x, tinygan.zeros(3, 1))
    with pytest.raises(ValueError, match=r"bias_act: .*b of shape \(4,\) for x of shape \(2, 3, 4\) and dim 1"):
        F.bias_act(x, tinygan.zeros(4))
    F.bias_act(x, tinygan.zeros(4), dim=2)                   # the same b fits dim 2
    with pytest.raises(ValueError, match=r"bias_act: unknown act 'gelu'; known: linear, relu, lrelu, tanh, sigmoid"):
        F.bias_act(x, act="gelu")
    with pytest.raises(ValueError, match=r"bias_act: clamp must be >= 0 or None, got -1"):
        F.bias_act(x, clamp=-1)
    with pytest.raises(ValueError, match=r"bias_act: clamp must be >= 0 or None, got nan"):
        F.bias_act(x, clamp=float("nan"))
    with pytest.raises(ValueError, match=r"bias_act: dim 3 is out of range for x of shape \(2, 3, 4\)"):
        F.bias_act(x, tinygan.zeros(3), dim=3)
    with pytest.raises(ValueError, match=r"bias_act: lrelu needs alpha >= 0, got -0.1"):
        F.bias_act(x, act="lrelu", alpha=-0.1)
    with pytest.raises(TypeError, match=r"bias_act: b has dtype float64 but x has dtype float32"):
        F.bias_act(x, tinygan.zeros(3, dtype=tinygan.float64))
    with pytest.raises(TypeError, match=r"bias_act: x must be floating point, got dtype int64"):
        F.bias_act(tinygan.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"bias_act: dim 0 is out of range for x of shape \(\)"):
        F.bias_act(tinygan.tensor(1.0), tinygan.zeros(1), dim=0)
