"""tinygan.ops.math: arithmetic, unary math, clamp / maximum / minimum / where, matmul.

Each op is checked three ways, in float64: its forward against a NumPy reference written
here with plain NumPy, its first derivatives (gradcheck) and its second derivatives
(gradgradcheck), over several shapes, broadcasting included.  Inputs stay away from the
points where a derivative is undefined (abs at 0, clamp bounds, maximum ties); the ties
and bounds themselves get tests of their own with the exact gradient PyTorch gives.
"""
from __future__ import annotations

import operator

import numpy as np
import pytest

import tinygan
from tinygan.ops.math import TanhBackward
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, product_tolerance, sum_tolerance

SHAPES = [(), (5,), (2, 3), (2, 3, 4)]

# Pairs of operand shapes for binary ops: equal, trailing-dim broadcast, both sides
# stretched, 0-d against n-d, and a new leading dim on one side.
BROADCAST = [
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((4, 1, 3), (2, 1)),
    ((2, 1, 3), (1, 2, 1)),
]


# -----------------------------------------------------------------------------
# unary math
# -----------------------------------------------------------------------------
# name, NumPy reference, kind of input (see conftest.make)
UNARY = [
    ("neg", np.negative, "normal"),
    ("exp", np.exp, "normal"),
    ("log", np.log, "positive"),
    ("sqrt", np.sqrt, "positive"),
    ("abs", np.abs, "away"),
    ("sin", np.sin, "normal"),
    ("cos", np.cos, "normal"),
    ("tanh", np.tanh, "normal"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,ref,kind", UNARY, ids=[u[0] for u in UNARY])
def test_unary_forward(name, ref, kind, shape, make, close):
    x = make(shape, kind=kind)
    expected = ref(x.data.copy())
    close(getattr(tinygan, name)(x), expected, dtype=np.float64)   # function form
    close(getattr(x, name)(), expected, dtype=np.float64)          # method form


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,ref,kind", UNARY, ids=[u[0] for u in UNARY])
def test_unary_grads(name, ref, kind, shape, make, check_grads):
    x = make(shape, kind=kind)
    check_grads(getattr(tinygan, name), x)


def test_unary_operators(make, close):
    x = make(2, 3, kind="away")
    a = x.data.copy()
    close(-x, -a)
    close(abs(x), np.abs(a))
    close(+x, a)


def test_unary_derivative_values(make):
    """Spot-check analytic derivatives against their closed forms (not only against numerics)."""
    x = make(4, kind="positive")
    a = x.data.copy()
    for fn, dfn in [(tinygan.exp, np.exp), (tinygan.log, lambda v: 1 / v),
                    (tinygan.sqrt, lambda v: 0.5 / np.sqrt(v)), (tinygan.sin, np.cos),
                    (tinygan.cos, lambda v: -np.sin(v)), (tinygan.tanh, lambda v: 1 - np.tanh(v) ** 2),
                    (tinygan.neg, lambda v: -np.ones_like(v)), (tinygan.abs, np.sign)]:
        (g,) = tinygan.grad(fn(x).sum(), x)
        np.testing.assert_allclose(g.data, dfn(a), rtol=1e-12, err_msg=fn.__name__)


def test_abs_gradient_at_zero_is_zero():
    # The subgradient PyTorch picks at the kink: sign(0) = 0.
    x = tinygan.tensor([-2.0, 0.0, 3.0], dtype=tinygan.float64, requires_grad=True)
    x.abs().sum().backward()
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])


# -----------------------------------------------------------------------------
# binary arithmetic, maximum and minimum, with broadcasting
# -----------------------------------------------------------------------------
# name, operator (None: function only), NumPy reference, kinds of the two inputs
BINARY = [
    ("add", operator.add, np.add, ("normal", "normal")),
    ("sub", operator.sub, np.subtract, ("normal", "normal")),
    ("mul", operator.mul, np.multiply, ("normal", "normal")),
    ("div", operator.truediv, np.divide, ("normal", "away")),
    ("pow", operator.pow, np.power, ("positive", "normal")),
    ("maximum", None, np.maximum, ("normal", "normal")),
    ("minimum", None, np.minimum, ("normal", "normal")),
]


def _binary_inputs(make, kinds, sa, sb, name):
    a, b = make(sa, kind=kinds[0]), make(sb, kind=kinds[1])
    if name in ("maximum", "minimum"):
        # Keep every broadcast pair at least 0.05 apart: a tie is a kink of max/min.
        while np.abs(np.subtract(a.data, b.data)).min() < 0.05:
            b = make(sb, kind=kinds[1])
    return a, b


@pytest.mark.parametrize("sa,sb", BROADCAST, ids=str)
@pytest.mark.parametrize("name,op,ref,kinds", BINARY, ids=[b[0] for b in BINARY])
def test_binary_forward(name, op, ref, kinds, sa, sb, make, close):
    a, b = _binary_inputs(make, kinds, sa, sb, name)
    expected = ref(a.data.copy(), b.data.copy())
    close(getattr(tinygan, name)(a, b), expected, dtype=np.float64)
    close(getattr(a, name)(b), expected, dtype=np.float64)
    if op is not None:
        close(op(a, b), expected, dtype=np.float64)


@pytest.mark.parametrize("sa,sb", BROADCAST, ids=str)
@pytest.mark.parametrize("name,op,ref,kinds", BINARY, ids=[b[0] for b in BINARY])
def test_binary_grads(name, op, ref, kinds, sa, sb, make, check_grads):
    a, b = _binary_inputs(make, kinds, sa, sb, name)
    check_grads(getattr(tinygan, name), a, b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_grads_one_input_constant(name, make, check_grads):
    """Only one operand requires grad (the other is a constant tensor): its gradient is skipped."""
    a = make(2, 3, kind="positive")
    b = make(3, kind="away", requires_grad=False)
    check_grads(getattr(tinygan, name), a, b)
    a2 = make(3, kind="positive", requires_grad=False)
    b2 = make(2, 3, kind="away")
    check_grads(getattr(tinygan, name), a2, b2)


def test_broadcast_gradient_sums_over_stretched_dims(make):
    a = make(2, 1)
    b = make(1, 3)
    (a * b).sum().backward()
    # sums of 3 and 2 terms, maybe added in another order: bounded by their |terms|
    assert_within(a.grad.data, np.broadcast_to(b.data.sum(), (2, 1)),
                  sum_tolerance(np.abs(b.data).sum(), 3, np.float64), "a.grad")
    assert_within(b.grad.data, np.broadcast_to(a.data.sum(), (1, 3)),
                  sum_tolerance(np.abs(a.data).sum(), 2, np.float64), "b.grad")
    assert a.grad.shape == (2, 1) and b.grad.shape == (1, 3)


def test_same_tensor_on_both_sides_adds_both_gradients(make):
    x = make(4)
    (g,) = tinygan.grad((x * x).sum(), x)
    np.testing.assert_allclose(g.data, 2 * x.data, rtol=1e-12)
    (g,) = tinygan.grad((x / x).sum(), x)
    np.testing.assert_allclose(g.data, 0.0, atol=1e-12)


# -- a Python number as one operand ----------------------------------------------------
# label, tinygan expression, NumPy reference, kind of x
SCALAR = [
    ("x+2.5", lambda x: x + 2.5, lambda a: a + 2.5, "normal"),
    ("2.5+x", lambda x: 2.5 + x, lambda a: 2.5 + a, "normal"),
    ("x-2", lambda x: x - 2, lambda a: a - 2, "normal"),
    ("2-x", lambda x: 2 - x, lambda a: 2 - a, "normal"),
    ("x*-1.5", lambda x: x * -1.5, lambda a: a * -1.5, "normal"),
    ("3*x", lambda x: 3 * x, lambda a: 3 * a, "normal"),
    ("x/4.0", lambda x: x / 4.0, lambda a: a / 4.0, "normal"),
    ("4.0/x", lambda x: 4.0 / x, lambda a: 4.0 / a, "away"),
    ("x**2", lambda x: x ** 2, lambda a: a ** 2, "normal"),
    ("x**3", lambda x: x ** 3, lambda a: a ** 3, "normal"),
    ("x**2.0", lambda x: x ** 2.0, lambda a: a ** 2.0, "normal"),
    ("x**0.5", lambda x: x ** 0.5, np.sqrt, "positive"),
    ("x**-1.5", lambda x: x ** -1.5, lambda a: a ** -1.5, "positive"),
    ("x**-1", lambda x: x ** -1, lambda a: 1 / a, "away"),
    ("x**1", lambda x: x ** 1, lambda a: a, "normal"),
    ("2.0**x", lambda x: 2.0 ** x, lambda a: 2.0 ** a, "normal"),
    ("0.5**x", lambda x: 0.5 ** x, lambda a: 0.5 ** a, "normal"),
    ("3**x", lambda x: 3 ** x, lambda a: 3.0 ** a, "normal"),
    ("pow(x,3.0)", lambda x: tinygan.pow(x, 3.0), lambda a: a ** 3, "normal"),
    ("pow(2.0,x)", lambda x: tinygan.pow(2.0, x), lambda a: 2.0 ** a, "normal"),
    ("x.pow(2)", lambda x: x.pow(2), lambda a: a ** 2, "normal"),
    ("add(1.0,x)", lambda x: tinygan.add(1.0, x), lambda a: 1.0 + a, "normal"),
    ("sub(x,1)", lambda x: tinygan.sub(x, 1), lambda a: a - 1, "normal"),
    ("x.mul(2)", lambda x: x.mul(2), lambda a: 2 * a, "normal"),
    ("x.div(2.0)", lambda x: x.div(2.0), lambda a: a / 2.0, "normal"),
    ("div(1,x)", lambda x: tinygan.div(1, x), lambda a: 1 / a, "away"),
]


@pytest.mark.parametrize("shape", [(), (2, 3)], ids=str)
@pytest.mark.parametrize("label,fn,ref,kind", SCALAR, ids=[s[0] for s in SCALAR])
def test_scalar_operand(label, fn, ref, kind, shape, make, close, check_grads):
    x = make(shape, kind=kind)
    close(fn(x), ref(x.data.copy()), dtype=np.float64)
    check_grads(fn, x)


def test_pow_tensor_exponent_and_number_base(make, close, check_grads):
    b = make(2, 3)
    close(2.0 ** b, 2.0 ** b.data, dtype=np.float64)
    (g,) = tinygan.grad((2.0 ** b).sum(), b)
    np.testing.assert_allclose(g.data, np.log(2.0) * 2.0 ** b.data, rtol=1e-12)
    a = make(2, 3, kind="positive")
    (ga, gb) = tinygan.grad((a ** b).sum(), (a, b))
    np.testing.assert_allclose(ga.data, b.data * a.data ** (b.data - 1), rtol=1e-12)
    np.testing.assert_allclose(gb.data, a.data ** b.data * np.log(a.data), rtol=1e-12)


def test_pow_zero_exponent_has_zero_gradient():
    # d/dx x^0 = 0 everywhere, x = 0 included (PyTorch gives 0 there, not 0 * 0^-1 = nan).
    x = tinygan.tensor([0.0, 1.5, -2.0], dtype=tinygan.float64, requires_grad=True)
    y = x ** 0
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])
    (g,) = tinygan.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [0.0, 0.0, 0.0])
    if g.requires_grad:     # a constant gradient need not be in the graph at all
        (gg,) = tinygan.grad(g.sum(), x, allow_unused=True)
        assert gg is None or np.array_equal(gg.data, [0.0, 0.0, 0.0])


def test_pow_zero_base_gradients_are_finite():
    # At a = 0 PyTorch gives d/db a^b = 0 for b >= 0 (the limit of a^b log a, not 0 * -inf = nan)
    # and d/da a^b = 0 for b = 0 (not 0 * 0^-1 = nan); second derivatives stay finite there.
    a = tinygan.tensor([0.0, 0.0, 2.0, 0.0], dtype=tinygan.float64, requires_grad=True)
    b = tinygan.tensor([2.0, 0.0, 3.0, 1.0], dtype=tinygan.float64, requires_grad=True)
    y = a ** b
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(y.data, [0.0, 1.0, 8.0, 0.0])
    ga, gb = tinygan.grad(y.sum(), (a, b), create_graph=True)
    np.testing.assert_allclose(ga.data, [0.0, 0.0, 12.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(gb.data, [0.0, 0.0, 8.0 * np.log(2.0), 0.0], rtol=1e-12)
    (ggb,) = tinygan.grad(gb.sum(), b, retain_graph=True)
    np.testing.assert_allclose(ggb.data, [0.0, 0.0, 8.0 * np.log(2.0) ** 2, 0.0], rtol=1e-12)
    (gga,) = tinygan.grad(ga[2:].sum(), a)
    np.testing.assert_allclose(gga.data, [0.0, 0.0, 12.0, 0.0], rtol=1e-12)   # b(b-1)a^(b-2)


def test_int_tensors_true_division():
    # int / int is true division into the default float dtype (float32), as in PyTorch.
    a = tinygan.tensor([1, 2, 3])
    b = tinygan.tensor([2, 2, 4])
    for y, expected in [(a / b, [0.5, 1.0, 0.75]), (a / 2, [0.5, 1.0, 1.5]),
                        (3 / b, [1.5, 1.5, 0.75]), (tinygan.div(a, b), [0.5, 1.0, 0.75])]:
        assert y.dtype == np.float32, y.dtype
        np.testing.assert_allclose(y.data, expected)


def test_int_tensor_with_float_number_gives_float32():
    a = tinygan.tensor([1, 2, 3])
    assert (a * 2.0).dtype == np.float32
    assert (a + 0.5).dtype == np.float32
    assert (0.5 - a).dtype == np.float32
    np.testing.assert_allclose((a * 0.5).data, [0.5, 1.0, 1.5])
    x = tinygan.ones(3)
    assert (x * np.float64(2.0)).dtype == np.float32      # a NumPy scalar is a number too
    assert (x + a).dtype == np.float32                     # int tensor + float tensor


# -----------------------------------------------------------------------------
# clamp
# -----------------------------------------------------------------------------
CLAMP = [(-0.5, None), (None, 0.3), (-0.5, 0.5), (0.2, 0.2)]


def _away_from(x: tinygan.Tensor, bounds, margin=0.05) -> tinygan.Tensor:
    """Move entries closer than ``margin`` to a bound away from it (the bounds are kinks)."""
    for b in bounds:
        if b is not None:
            near = np.abs(x.data - b) < margin
            x.data[near] = b + np.where(x.data[near] >= b, margin, -margin) * 2
    return x


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("lo,hi", CLAMP, ids=str)
def test_clamp(lo, hi, shape, make, close, check_grads):
    x = _away_from(make(shape, scale=2.0), (lo, hi))
    a = x.data.copy()
    expected = np.clip(a, lo, hi)
    close(tinygan.clamp(x, lo, hi), expected, dtype=np.float64)
    close(tinygan.clamp(x, min=lo, max=hi), expected)
    close(x.clamp(lo, hi), expected)
    close(x.clip(min=lo, max=hi), expected)
    close(tinygan.clip(x, lo, hi), expected)
    check_grads(lambda t: tinygan.clamp(t, min=lo, max=hi), x)
    (g,) = tinygan.grad(tinygan.clamp(x, lo, hi).sum(), x)
    inside = np.ones(a.shape, bool)
    if lo is not None:
        inside &= a >= lo
    if hi is not None:
        inside &= a <= hi
    # exact: the derivative of clamp is 0 or 1
    np.testing.assert_array_equal(g.data, inside.astype(float))


def test_clamp_gradient_passes_at_the_bounds():
    # PyTorch's convention: min <= x <= max (bounds included) lets the gradient through.
    x = tinygan.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=tinygan.float64, requires_grad=True)
    x.clamp(-0.5, 0.5).sum().backward()
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clamp_needs_a_bound(make):
    with pytest.raises(ValueError):
        tinygan.clamp(make(3))


# -----------------------------------------------------------------------------
# maximum / minimum ties
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_the_gradient(name):
    a = tinygan.tensor([1.0, 2.0, 3.0, -1.0], dtype=tinygan.float64, requires_grad=True)
    b = tinygan.tensor([1.0, 0.0, 3.0, 0.0], dtype=tinygan.float64, requires_grad=True)
    y = getattr(tinygan, name)(a, b)
    ref = np.maximum if name == "maximum" else np.minimum
    # exact: maximum and minimum select, ties split in halves
    np.testing.assert_array_equal(y.data, ref(a.data, b.data))
    gy = tinygan.tensor([1.0, 10.0, 100.0, 1000.0], dtype=tinygan.float64)
    ga, gb = tinygan.grad(y, (a, b), grad_outputs=gy)
    if name == "maximum":
        np.testing.assert_array_equal(ga.data, [0.5, 10.0, 50.0, 0.0])
        np.testing.assert_array_equal(gb.data, [0.5, 0.0, 50.0, 1000.0])
    else:
        np.testing.assert_array_equal(ga.data, [0.5, 0.0, 50.0, 1000.0])
        np.testing.assert_array_equal(gb.data, [0.5, 10.0, 50.0, 0.0])


def test_maximum_with_number_ties_and_broadcast():
    x = tinygan.tensor([[-1.0, 0.0, 2.0]], dtype=tinygan.float64, requires_grad=True)
    y = tinygan.maximum(x, 0.0)
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(y.data, [[0.0, 0.0, 2.0]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 1.0]])
    # A broadcast operand collects the (split) gradient from every position it was stretched to.
    c = tinygan.tensor([0.0], dtype=tinygan.float64, requires_grad=True)
    tinygan.minimum(x, c).sum().backward()
    np.testing.assert_array_equal(c.grad.data, [1.0 + 0.5 + 0.0])


# -----------------------------------------------------------------------------
# where
# -----------------------------------------------------------------------------
# condition shape, input shape, other shape
WHERE = [
    ((2, 3), (2, 3), (2, 3)),
    ((2, 3), (3,), ()),
    ((3,), (2, 1), (2, 3)),
    ((2, 1), (1, 3), (3,)),
    ((4, 1, 3), (2, 3), (1,)),
]


@pytest.mark.parametrize("sc,sa,sb", WHERE, ids=str)
def test_where(sc, sa, sb, make, rng, close, check_grads):
    cond = rng.random(sc) < 0.5
    a, b = make(sa), make(sb)
    expected = np.where(cond, a.data, b.data)
    close(tinygan.where(tinygan.tensor(cond), a, b), expected, dtype=np.float64)
    close(tinygan.where(cond, a, b), expected)
    check_grads(lambda s, t: tinygan.where(cond, s, t), a, b)


def test_where_gradient_goes_to_the_chosen_side():
    x = tinygan.tensor([1.0, -2.0, 3.0], dtype=tinygan.float64, requires_grad=True)
    y = tinygan.tensor([10.0, 20.0, 30.0], dtype=tinygan.float64, requires_grad=True)
    gx, gy = tinygan.grad(tinygan.where(x > 0, x, y).sum(), (x, y))
    # exact: where selects
    np.testing.assert_array_equal(gx.data, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy.data, [0.0, 1.0, 0.0])


def test_where_with_numbers(make, close, check_grads):
    x = make(2, 3, kind="away")
    a = x.data.copy()
    close(tinygan.where(x > 0, x, 0.0), np.where(a > 0, a, 0.0), dtype=np.float64)
    close(tinygan.where(x > 0, 1.0, x), np.where(a > 0, 1.0, a), dtype=np.float64)
    cond = a > 0
    check_grads(lambda t: tinygan.where(cond, t, 0.0), x)
    check_grads(lambda t: tinygan.where(cond, -1.5, t * t), x)


def test_where_rejects_non_bool_condition(make):
    with pytest.raises(TypeError):
        tinygan.where(np.array([1, 0, 1]), make(3), make(3))


# -----------------------------------------------------------------------------
# matmul
# -----------------------------------------------------------------------------
MATMUL = [
    ((3,), (3,)),             # dot product -> 0-d
    ((3,), (3, 2)),           # vector @ matrix
    ((2, 3), (3,)),           # matrix @ vector
    ((2, 3), (3, 4)),
    ((1, 3), (3, 1)),
    ((2, 2, 3), (3, 4)),      # batch @ matrix
    ((2, 3), (2, 3, 2)),      # matrix @ batch
    ((2, 1, 2, 3), (3, 3, 2)),  # batch dims broadcast: (2, 1) with (3,) -> (2, 3)
    ((3,), (2, 3, 2)),        # vector @ batch
    ((2, 2, 3), (3,)),        # batch @ vector
]


@pytest.mark.parametrize("sa,sb", MATMUL, ids=str)
def test_matmul_forward(sa, sb, make, close):
    a, b = make(sa), make(sb)
    expected = np.matmul(a.data.copy(), b.data.copy())
    close(a @ b, expected, rtol=1e-12, dtype=np.float64)
    close(tinygan.matmul(a, b), expected, rtol=1e-12)
    close(a.matmul(b), expected, rtol=1e-12)


@pytest.mark.parametrize("sa,sb", MATMUL, ids=str)
def test_matmul_grads(sa, sb, make, check_grads):
    a, b = make(sa), make(sb)
    check_grads(tinygan.matmul, a, b)


def test_matmul_gradient_closed_form(make):
    a, b = make(2, 3), make(3, 4)
    gy = np.random.default_rng(1).standard_normal((2, 4))
    ga, gb = tinygan.grad(a @ b, (a, b), grad_outputs=tinygan.tensor(gy))
    assert_within(ga.data, gy @ b.data.T, product_tolerance(gy, b.data.T), "a.grad")
    assert_within(gb.data, a.data.T @ gy, product_tolerance(a.data.T, gy), "b.grad")


def test_matmul_with_ndarray_operand(make, close):
    a = make(2, 3)
    m = np.arange(6.0).reshape(3, 2)
    close(a @ m, a.data @ m)
    close(m.T @ a.T, m.T @ a.data.T)


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (2, 3)), ((), (3,)), ((2, 2, 3), (3, 3, 2))],
                         ids=str)
def test_matmul_shape_mismatch_raises(sa, sb, make):
    with pytest.raises(ValueError):
        tinygan.matmul(make(sa), make(sb))


# -----------------------------------------------------------------------------
# dtypes: float32 stays float32 with Python numbers; results are ndarrays
# -----------------------------------------------------------------------------
F32_OPS = {
    "x+2.0": lambda x: x + 2.0, "2.0+x": lambda x: 2.0 + x, "x-1": lambda x: x - 1,
    "1-x": lambda x: 1 - x, "x*2.0": lambda x: x * 2.0, "2*x": lambda x: 2 * x,
    "x/3.0": lambda x: x / 3.0, "3.0/x": lambda x: 3.0 / x, "x**2": lambda x: x ** 2,
    "x**2.5": lambda x: x ** 2.5, "x**-1": lambda x: x ** -1, "2.0**x": lambda x: 2.0 ** x,
    "x**x": lambda x: x ** x, "x+x": lambda x: x + x, "x*x": lambda x: x * x, "x/x": lambda x: x / x,
    "neg": lambda x: -x, "exp": tinygan.exp, "log": tinygan.log, "sqrt": tinygan.sqrt,
    "abs": tinygan.abs, "sin": tinygan.sin, "cos": tinygan.cos, "tanh": tinygan.tanh,
    "clamp": lambda x: x.clamp(0.7, 1.2), "clamp_min": lambda x: x.clamp(min=1),
    "clamp_max": lambda x: x.clamp(max=1.0), "maximum": lambda x: tinygan.maximum(x, 1.0),
    "minimum": lambda x: tinygan.minimum(1.0, x), "where": lambda x: tinygan.where(x > 1, x, 0.0),
    "where2": lambda x: tinygan.where(x > 1, 2.5, x), "matmul": lambda x: x @ x.T,
    "dot": lambda x: x[0] @ x[1],
}


@pytest.mark.parametrize("name", list(F32_OPS))
def test_float32_stays_float32(name):
    x = tinygan.tensor([[0.5, 1.5, 2.0], [1.25, 0.75, 3.0]], requires_grad=True)
    assert x.dtype == np.float32
    y = F32_OPS[name](x)
    assert y.dtype == np.float32, y.dtype
    assert isinstance(y.data, np.ndarray)
    (g,) = tinygan.grad(y.sum(), x)
    assert g.dtype == np.float32, g.dtype          # the backward keeps the dtype too


@pytest.mark.parametrize("name", ["x+2.0", "x*2.0", "x**2", "2.0**x", "neg", "exp", "log", "sqrt",
                                  "abs", "sin", "cos", "tanh", "clamp", "maximum", "where"])
def test_zero_dim_results_are_ndarrays(name):
    x = tinygan.tensor(1.5, requires_grad=True)
    y = F32_OPS[name](x)
    assert type(y.data) is np.ndarray and y.data.ndim == 0
    assert y.dtype == np.float32
    (g,) = tinygan.grad(y, x)
    assert type(g.data) is np.ndarray and g.data.ndim == 0 and g.dtype == np.float32


def test_gradcheck_catches_a_wrong_derivative():
    """The checker itself must be able to fail: a Function with a deliberately wrong backward."""
    class BadSquare(tinygan.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * self.inputs[0] * 3.0      # should be 2x

    x = tinygan.tensor([0.5, -1.0, 2.0], dtype=tinygan.float64, requires_grad=True)
    with pytest.raises(AssertionError):
        gradcheck(lambda t: BadSquare()(t), (x,))


# -----------------------------------------------------------------------------
# remainder and floor division (% and //)
# -----------------------------------------------------------------------------
def test_remainder_and_floor_divide_follow_python_signs():
    a = tinygan.tensor([7, -7, 7, -7])
    b = tinygan.tensor([3, 3, -3, -3])
    # exact: integer results
    np.testing.assert_array_equal((a % b).data, np.array([7, -7, 7, -7]) % np.array([3, 3, -3, -3]))
    np.testing.assert_array_equal((a // b).data, [2, -3, -3, 2])
    assert (a % 10).dtype == np.int64 and (tinygan.tensor([1, 12]) % 10).tolist() == [1, 2]
    x = tinygan.tensor([5.5, -1.25])
    np.testing.assert_allclose((x % 2.0).data, [1.5, 0.75])
    np.testing.assert_allclose((7.0 % tinygan.tensor([2.0, 4.0])).data, [1.0, 3.0])


def test_remainder_gradients():
    rng = np.random.default_rng(3)
    a = tinygan.tensor(rng.uniform(0.1, 0.9, (3, 4)) + rng.integers(-3, 3, (3, 4)), requires_grad=True)
    b = tinygan.tensor(np.array([1.7, -2.3, 3.1, 1.3]), requires_grad=True)
    assert gradcheck(lambda a, b: a % b, (a, b))
    assert gradgradcheck(lambda a, b: a % b, (a, b))


def test_tanh_backward_op_of_gy_and_y(make, check_grads):
    """TanhBackward(gy, y) = gy (1 - y^2) holds for any (gy, y): its derivatives in y are
    checked with y an independent input, and the third derivative of tanh through it."""
    gy, y = make(2, 3), make(2, 3, kind="uniform")
    a, b = gy.data.copy(), y.data.copy()
    np.testing.assert_allclose(TanhBackward()(gy, y).data, a * (1.0 - b * b), rtol=1e-12)
    check_grads(lambda g, t: TanhBackward()(g, t), gy, y)
    x, v = make(2, 3), make(2, 3)

    def gradient(x, v):
        with tinygan.enable_grad():      # (the numeric side calls it under no_grad)
            (g,) = tinygan.grad(x.tanh(), x, grad_outputs=v, create_graph=True)
        return g
    check_grads(gradient, x, v)
