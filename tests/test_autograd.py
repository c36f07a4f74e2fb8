"""Tests of the autograd engine (tinygan/autograd.py): graph walking, accumulation, freeing,
grad modes, ``tinygan.grad`` and higher-order gradients, checked against hand-computed values.

The last section is the WGAN-GP-style gradient penalty: a derivative of a derivative through a
small network, checked against central differences of an independent NumPy formula.
"""
from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import tinygan
from tinygan.testing import gradcheck


def f64(data, requires_grad=True):
    return tinygan.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad)


def arr(t):
    return np.asarray(t.detach().data)


X0 = np.array([-1.3, -0.2, 0.4, 1.7])


# ----------------------------------------------------------------------------
# graph shapes: diamonds, reuse, accumulation
# ----------------------------------------------------------------------------
def test_diamond_graph_matches_hand_computed_gradient():
    # x -> a = exp(x), x -> b = sin(x), y = sum(a * b):  dy/dx = e^x (sin x + cos x)
    x = f64(X0)
    a = x.exp()
    b = x.sin()
    y = (a * b).sum()
    y.backward()
    np.testing.assert_allclose(arr(x.grad), np.exp(X0) * (np.sin(X0) + np.cos(X0)), rtol=1e-12)


class _CountingIdentity(tinygan.Function):
    """y = x; counts how often its backward runs (once per backward pass, not once per path)."""

    calls = 0

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        type(self).calls += 1
        return gy


def test_diamond_node_runs_backward_once_with_the_summed_gradient():
    _CountingIdentity.calls = 0
    x = f64(X0)
    m = _CountingIdentity()(x)          # m feeds both branches of the diamond
    y = ((m * 2.0) * (m * 3.0)).sum()   # y = 6 m^2
    y.backward()
    assert _CountingIdentity.calls == 1
    np.testing.assert_allclose(arr(x.grad), 12.0 * X0, rtol=1e-12)


def test_tensor_used_twice_in_one_op():
    x = f64(X0)
    (x * x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), 2.0 * X0, rtol=1e-12)

    z = f64(X0)
    (z + z).sum().backward()
    np.testing.assert_allclose(arr(z.grad), np.full(4, 2.0))


def test_grad_accumulates_over_two_backward_calls():
    x = f64(X0)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(arr(x.grad), np.full(4, 3.0))
    (x * x).sum().backward()
    np.testing.assert_allclose(arr(x.grad), 3.0 + 2.0 * X0, rtol=1e-12)


def test_leaf_grads_of_two_leaves_are_not_the_same_tensor():
    # Each leaf must own its .grad: optimizers and gradient clipping update grads in place.
    # Here one upstream gradient (the ones spread by sum) reaches both x and y through add.
    x = f64(X0)
    y = f64(X0 * 2)
    (x + y).sum().backward()
    assert x.grad is not y.grad
    assert not np.shares_memory(x.grad.data, y.grad.data)
    with tinygan.no_grad():
        x.grad[0] = 5.0                 # e.g. clipping one parameter's gradient
    np.testing.assert_allclose(arr(y.grad), np.ones(4))
    np.testing.assert_allclose(arr(x.grad), [5.0, 1.0, 1.0, 1.0])


def test_leaf_grad_is_a_writable_array():
    # sum's backward broadcasts the scalar gradient: a read-only, zero-stride view in NumPy.
    # A leaf's .grad must not be such a view, or in-place updates of it fail.
    x = f64(X0)
    x.sum().backward()
    assert x.grad.data.flags.writeable
    with tinygan.no_grad():
        x.grad[1] = 0.0
    np.testing.assert_allclose(arr(x.grad), [1.0, 0.0, 1.0, 1.0])


def test_leaf_grad_has_the_leaf_dtype():
    # As in PyTorch, a gradient arriving at a tensor is cast to that tensor's dtype, so an
    # optimizer step never changes a parameter's dtype.
    x = f64(X0)
    (x + 1.0).backward(tinygan.ones(4))                # a float32 gradient= for a float64 output
    assert x.grad.dtype == np.float64
    w = tinygan.ones(4, requires_grad=True)            # float32 parameter ...
    c = tinygan.tensor(X0)                             # ... times a float64 constant
    (w * c).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(arr(w.grad), X0, rtol=1e-6)


def test_backward_of_several_tensors_at_once():
    x = f64(X0)
    tinygan.backward([(x * x).sum(), x * 3.0], [None, f64(np.ones(4), requires_grad=False)])
    np.testing.assert_allclose(arr(x.grad), 2 * X0 + 3.0, rtol=1e-12)


# ----------------------------------------------------------------------------
# freeing the graph, retain_graph
# ----------------------------------------------------------------------------
def test_second_backward_through_freed_graph_is_a_clear_error():
    x = f64(X0)
    y = (x.tanh() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_second_grad_through_freed_graph_is_a_clear_error():
    x = f64(X0)
    y = (x * x).sum()
    tinygan.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph"):
        tinygan.grad(y, x)


def test_retain_graph_allows_a_second_backward_and_grads_double():
    x = f64(X0)
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(arr(x.grad), 3 * X0 ** 2, rtol=1e-12)
    y.backward()
    np.testing.assert_allclose(arr(x.grad), 6 * X0 ** 2, rtol=1e-12)


# ----------------------------------------------------------------------------
# grad modes
# ----------------------------------------------------------------------------
def test_no_grad_records_nothing_and_restores_the_mode():
    x = f64(X0)
    assert tinygan.is_grad_enabled()
    with tinygan.no_grad():
        assert not tinygan.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert tinygan.is_grad_enabled()
    assert y.requires_grad is False
    assert y.grad_fn is None
    assert y.is_leaf
    np.testing.assert_allclose(y.item(), np.exp(2 * X0).sum(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with tinygan.no_grad():
            raise KeyError("boom")
    assert tinygan.is_grad_enabled()


def test_no_grad_as_a_decorator():
    @tinygan.no_grad()
    def double(t):
        assert not tinygan.is_grad_enabled()
        return t * 2.0

    x = f64(X0)
    y = double(x)
    assert tinygan.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(arr(y), 2 * X0)


def test_enable_grad_inside_no_grad():
    x = f64(X0)
    with tinygan.no_grad():
        with tinygan.enable_grad():
            y = (x * x).sum()
        z = x * x
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad
    y.backward()
    np.testing.assert_allclose(arr(x.grad), 2 * X0, rtol=1e-12)


def test_set_grad_enabled_as_context_and_decorator():
    x = f64(X0)
    with tinygan.set_grad_enabled(False):
        assert not tinygan.is_grad_enabled()
        assert not (x * 2.0).requires_grad
        with tinygan.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not tinygan.is_grad_enabled()
    assert tinygan.is_grad_enabled()

    @tinygan.set_grad_enabled(False)
    def f(t):
        return t * 2.0

    assert not f(x).requires_grad
    assert tinygan.is_grad_enabled()


# ----------------------------------------------------------------------------
# detach
# ----------------------------------------------------------------------------
def test_detach_shares_data_and_is_cut_from_the_graph():
    x = f64(X0)
    h = x * 2.0
    d = h.detach()
    assert np.shares_memory(d.data, h.data)
    assert d.requires_grad is False and d.grad_fn is None and d.is_leaf
    d.data[0] = 100.0                      # same storage, as torch.Tensor.detach
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    assert h.data[0] == 100.0

    # y = detach(x) * x: only the second factor carries a gradient, so dy/dx = x (not 2x).
    x2 = f64(X0)
    (x2.detach() * x2).sum().backward()
    np.testing.assert_allclose(arr(x2.grad), X0, rtol=1e-12)


# ----------------------------------------------------------------------------
# tinygan.grad
# ----------------------------------------------------------------------------
def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x = f64(X0)
    y = (x * x).sum()
    out = tinygan.grad(y, x)
    assert isinstance(out, tuple) and len(out) == 1
    np.testing.assert_allclose(arr(out[0]), 2 * X0, rtol=1e-12)
    assert x.grad is None


def test_grad_leaves_an_existing_dot_grad_unchanged():
    x = f64(X0)
    (x * 3.0).sum().backward()
    before = x.grad
    before_values = arr(before).copy()
    (g,) = tinygan.grad((x * x).sum(), x)
    np.testing.assert_allclose(arr(g), 2 * X0, rtol=1e-12)
    assert x.grad is before
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(arr(x.grad), before_values)


def test_grad_does_not_fill_retained_grads_of_non_leaves():
    x = f64(X0)
    h = x * 2.0
    h.retain_grad()
    tinygan.grad((h * h).sum(), x)
    assert h.grad is None and x.grad is None


def test_allow_unused_returns_none_and_the_error_without_it():
    x = f64(X0)
    z = f64([1.0, 2.0])
    y = (x * x).sum()
    gx, gz = tinygan.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    np.testing.assert_allclose(arr(gx), 2 * X0, rtol=1e-12)
    with pytest.raises(RuntimeError, match="allow_unused"):
        tinygan.grad(y, [x, z])


def test_grad_with_respect_to_a_non_leaf_intermediate():
    x = f64(X0)
    h = x.sin()
    y = (h * h * h).sum()
    (gh,) = tinygan.grad(y, h, retain_graph=True)
    np.testing.assert_allclose(arr(gh), 3 * np.sin(X0) ** 2, rtol=1e-12)
    # both the intermediate and the leaf at once
    gh2, gx = tinygan.grad(y, [h, x])
    np.testing.assert_allclose(arr(gh2), 3 * np.sin(X0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(arr(gx), 3 * np.sin(X0) ** 2 * np.cos(X0), rtol=1e-12)


def test_grad_outputs_for_a_non_scalar_output():
    x = f64(X0)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    y = x * x * x                      # shape (4,)
    (g,) = tinygan.grad(y, x, grad_outputs=f64(v, requires_grad=False))
    np.testing.assert_allclose(arr(g), 3 * X0 ** 2 * v, rtol=1e-12)

    x2 = f64(X0)
    (x2 * x2).backward(gradient=f64(v, requires_grad=False))
    np.testing.assert_allclose(arr(x2.grad), 2 * X0 * v, rtol=1e-12)


def test_grad_of_several_outputs_sums_their_gradients():
    x = f64(X0)
    y1 = (x * x).sum()
    y2 = x.sin().sum()
    (g,) = tinygan.grad([y1, y2], x)
    np.testing.assert_allclose(arr(g), 2 * X0 + np.cos(X0), rtol=1e-12)

    # non-scalar outputs with one grad_output each
    x = f64(X0)
    v1, v2 = np.arange(1.0, 5.0), np.full(4, -0.5)
    (g,) = tinygan.grad([x * x, x.exp()], [x],
                        grad_outputs=[f64(v1, False), f64(v2, False)])
    np.testing.assert_allclose(arr(g), 2 * X0 * v1 + np.exp(X0) * v2, rtol=1e-12)


def test_grad_with_respect_to_several_inputs():
    a = f64(X0)
    b = f64(X0[::-1].copy())
    y = (a * b * b).sum()
    ga, gb = tinygan.grad(y, [a, b])
    np.testing.assert_allclose(arr(ga), X0[::-1] ** 2, rtol=1e-12)
    np.testing.assert_allclose(arr(gb), 2 * X0 * X0[::-1], rtol=1e-12)


# ----------------------------------------------------------------------------
# higher order
# ----------------------------------------------------------------------------
def test_third_derivative_of_x_to_the_fourth():
    x = f64(X0)
    (g1,) = tinygan.grad((x ** 4).sum(), x, create_graph=True)
    (g2,) = tinygan.grad(g1.sum(), x, create_graph=True)
    (g3,) = tinygan.grad(g2.sum(), x)
    np.testing.assert_allclose(arr(g1), 4 * X0 ** 3, rtol=1e-12)
    np.testing.assert_allclose(arr(g2), 12 * X0 ** 2, rtol=1e-12)
    np.testing.assert_allclose(arr(g3), 24 * X0, rtol=1e-12)


def test_third_derivative_of_sin():
    x = f64(X0)
    (g1,) = tinygan.grad(x.sin().sum(), x, create_graph=True)
    assert g1.requires_grad and g1.grad_fn is not None
    (g2,) = tinygan.grad(g1.sum(), x, create_graph=True)
    (g3,) = tinygan.grad(g2.sum(), x)
    np.testing.assert_allclose(arr(g2), -np.sin(X0), rtol=1e-12)
    np.testing.assert_allclose(arr(g3), -np.cos(X0), rtol=1e-12)


def test_backward_with_create_graph_gives_a_differentiable_dot_grad():
    x = f64(X0)
    (x.sin() * x).sum().backward(create_graph=True)   # x.grad = sin x + x cos x
    np.testing.assert_allclose(arr(x.grad), np.sin(X0) + X0 * np.cos(X0), rtol=1e-12)
    assert x.grad.requires_grad
    (gg,) = tinygan.grad(x.grad.sum(), x)              # 2 cos x - x sin x
    np.testing.assert_allclose(arr(gg), 2 * np.cos(X0) - X0 * np.sin(X0), rtol=1e-12)


def test_gradient_without_create_graph_is_a_constant():
    x = f64(X0)
    (g,) = tinygan.grad((x ** 3).sum(), x)
    assert not g.requires_grad and g.grad_fn is None


# ----------------------------------------------------------------------------
# retain_grad, backward on a leaf, requires_grad rules
# ----------------------------------------------------------------------------
def test_retain_grad_on_a_non_leaf():
    x = f64(X0)
    h = x * 3.0
    h.retain_grad()
    k = h * 1.0                         # not retained
    (k * k).sum().backward()
    np.testing.assert_allclose(arr(h.grad), 2 * 3.0 * X0, rtol=1e-12)
    np.testing.assert_allclose(arr(x.grad), 18.0 * X0, rtol=1e-12)
    assert k.grad is None


def test_retained_grad_and_leaf_grad_are_not_shared():
    # add hands its gradient on unchanged: the leaf must not get the retained tensor's array.
    x = f64(X0)
    h = x + 1.0
    h.retain_grad()
    h.sum().backward()
    assert not np.shares_memory(x.grad.data, h.grad.data)
    with tinygan.no_grad():
        x.grad[0] = 5.0
    np.testing.assert_allclose(arr(h.grad), np.ones(4))


def test_retain_grad_refused_without_requires_grad():
    with pytest.raises(RuntimeError, match="retain_grad"):
        f64(X0, requires_grad=False).retain_grad()


def test_backward_on_a_leaf_itself():
    s = f64(2.5)
    s.backward()
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    assert s.grad.item() == 1.0

    x = f64(X0)
    v = np.array([1.0, 2.0, 3.0, 4.0])
    x.backward(f64(v, requires_grad=False))
    np.testing.assert_allclose(arr(x.grad), v)


def test_requires_grad_propagation_rules():
    a = f64(X0, requires_grad=False)
    b = f64(X0, requires_grad=False)
    x = f64(X0)
    assert x.is_leaf and x.requires_grad and x.grad_fn is None

    c = a * b
    assert not c.requires_grad and c.grad_fn is None and c.is_leaf

    d = a * x
    assert d.requires_grad and d.grad_fn is not None and not d.is_leaf

    e = (d + 1.0).sum()                      # a Python number operand changes nothing
    assert e.requires_grad

    i = tinygan.arange(4)
    assert not (i * 2).requires_grad

    e.backward()
    assert a.grad is None                    # no .grad for leaves that don't require it
    np.testing.assert_allclose(arr(x.grad), X0, rtol=1e-12)

    assert a.requires_grad_() is a and a.requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        d.requires_grad = False


# ----------------------------------------------------------------------------
# depth and memory
# ----------------------------------------------------------------------------
def test_a_chain_of_5000_ops_needs_no_recursion():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)          # a recursive walk of 5000 nodes would overflow this
    try:
        x = f64(0.5)
        y = x
        for _ in range(5000):
            y = y * 1.0001
        y.backward()
        np.testing.assert_allclose(x.grad.item(), 1.0001 ** 5000, rtol=1e-9)

        x2 = f64(0.5)
        y2 = x2
        for _ in range(5000):
            y2 = y2 + 0.001
        (g,) = tinygan.grad(y2, x2)
        # exact: nothing is rounded (exactly representable values, ops that round nothing)
        assert g.item() == 1.0
        del y, y2                          # freeing a long chain must not recurse either
        gc.collect()
    finally:
        sys.setrecursionlimit(limit)


def test_backward_releases_the_saved_inputs():
    x = f64(X0)
    h = x * 2.0
    ref = weakref.ref(h)
    y = (h * 3.0).sum()
    del h
    assert ref() is not None             # the graph keeps the intermediate for backward
    y.backward()
    assert ref() is None                 # ... and lets go of it once backward is done
    del y
    assert ref() is None


def test_intermediates_die_with_the_output_without_the_cycle_collector():
    gc.disable()
    try:
        x = f64(X0)
        h = x.tanh()
        ref = weakref.ref(h)
        y = (h * h).sum()
        del h
        y.backward(retain_graph=True)
        assert ref() is not None         # retained for another backward
        del y
        assert ref() is None             # no reference cycles: freed by refcounting alone
    finally:
        gc.enable()


# ----------------------------------------------------------------------------
# the gradient penalty: d/dtheta ||d f(x)/dx||^2 for f(x) = w2 . tanh(W1 x + b1)
# ----------------------------------------------------------------------------
RNG = np.random.default_rng(1234)
B, D, H = 3, 4, 5
X_NP = RNG.standard_normal((B, D))
W1_NP = RNG.standard_normal((H, D)) * 0.7
B1_NP = RNG.standard_normal(H) * 0.3
W2_NP = RNG.standard_normal(H)


def penalty_numpy(W1, b1, w2, X=X_NP):
    """P = sum_b || W1^T (w2 * (1 - tanh(W1 x_b + b1)^2)) ||^2, written out by hand."""
    total = 0.0
    for x in X:
        t = np.tanh(W1 @ x + b1)
        dfdx = W1.T @ (w2 * (1.0 - t * t))
        total += float(dfdx @ dfdx)
    return total


def penalty_tinygan(W1, b1, w2, X=X_NP):
    """The same penalty through tinygan: an input gradient with create_graph, then its norm."""
    with tinygan.enable_grad():          # gradcheck's numeric side calls us under no_grad
        x = tinygan.tensor(X, requires_grad=True)
        f = (x @ W1.T + b1).tanh() @ w2  # (B,): one output per sample
        (dfdx,) = tinygan.grad(f.sum(), x, create_graph=True)
        return (dfdx * dfdx).sum()


def _central_differences(fn, params, eps=1e-6):
    grads = []
    for k, p in enumerate(params):
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (fn(*plus) - fn(*minus)) / (2 * eps)
        grads.append(g)
    return grads


def test_gradient_penalty_matches_finite_differences_of_a_numpy_formula():
    W1, b1, w2 = f64(W1_NP), f64(B1_NP), f64(W2_NP)
    P = penalty_tinygan(W1, b1, w2)
    np.testing.assert_allclose(P.item(), penalty_numpy(W1_NP, B1_NP, W2_NP), rtol=1e-12)
    P.backward()
    numeric = _central_differences(penalty_numpy, [W1_NP, B1_NP, W2_NP])
    for name, p, num in zip(["W1", "b1", "w2"], [W1, b1, w2], numeric):
        assert p.grad is not None, name
        assert np.abs(num).max() > 1e-3, name        # the check is not vacuous
        np.testing.assert_allclose(arr(p.grad), num, rtol=1e-6, atol=1e-8, err_msg=name)


def test_gradient_penalty_passes_gradcheck():
    assert gradcheck(penalty_tinygan, (f64(W1_NP), f64(B1_NP), f64(W2_NP)))


# ----------------------------------------------------------------------------
# Tensor's operators and methods: all listed in autograd.py, each calling its op
# ----------------------------------------------------------------------------
import inspect  # noqa: E402

from tinygan import autograd  # noqa: E402
from tinygan.ops import activation, convert, math as ops_math, reduce, shape  # noqa: E402

# Every operator and method a Tensor has (besides object's own), as PyTorch names them.
TENSOR_MEMBERS = """
T __abs__ __add__ __array_priority__ __array_ufunc__ __bool__ __eq__ __float__ __floordiv__
__ge__ __getitem__ __gt__ __hash__ __index__ __int__ __le__ __len__ __lt__ __matmul__ __mod__
__mul__ __ne__ __neg__ __pos__ __pow__ __radd__ __rfloordiv__ __rmatmul__ __rmod__ __rmul__
__rpow__ __rsub__ __rtruediv__ __setitem__ __sub__ __truediv__ abs add amax amin backward bool
broadcast_to chunk clamp clip clone cos cpu cuda data detach detach_ device dim div double dtype
exp expand expand_as flatten float grad grad_fn half int is_cuda is_leaf item log log_softmax
logsumexp long mT matmul max maximum mean min minimum mul ndim neg numel numpy permute pow relu
remainder requires_grad requires_grad_ reshape reshape_as retain_grad shape sigmoid sign sin
size softmax split sqrt squeeze std sub sum tanh to tolist transpose type_as unsqueeze var view
view_as
""".split()

# method -> the op it calls with the tensor as its first argument (same options, same defaults)
METHOD_OPS = {
    "add": ops_math.add, "sub": ops_math.sub, "mul": ops_math.mul, "div": ops_math.div,
    "remainder": ops_math.remainder, "neg": ops_math.neg, "pow": ops_math.pow,
    "matmul": ops_math.matmul, "exp": ops_math.exp, "log": ops_math.log, "sqrt": ops_math.sqrt,
    "abs": ops_math.abs, "sign": ops_math.sign, "sin": ops_math.sin, "cos": ops_math.cos,
    "tanh": ops_math.tanh, "clamp": ops_math.clamp, "maximum": ops_math.maximum,
    "minimum": ops_math.minimum, "sigmoid": activation.sigmoid, "relu": activation.relu,
    "softmax": activation.softmax, "log_softmax": activation.log_softmax,
    "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "std": reduce.std,
    "max": reduce.max, "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin,
    "logsumexp": reduce.logsumexp, "reshape": shape.reshape, "flatten": shape.flatten,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "permute": shape.permute,
    "transpose": shape.transpose, "expand": shape.expand, "broadcast_to": shape.broadcast_to,
    "split": shape.split, "chunk": shape.chunk, "to": convert.to,
}


def test_tensor_has_every_operator_and_method():
    missing = [name for name in TENSOR_MEMBERS if not hasattr(tinygan.Tensor, name)]
    assert not missing


def test_every_tensor_member_is_defined_in_autograd_py():
    # Nothing attaches methods from elsewhere: a reader finds each one on the class.
    for name in TENSOR_MEMBERS:
        member = inspect.getattr_static(tinygan.Tensor, name)
        assert name in vars(tinygan.Tensor) or name == "__hash__", name
        fn = member.fget if isinstance(member, property) else member
        if inspect.isfunction(fn):
            assert fn.__code__.co_filename == autograd.__file__, name


def _parameters_after_first(fn):
    return [(p.name, p.kind, p.default) for p in list(inspect.signature(fn).parameters.values())[1:]]


@pytest.mark.parametrize("name", sorted(METHOD_OPS))
def test_method_takes_the_options_of_its_op(name):
    assert _parameters_after_first(getattr(tinygan.Tensor, name)) == \
        _parameters_after_first(METHOD_OPS[name])


def test_operators_and_methods_give_the_ops_results():
    a = f64([[1.0, -2.0], [3.0, 0.5]])
    b = f64([[0.5, 4.0], [-1.0, 2.0]])
    cases = [
        (a + b, ops_math.add(a, b)), (2.0 + a, ops_math.add(2.0, a)),
        (a - b, ops_math.sub(a, b)), (2.0 - a, ops_math.sub(2.0, a)),
        (a * b, ops_math.mul(a, b)), (a / b, ops_math.div(a, b)), (2.0 / a, ops_math.div(2.0, a)),
        (a ** 2, ops_math.pow(a, 2)), (2.0 ** a, ops_math.rpow(a, 2.0)), (a @ b, ops_math.matmul(a, b)),
        (a % 1.5, ops_math.remainder(a, 1.5)), (a // 1.5, ops_math.floor_divide(a, 1.5)),
        (-a, ops_math.neg(a)), (abs(a), ops_math.abs(a)), (+a, a),
        (a.sum(1, keepdim=True), reduce.sum(a, 1, True)), (a.var(0, correction=0), reduce.var(a, 0, correction=0)),
        (a.T, shape.transpose(a, 0, 1)), (a.mT, shape.transpose(a, 0, 1)), (a[1], shape.getitem(a, 1)),
        (a.view_as(b.reshape(4)), a.reshape(4)), (a.clip(0.0, 1.0), ops_math.clamp(a, 0.0, 1.0)),
        (a.float(), convert.cast(a, "float32")), (a.type_as(b), a),
    ]
    for got, want in cases:
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(arr(got), arr(want))
    np.testing.assert_array_equal(arr(a < b), arr(a) < arr(b))
    np.testing.assert_array_equal(arr(a == 3.0), arr(a) == 3.0)
    assert (a != b).dtype == np.bool_
