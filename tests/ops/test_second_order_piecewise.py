"""Second derivatives of the piecewise-linear ops, and whether their gradient stays in the graph.

A piecewise-linear op (relu, abs, clamp, max, max pooling, ...) has a piecewise-constant
derivative, so its second derivative is zero.  What differs from op to op is whether the
gradient ``g``, taken with ``create_graph=True``, is itself in the graph -- requires grad --
so that ``grad(g.sum(), x)`` returns that zero, or is a constant, so that it raises "does
not require grad".  tinygan decides it as PyTorch does, op by op (see ops/math.py):
``EXPECTED`` below is what PyTorch 2.13 gives, hard-coded so that the tests run without
PyTorch, and checked against PyTorch itself where it is installed.

Every case is also checked against central differences to second order, in float64, at
points away from the kinks; and products of a piecewise-linear op with something else
(``leaky_relu(x) * y``, a gradient penalty through relu) must keep their second derivatives
that are not zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradcheck, gradgradcheck


# -----------------------------------------------------------------------------
# the cases: fn(lib, F, *inputs) runs with lib = tinygan or torch
# -----------------------------------------------------------------------------
def _normal_away_from(rng, shape, points, margin=0.05):
    """randn values none of which is closer than ``margin`` to any of ``points`` (the kinks)."""
    a = rng.standard_normal(shape)
    while True:
        near = np.zeros(a.shape, bool)
        for p in points:
            near |= np.abs(a - p) < margin
        if not near.any():
            return a
        a[near] = rng.standard_normal(int(near.sum()))


def _distinct(rng, shape, gap=0.1):
    """No two values closer than ``gap`` (no ties for max / min / max pooling)."""
    n = int(np.prod(shape))
    return rng.permutation((np.arange(n) - n / 2) * gap + rng.uniform(0, gap / 4, n)).reshape(shape)


def _away(rng, shape):
    return _normal_away_from(rng, shape, [0.0])


def _apart(rng, shape):
    """Two arrays whose elements differ by at least 0.1 (no ties for maximum / minimum)."""
    a = rng.standard_normal(shape)
    gap = np.where(rng.random(shape) < 0.5, -1, 1) * (0.1 + np.abs(rng.standard_normal(shape)))
    return [a, a + gap]


def _quotients_away_from_integers(rng, shape):
    """a, b > 0 with a / b at least 0.05 from an integer: away from the jumps of a % b."""
    b = 0.5 + np.abs(rng.standard_normal(shape))
    q = rng.integers(-3, 3, shape) + rng.uniform(0.05, 0.95, shape)
    return [q * b, b]


@dataclass
class Case:
    fn: Callable                      # fn(lib, F, *inputs) -> Tensor
    arrays: Callable                  # rng -> list of float64 arrays, one per input
    needs: tuple = (True,)            # which inputs require grad


S2, S4 = (3, 4), (2, 3, 4, 4)
CASES = {
    "relu": Case(lambda L, F, x: F.relu(x), lambda r: [_away(r, S2)]),
    "leaky_relu": Case(lambda L, F, x: F.leaky_relu(x, 0.2), lambda r: [_away(r, S2)]),
    "leaky_relu_default": Case(lambda L, F, x: F.leaky_relu(x), lambda r: [_away(r, S2)]),
    "abs": Case(lambda L, F, x: L.abs(x), lambda r: [_away(r, S2)]),
    "sign": Case(lambda L, F, x: L.sign(x) * x, lambda r: [_away(r, S2)]),
    "l1_loss": Case(lambda L, F, x, t: F.l1_loss(x, t),
                    lambda r: _apart(r, S2), (True, True)),
    "l1_loss_constant_target": Case(lambda L, F, x, t: F.l1_loss(x, t, reduction="sum"),
                                    lambda r: _apart(r, S2), (True, False)),
    "clamp_min": Case(lambda L, F, x: x.clamp(min=-0.5),
                      lambda r: [_normal_away_from(r, S2, [-0.5])]),
    "clamp_max": Case(lambda L, F, x: x.clamp(max=0.5),
                      lambda r: [_normal_away_from(r, S2, [0.5])]),
    "clamp": Case(lambda L, F, x: x.clamp(-0.5, 0.5),
                  lambda r: [_normal_away_from(r, S2, [-0.5, 0.5])]),
    "max": Case(lambda L, F, x: x.max(), lambda r: [_distinct(r, S2)]),
    "min": Case(lambda L, F, x: x.min(), lambda r: [_distinct(r, S2)]),
    "max_dim": Case(lambda L, F, x: x.max(1).values, lambda r: [_distinct(r, S2)]),
    "min_dim": Case(lambda L, F, x: x.min(0)[0], lambda r: [_distinct(r, S2)]),
    "amax": Case(lambda L, F, x: x.amax((1, 2)), lambda r: [_distinct(r, (2, 3, 4))]),
    "amin": Case(lambda L, F, x: x.amin(1), lambda r: [_distinct(r, S2)]),
    "maximum": Case(lambda L, F, a, b: L.maximum(a, b), lambda r: _apart(r, S2), (True, True)),
    "minimum": Case(lambda L, F, a, b: L.minimum(a, b), lambda r: _apart(r, S2), (True, True)),
    "maximum_constant_other": Case(lambda L, F, a, b: L.maximum(a, b), lambda r: _apart(r, S2),
                                   (True, False)),
    "where": Case(lambda L, F, a, b: L.where(a > 0, a, b), lambda r: [_away(r, S2), _away(r, S2)],
                  (True, True)),
    "max_pool2d_blocks": Case(lambda L, F, x: F.max_pool2d(x, 2), lambda r: [_distinct(r, S4)]),
    "max_pool2d_windows": Case(lambda L, F, x: F.max_pool2d(x, 3, 1, 1),
                               lambda r: [_distinct(r, S4)]),
    "max_pool2d_indices": Case(lambda L, F, x: F.max_pool2d(x, 2, return_indices=True)[0],
                               lambda r: [_distinct(r, S4)]),
    "remainder": Case(lambda L, F, a, b: a % b, lambda r: _quotients_away_from_integers(r, S2),
                      (True, True)),
}

# requires_grad of each gradient (one per input that requires grad) taken with
# create_graph=True, as PyTorch 2.13 gives it.  True where PyTorch's backward formula takes
# the input itself (threshold_backward, leaky_relu_backward, grad * self.sgn(),
# max_pool2d_with_indices_backward, -grad * div(self, other, rounding_mode='floor') for the
# divisor); False where it is gy and a boolean mask (clamp, maximum, where, max / amax).
EXPECTED = {
    "relu": (True,), "leaky_relu": (True,), "leaky_relu_default": (True,), "abs": (True,),
    "sign": (True,),                 # through the product with x; sign's own gradient is 0
    "l1_loss": (True, True), "l1_loss_constant_target": (True,),
    "clamp_min": (False,), "clamp_max": (False,), "clamp": (False,),
    "max": (False,), "min": (False,), "max_dim": (False,), "min_dim": (False,),
    "amax": (False,), "amin": (False,),
    "maximum": (False, False), "minimum": (False, False), "maximum_constant_other": (False,),
    "where": (False, False),
    "max_pool2d_blocks": (True,), "max_pool2d_windows": (True,), "max_pool2d_indices": (True,),
    "remainder": (False, True),
}
assert EXPECTED.keys() == CASES.keys()


def _torch():
    torch = pytest.importorskip("torch")
    return torch, torch.nn.functional


def _grad(lib, *args, **kw):
    return (tinygan.grad if lib is tinygan else lib.autograd.grad)(*args, **kw)


def _inputs(lib, case: Case, arrays):
    return [lib.tensor(a.copy(), dtype=lib.float64, requires_grad=n)
            for a, n in zip(arrays, case.needs)]


def _first_and_second(lib, fns, case: Case, arrays, directions):
    """The inputs that require grad, their gradients g (create_graph=True), whether each g
    requires grad, and d<g, v>/d(inputs) -- None when no g requires grad (``grad`` would raise).
    """
    xs = _inputs(lib, case, arrays)
    wrt = [x for x in xs if x.requires_grad]
    y = case.fn(lib, fns, *xs)
    gs = _grad(lib, y.sum(), wrt, create_graph=True)
    needs = tuple(g.requires_grad for g in gs)
    if not any(needs):
        return wrt, gs, needs, None
    total = sum((g * lib.tensor(v)).sum() for g, v, n in zip(gs, directions, needs) if n)
    kw = {} if lib is tinygan else {"allow_unused": True}
    second = _grad(lib, total, wrt, **kw)
    second = [np.zeros(x.shape) if s is None else _numpy(s) for x, s in zip(wrt, second)]
    return wrt, gs, needs, second


def _numpy(t) -> np.ndarray:
    """A tinygan or torch tensor's values (torch may return a lazy ZeroTensor: force it)."""
    return t.detach().numpy() if isinstance(t, tinygan.Tensor) else t.detach().numpy(force=True)


def _setup(name, rng):
    case = CASES[name]
    arrays = case.arrays(rng)
    directions = [rng.standard_normal(a.shape) for a, n in zip(arrays, case.needs) if n]
    return case, arrays, directions


# -----------------------------------------------------------------------------
# requires_grad of the gradient, and the second derivative
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_gradient_requires_grad_as_pytorch_does(name, rng):
    case, arrays, directions = _setup(name, rng)
    wrt, gs, needs, second = _first_and_second(tinygan, F, case, arrays, directions)
    assert needs == EXPECTED[name]
    for g, n in zip(gs, needs):
        assert (g.grad_fn is not None) == n
    if not any(needs):
        # A constant gradient: differentiating it again is the error PyTorch raises too.
        with pytest.raises(RuntimeError, match="does not require grad"):
            tinygan.grad(gs[0].sum(), wrt[0])
    else:
        # Piecewise linear: the second derivative is zero, returned, not an error.
        for s in second:
            np.testing.assert_array_equal(s, 0.0)


@pytest.mark.parametrize("name", CASES)
def test_expected_table_is_what_pytorch_gives(name, rng):
    torch, tF = _torch()
    case, arrays, directions = _setup(name, rng)
    _, gs, needs, second = _first_and_second(torch, tF, case, arrays, directions)
    assert needs == EXPECTED[name]
    _, ours, _, our_second = _first_and_second(tinygan, F, case, arrays, directions)
    for g_t, g in zip(gs, ours):
        np.testing.assert_allclose(g.detach().numpy(), g_t.detach().numpy(), rtol=1e-12, atol=1e-15)
    if second is not None:
        for s_t, s in zip(second, our_second):
            np.testing.assert_allclose(s, s_t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", CASES)
def test_nothing_is_recorded_without_create_graph(name, rng):
    case, arrays, _ = _setup(name, rng)
    xs = _inputs(tinygan, case, arrays)
    y = case.fn(tinygan, F, *xs)
    for g in tinygan.grad(y.sum(), [x for x in xs if x.requires_grad]):
        assert not g.requires_grad and g.grad_fn is None
    with tinygan.no_grad():
        assert case.fn(tinygan, F, *xs).grad_fn is None


@pytest.mark.parametrize("name", CASES)
def test_first_and_second_derivatives_against_central_differences(name, rng):
    case, arrays, _ = _setup(name, rng)
    xs = _inputs(tinygan, case, arrays)
    fn = lambda *t: case.fn(tinygan, F, *t)   # noqa: E731
    assert gradcheck(fn, xs)
    assert gradgradcheck(fn, xs)


def test_at_the_kinks_as_pytorch():
    """At the kinks (x = 0, clamp's bounds, ties) gradients and requires_grad are PyTorch's."""
    torch, tF = _torch()
    x = np.array([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0])
    for name, fn in [("relu", lambda L, F, t: F.relu(t)),
                     ("leaky", lambda L, F, t: F.leaky_relu(t, 0.3)),
                     ("abs", lambda L, F, t: L.abs(t)),
                     ("clamp", lambda L, F, t: t.clamp(-0.5, 0.5)),
                     ("max", lambda L, F, t: t.max()),
                     ("maximum", lambda L, F, t: L.maximum(t, t * 0.0)),
                     ("pool", lambda L, F, t: F.max_pool2d(t.reshape(1, 1, 3, 2), (1, 2)))]:
        out = []
        for lib, fns in ((tinygan, F), (torch, tF)):
            t = lib.tensor(x, dtype=lib.float64, requires_grad=True)
            (g,) = _grad(lib, fn(lib, fns, t).sum(), t, create_graph=True)
            out.append((g.requires_grad, g.detach().numpy()))
        assert out[0][0] == out[1][0], name
        np.testing.assert_array_equal(out[0][1], out[1][1], err_msg=name)


def test_sign():
    x = tinygan.tensor([-2.0, -0.0, 0.0, 3.0, np.nan], requires_grad=True)
    y = tinygan.sign(x)
    np.testing.assert_array_equal(y.data, np.sign(x.data))
    assert y.requires_grad and x.sign().requires_grad       # as torch.sign: in the graph ...
    (g,) = tinygan.grad(y.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, 0.0)               # ... with derivative 0
    assert not g.requires_grad


def test_recorded_gradient_equals_the_fast_one():
    """relu's recorded gradient equals the unrecorded one (the fast in-place path)."""
    rng = np.random.default_rng(0)
    x = tinygan.tensor(rng.standard_normal((64, 8, 14, 14)).astype(np.float32), requires_grad=True)
    gy = tinygan.tensor(rng.standard_normal(x.shape).astype(np.float32))
    for f in (F.relu, lambda t: F.leaky_relu(t, 0.2)):
        (fast,) = tinygan.grad(f(x), x, gy)
        (recorded,) = tinygan.grad(f(x), x, gy, create_graph=True)
        assert recorded.requires_grad and fast.dtype == recorded.dtype == np.float32
        np.testing.assert_array_equal(fast.data, recorded.data)


# -----------------------------------------------------------------------------
# second derivatives that are not zero
# -----------------------------------------------------------------------------
def test_leaky_relu_times_y_mixed_second_derivative(rng):
    # f = sum(leaky_relu(x) * y): df/dx = y * s(x), d/dy <df/dx, v> = v * s(x), s = 1 or 0.2.
    x = tinygan.tensor(_away(rng, S2), requires_grad=True)
    y = tinygan.tensor(rng.standard_normal(S2), requires_grad=True)
    v = rng.standard_normal(S2)
    (gx,) = tinygan.grad((F.leaky_relu(x, 0.2) * y).sum(), x, create_graph=True)
    gxx, gxy = tinygan.grad((gx * tinygan.tensor(v)).sum(), (x, y))
    s = np.where(x.data > 0, 1.0, 0.2)
    np.testing.assert_allclose(gxy.data, v * s, rtol=1e-15)
    np.testing.assert_array_equal(gxx.data, 0.0)
    fn = lambda a, b: F.leaky_relu(a, 0.2) * b   # noqa: E731
    assert gradgradcheck(fn, (x, y))


def test_l1_loss_second_derivative_through_a_product(rng):
    # L = mean|x w - t|: dL/dx = w sign(x w - t) / n, whose derivative in w is sign(.) / n.
    x = tinygan.tensor(_away(rng, S2) + 2.0, requires_grad=True)
    w = tinygan.tensor(_away(rng, S2), requires_grad=True)
    t = tinygan.tensor(rng.standard_normal(S2) * 0.01)
    v = rng.standard_normal(S2)
    (gx,) = tinygan.grad(F.l1_loss(x * w, t), x, create_graph=True)
    (gw,) = tinygan.grad((gx * tinygan.tensor(v)).sum(), w)
    expected = v * np.sign(x.data * w.data - t.data) / x.data.size
    np.testing.assert_allclose(gw.data, expected, rtol=1e-14)
    assert gradgradcheck(lambda a, b: F.l1_loss(a * b, t), (x, w))


def _critic(L, F, x, w1, w2, act):
    """A small critic: act(x @ w1) -> 2x2 max pooling -> @ w2 -> one score per sample."""
    h = act(L, F, x @ w1)                                    # (N, 16)
    h = F.max_pool2d(h.reshape(-1, 1, 4, 4), 2).reshape(-1, 4)
    return h @ w2


def _penalty(L, F, x, w1, w2, act):
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3): E[(||grad_x D(x)||_2 - 1)^2]."""
    (g,) = _grad(L, _critic(L, F, x, w1, w2, act).sum(), x, create_graph=True)
    return (((g * g).sum(1) + 1e-12).sqrt() - 1.0).pow(2).mean()


ACTS = {
    "relu": lambda L, F, h: F.relu(h),
    "leaky_relu": lambda L, F, h: F.leaky_relu(h, 0.2),
    "abs": lambda L, F, h: L.abs(h),
    "clamp": lambda L, F, h: h.clamp(-1.0, 1.0),
}


@pytest.mark.parametrize("act", ACTS)
def test_gradient_penalty_through_piecewise_ops(act, rng):
    """The penalty's gradient in the weights: nonzero, as PyTorch's, as central differences."""
    arrays = [rng.standard_normal((5, 3)), rng.standard_normal((3, 16)) * 0.7,
              rng.standard_normal((4, 1))]
    x = tinygan.tensor(arrays[0], requires_grad=True)
    w1, w2 = (tinygan.tensor(a, requires_grad=True) for a in arrays[1:])

    def penalty(a, b):
        with tinygan.enable_grad():      # gradcheck's evaluations run under no_grad
            return _penalty(tinygan, F, x, a, b, ACTS[act])
    g1, g2 = tinygan.grad(penalty(w1, w2), (w1, w2))
    assert np.abs(g1.data).max() > 1e-3 and np.abs(g2.data).max() > 1e-3
    assert gradcheck(penalty, (w1, w2))
    try:
        import torch
    except ImportError:
        return
    tx, tw1, tw2 = (torch.tensor(a, requires_grad=True) for a in arrays)
    t_penalty = _penalty(torch, torch.nn.functional, tx, tw1, tw2, ACTS[act])
    t1, t2 = torch.autograd.grad(t_penalty, (tw1, tw2))
    np.testing.assert_allclose(g1.data, t1.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g2.data, t2.numpy(), rtol=1e-10, atol=1e-13)
