"""tinygan.ops.activation: sigmoid, relu, leaky_relu, softplus, softmax, log_softmax.

Forward against NumPy formulas written here, first and second derivatives in float64 over
several shapes and options, and the numerical edge that matters in a GAN: logits of
+-1000 (a saturated discriminator) must give finite values and finite gradients.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.ops import activation as A

SHAPES = [(), (5,), (2, 3), (2, 3, 4)]


def _np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _np_softplus(a, beta=1.0, threshold=20.0):
    return np.where(beta * a > threshold, a, np.log1p(np.exp(beta * a)) / beta)


def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


# -----------------------------------------------------------------------------
# sigmoid, relu, leaky_relu
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sigmoid(shape, make, close, check_grads):
    x = make(shape, scale=2.0)
    expected = _np_sigmoid(x.data.copy())
    close(tinygan.sigmoid(x), expected, rtol=1e-12, dtype=np.float64)
    close(x.sigmoid(), expected, rtol=1e-12)
    close(F.sigmoid(x), expected, rtol=1e-12)
    check_grads(tinygan.sigmoid, x)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_relu(shape, make, close, check_grads):
    x = make(shape, kind="away")
    expected = np.maximum(x.data.copy(), 0.0)
    close(tinygan.relu(x), expected, dtype=np.float64)
    close(x.relu(), expected)
    close(F.relu(x), expected)
    check_grads(tinygan.relu, x)


@pytest.mark.parametrize("slope", [None, 0.2, 0.0, 1.5, -0.3])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_leaky_relu(shape, slope, make, close, check_grads):
    x = make(shape, kind="away")
    a = x.data.copy()
    kw = {} if slope is None else {"negative_slope": slope}
    s = 0.01 if slope is None else slope                   # PyTorch's default slope
    expected = np.where(a > 0, a, s * a)
    close(tinygan.leaky_relu(x, **kw), expected, rtol=1e-15, dtype=np.float64)
    close(F.leaky_relu(x, **kw), expected, rtol=1e-15)
    check_grads(lambda t: F.leaky_relu(t, **kw), x)


def test_piecewise_activation_gradient_values():
    x = tinygan.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=tinygan.float64, requires_grad=True)
    (g,) = tinygan.grad(x.relu().sum(), x)
    # exact: the derivatives of relu and leaky_relu are the constants 0, 1 and the slope
    np.testing.assert_array_equal(g.data, [0, 0, 0, 1, 1])        # relu'(0) = 0, as PyTorch
    (g,) = tinygan.grad(F.leaky_relu(x, 0.2).sum(), x)
    np.testing.assert_array_equal(g.data, [0.2, 0.2, 0.2, 1, 1])
    (g,) = tinygan.grad(x.sigmoid().sum(), x)
    s = _np_sigmoid(x.data)
    np.testing.assert_allclose(g.data, s * (1 - s), rtol=1e-12)


# -----------------------------------------------------------------------------
# softplus
# -----------------------------------------------------------------------------
SOFTPLUS = [
    {},                                   # beta=1, threshold=20
    {"beta": 2.0},
    {"beta": 0.5},
    {"threshold": 1.0},                   # linear above x = 1: both branches are exercised
    {"beta": 2.0, "threshold": 1.5},      # linear above x = 0.75
    {"beta": 3, "threshold": 5},          # ints as PyTorch allows
]


def _off_switch(x: tinygan.Tensor, beta: float, threshold: float, margin=0.05) -> tinygan.Tensor:
    """Move entries off beta*x = threshold, where softplus switches to linear (a small jump)."""
    at = threshold / beta
    near = np.abs(x.data - at) < margin
    x.data[near] = at + np.where(x.data[near] >= at, 2 * margin, -2 * margin)
    return x


@pytest.mark.parametrize("opts", SOFTPLUS, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_softplus(shape, opts, make, close, check_grads):
    beta, threshold = opts.get("beta", 1.0), opts.get("threshold", 20.0)
    x = _off_switch(make(shape, scale=1.5), beta, threshold)
    a = x.data.copy()
    expected = _np_softplus(a, beta, threshold)
    close(tinygan.softplus(x, **opts), expected, rtol=1e-12, dtype=np.float64)
    close(F.softplus(x, **opts), expected, rtol=1e-12)
    check_grads(lambda t: F.softplus(t, **opts), x)
    (g,) = tinygan.grad(F.softplus(x, **opts).sum(), x)
    np.testing.assert_allclose(g.data, np.where(beta * a > threshold, 1.0, _np_sigmoid(beta * a)),
                               rtol=1e-12)


def test_softplus_both_branches_are_exercised():
    # The threshold cases above must really hit the linear branch (the test must be able to fail).
    x = tinygan.tensor([-1.0, 0.5, 2.0], dtype=tinygan.float64)
    y = F.softplus(x, threshold=1.0)
    np.testing.assert_allclose(y.data, [np.log1p(np.exp(-1.0)), np.log1p(np.exp(0.5)), 2.0],
                               rtol=1e-12)


# -----------------------------------------------------------------------------
# extreme logits: finite values and gradients
# -----------------------------------------------------------------------------
EXTREME = [-1e4, -1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0, 1e4]


def _np_sigmoid_stable(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))      # no exp, so no overflow at any |a|


@pytest.mark.parametrize("dtype", [tinygan.float32, tinygan.float64], ids=str)
def test_extreme_logits_stay_finite(dtype):
    x = tinygan.tensor(EXTREME, dtype=dtype, requires_grad=True)
    a = np.array(EXTREME)
    s = _np_sigmoid_stable(a)
    half = 0.5 * a
    for name, fn, ref, dref in [
        ("sigmoid", tinygan.sigmoid, s, s * (1 - s)),
        ("softplus", F.softplus, np.where(a > 20, a, np.logaddexp(0.0, a)), np.where(a > 20, 1.0, s)),
        ("softplus_beta", lambda t: F.softplus(t, beta=0.5, threshold=100.0),
         np.where(half > 100, a, np.logaddexp(0.0, half) / 0.5),
         np.where(half > 100, 1.0, _np_sigmoid_stable(half))),
        ("relu", F.relu, np.maximum(a, 0.0), (a > 0).astype(float)),
        ("leaky_relu", F.leaky_relu, np.where(a > 0, a, 0.01 * a), np.where(a > 0, 1.0, 0.01)),
    ]:
        with np.errstate(over="raise", invalid="raise", divide="raise"):   # no overflow, no nan
            y = fn(x)
            (g,) = tinygan.grad(y.sum(), x)
        assert y.dtype == dtype and g.dtype == dtype, name
        assert np.isfinite(y.data).all() and np.isfinite(g.data).all(), name
        # elementwise, no sums: a few ulps of each value (8 float32 eps), relative
        tol = 1e-6 if dtype == tinygan.float32 else 1e-12
        np.testing.assert_allclose(y.data, ref, rtol=tol, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(g.data, dref, rtol=tol, atol=1e-12, err_msg=name)


def test_softplus_small_logits_keep_precision():
    # log(1 + e^x) ~ e^x for very negative x: log1p keeps it, log(1 + .) would round it to 0.
    x = tinygan.tensor([-50.0, -700.0], dtype=tinygan.float64)
    np.testing.assert_allclose(F.softplus(x).data, np.exp([-50.0, -700.0]), rtol=1e-12)
    np.testing.assert_allclose(tinygan.sigmoid(x).data, np.exp([-50.0, -700.0]), rtol=1e-12)


def test_sigmoid_second_derivative_at_extremes():
    x = tinygan.tensor([-1000.0, 0.0, 1000.0], dtype=tinygan.float64, requires_grad=True)
    (g,) = tinygan.grad(x.sigmoid().sum(), x, create_graph=True)
    (gg,) = tinygan.grad(g.sum(), x)
    # s'' = s (1 - s) (1 - 2 s): 0 at 0 and at the saturated ends
    np.testing.assert_allclose(gg.data, [0.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(g.data, [0.0, 0.25, 0.0], atol=1e-15)


# -----------------------------------------------------------------------------
# softmax and log_softmax
# -----------------------------------------------------------------------------
SOFTMAX_CASES = [((5,), 0), ((5,), -1), ((2, 3), 0), ((2, 3), 1), ((2, 3), -1), ((2, 3, 4), 1),
                 ((2, 3, 4), -1), ((2, 3, 4), -3)]


@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=str)
def test_softmax(shape, dim, make, close, check_grads):
    x = make(shape, scale=2.0)
    a = x.data.copy()
    expected = _np_softmax(a, dim)
    y = tinygan.softmax(x, dim)
    close(y, expected, rtol=1e-12, dtype=np.float64)
    close(x.softmax(dim), expected, rtol=1e-12)
    close(F.softmax(x, dim=dim), expected, rtol=1e-12)
    np.testing.assert_allclose(y.data.sum(axis=dim), 1.0, rtol=1e-12)
    check_grads(lambda t: F.softmax(t, dim), x)


@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=str)
def test_log_softmax(shape, dim, make, close, check_grads):
    x = make(shape, scale=2.0)
    a = x.data.copy()
    expected = _np_log_softmax(a, dim)
    close(tinygan.log_softmax(x, dim), expected, rtol=1e-12, atol=1e-12, dtype=np.float64)
    close(x.log_softmax(dim), expected, rtol=1e-12, atol=1e-12)
    close(F.log_softmax(x, dim=dim), expected, rtol=1e-12, atol=1e-12)
    check_grads(lambda t: F.log_softmax(t, dim), x)


def test_softmax_gradient_closed_form(make):
    x = make(2, 4)
    gy = np.random.default_rng(3).standard_normal((2, 4))
    (g,) = tinygan.grad(x.softmax(1), x, grad_outputs=tinygan.tensor(gy))
    s = _np_softmax(x.data, 1)
    np.testing.assert_allclose(g.data, s * (gy - (gy * s).sum(1, keepdims=True)), rtol=1e-12)
    (g,) = tinygan.grad(x.log_softmax(1), x, grad_outputs=tinygan.tensor(gy))
    np.testing.assert_allclose(g.data, gy - s * gy.sum(1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("dtype", [tinygan.float32, tinygan.float64], ids=str)
def test_softmax_large_logits(dtype):
    logits = [[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0], [-1e4, -1e4 - 1.0, -1e4 - 2.0]]
    x = tinygan.tensor(logits, dtype=dtype, requires_grad=True)
    a = np.array(logits)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = x.softmax(1)
        lp = x.log_softmax(1)
        (g,) = tinygan.grad((p * p).sum() + lp[:, 0].sum(), x)
    assert p.dtype == dtype and lp.dtype == dtype and g.dtype == dtype
    assert np.isfinite(p.data).all() and np.isfinite(lp.data).all() and np.isfinite(g.data).all()
    e = np.exp([0.0, 1.0, 2.0])
    # rows of three: a few ulps (8 float32 eps) of each value, relative, and absolute near 0
    tol = 1e-6 if dtype == tinygan.float32 else 1e-12
    np.testing.assert_allclose(p.data[0], e / e.sum(), rtol=tol)
    np.testing.assert_allclose(p.data[2], e[::-1] / e.sum(), rtol=tol)
    np.testing.assert_allclose(lp.data[1], [-2000.0, -1000.0, 0.0], rtol=tol, atol=tol)
    np.testing.assert_allclose(lp.data, _np_log_softmax(a, 1), rtol=tol, atol=tol)


def test_softmax_needs_dim(make):
    with pytest.raises(TypeError):
        tinygan.softmax(make(3), None)


# -----------------------------------------------------------------------------
# dtypes: float32 in, float32 out (with Python-number options); 0-d results are ndarrays
# -----------------------------------------------------------------------------
ACTIVATIONS = {
    "sigmoid": tinygan.sigmoid, "relu": tinygan.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "softplus": F.softplus, "softplus_beta": lambda x: F.softplus(x, beta=2, threshold=1.5),
    "softmax": lambda x: F.softmax(x, -1), "log_softmax": lambda x: F.log_softmax(x, -1),
    "tanh": F.tanh,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_stays_float32(name):
    x = tinygan.tensor([[0.5, -1.5, 2.0], [1.25, -0.75, 3.0]], requires_grad=True)
    y = ACTIVATIONS[name](x)
    assert y.dtype == np.float32, y.dtype
    assert type(y.data) is np.ndarray
    (g,) = tinygan.grad((y * y).sum(), x)
    assert g.dtype == np.float32, g.dtype


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_0d_results_are_ndarrays(name):
    x = tinygan.tensor(0.75, requires_grad=True)
    y = ACTIVATIONS[name](x)
    assert type(y.data) is np.ndarray and y.data.ndim == 0 and y.dtype == np.float32


def test_softplus_refuses_integer_input():
    with pytest.raises(TypeError, match="softplus: expected a floating point input, got dtype int64"):
        tinygan.softplus(tinygan.tensor([1, 2]))


# -----------------------------------------------------------------------------
# the backward ops: each is a Function of (gy, y) with its own derivatives
# -----------------------------------------------------------------------------
def _np_sigmoid_backward(gy, y, axis):
    return gy * y * (1.0 - y)


def _np_softmax_backward(gy, y, axis):
    return y * (gy - (gy * y).sum(axis=axis, keepdims=True))


def _np_log_softmax_backward(gy, y, axis):
    return gy - np.exp(y) * gy.sum(axis=axis, keepdims=True)


BACKWARD_OPS = {
    "sigmoid": (lambda axis: A.SigmoidBackward(), _np_sigmoid_backward),
    "softmax": (A.SoftmaxBackward, _np_softmax_backward),
    "log_softmax": (A.LogSoftmaxBackward, _np_log_softmax_backward),
}


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4), 2)],
                         ids=str)
@pytest.mark.parametrize("name", list(BACKWARD_OPS))
def test_backward_op_of_gy_and_y(name, shape, dim, make, close, check_grads):
    """The formula holds for any (gy, y), so y is an independent input here: the derivatives
    in y are checked on their own, not only through y = f(x)."""
    cls, ref = BACKWARD_OPS[name]
    gy, y = make(shape), make(shape, kind="uniform")
    close(cls(dim)(gy, y), ref(gy.data.copy(), y.data.copy(), dim), rtol=1e-12, atol=1e-15,
          dtype=np.float64)
    check_grads(lambda g, t: cls(dim)(g, t), gy, y)


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "log_softmax"])
def test_third_derivative_through_the_backward_ops(name, make, check_grads):
    """The gradient's graph goes through the backward op; its own second derivative (the
    third of the activation) is checked too."""
    act = {"sigmoid": tinygan.sigmoid, "softmax": lambda t: t.softmax(-1),
           "log_softmax": lambda t: t.log_softmax(-1)}[name]
    x, v = make(2, 3), make(2, 3)

    def gradient(x, v):
        with tinygan.enable_grad():      # (the numeric side calls it under no_grad)
            (g,) = tinygan.grad(act(x), x, grad_outputs=v, create_graph=True)
        return g
    check_grads(gradient, x, v)
