"""tinygan.ops.reduce: sum, mean, var, std, max, min, amax, amin, logsumexp.

Forward against NumPy (np.sum, np.var(ddof=...), np.argmax, a stable logsumexp written
here), first and second derivatives in float64, over dim = None / int / negative int /
tuple and keepdim True / False.  max and min are checked on inputs with no ties (a tie is
a kink); how ties share the gradient has its own tests.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan

from tinygan.ops import reduce as reduce_module
from tinygan.ops.reduce import SumBackward
from tolerances import assert_within, sum_tolerance

SHAPE = (2, 3, 4)
# dim, as passed to tinygan, for a (2, 3, 4) input
# (NumPy takes the same None / negative / tuple dims as its axis argument.)
DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def _np_logsumexp(a, axis=None, keepdims=False):
    """log sum exp, written independently: m + log(sum(exp(a - m))) with m = max (finite)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


# -----------------------------------------------------------------------------
# sum and mean
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name,ref", [("sum", np.sum), ("mean", np.mean)])
def test_sum_mean(name, ref, dim, keepdim, make, close, check_grads):
    x = make(SHAPE)
    expected = ref(x.data.copy(), axis=dim, keepdims=keepdim)
    close(getattr(tinygan, name)(x, dim, keepdim), expected, rtol=1e-12, dtype=np.float64)
    close(getattr(x, name)(dim, keepdim=keepdim), expected, rtol=1e-12)
    close(getattr(x, name)(dim=dim, keepdim=keepdim), expected, rtol=1e-12)
    check_grads(lambda t: getattr(tinygan, name)(t, dim, keepdim), x)


@pytest.mark.parametrize("shape", [(), (5,)], ids=str)
@pytest.mark.parametrize("name,ref", [("sum", np.sum), ("mean", np.mean)])
def test_sum_mean_small_shapes(name, ref, shape, make, close, check_grads):
    x = make(shape)
    close(getattr(x, name)(), ref(x.data.copy()), rtol=1e-12)
    close(getattr(x, name)(0), ref(x.data.copy(), axis=0 if shape else None), rtol=1e-12)
    close(getattr(x, name)(-1, keepdim=True),
          ref(x.data.copy(), axis=-1 if shape else None, keepdims=True), rtol=1e-12)
    check_grads(getattr(tinygan, name), x)
    check_grads(lambda t: getattr(t, name)(-1, keepdim=True), x)


def test_sum_mean_gradient_values(make):
    x = make(2, 3)
    (g,) = tinygan.grad(x.sum(), x)
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(g.data, np.ones((2, 3)))
    (g,) = tinygan.grad(x.mean(1).sum(), x)
    np.testing.assert_allclose(g.data, np.full((2, 3), 1 / 3), rtol=1e-15)
    (g,) = tinygan.grad(x.mean((0, 1)), x)
    np.testing.assert_allclose(g.data, np.full((2, 3), 1 / 6), rtol=1e-15)


def test_sum_of_int_tensor_and_mean_refuses_ints():
    t = tinygan.tensor([[1, 2, 3], [4, 5, 6]])
    s = t.sum(0)
    assert s.dtype == np.int64
    # exact: integer results
    np.testing.assert_array_equal(s.data, [5, 7, 9])
    with pytest.raises(TypeError):
        t.mean()


def test_sum_bad_dims(make):
    x = make(2, 3)
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(IndexError):
        x.sum(-3)
    with pytest.raises(ValueError):
        x.sum((0, -2))        # the same dim twice


# -----------------------------------------------------------------------------
# var and std
# -----------------------------------------------------------------------------
# keyword arguments -> NumPy's ddof
VAR_OPTIONS = [
    ({}, 1),                              # unbiased by default, as PyTorch
    ({"unbiased": True}, 1),
    ({"unbiased": False}, 0),
    ({"correction": 0}, 0),
    ({"correction": 2}, 2),
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("opts,ddof", VAR_OPTIONS, ids=[str(o[0]) for o in VAR_OPTIONS])
@pytest.mark.parametrize("name,ref", [("var", np.var), ("std", np.std)])
def test_var_std(name, ref, opts, ddof, dim, keepdim, make, close, check_grads):
    x = make(SHAPE)
    expected = ref(x.data.copy(), axis=dim, ddof=ddof, keepdims=keepdim)
    close(getattr(tinygan, name)(x, dim, keepdim=keepdim, **opts), expected, rtol=1e-12,
          dtype=np.float64)
    close(getattr(x, name)(dim=dim, keepdim=keepdim, **opts), expected, rtol=1e-12)
    check_grads(lambda t: getattr(tinygan, name)(t, dim, keepdim=keepdim, **opts), x)


def test_var_positional_unbiased_and_default_dim(make, close):
    x = make(3, 4)
    a = x.data.copy()
    close(x.var(), np.var(a, ddof=1), rtol=1e-12)
    close(x.std(), np.std(a, ddof=1), rtol=1e-12)
    close(tinygan.var(x, 1, False), np.var(a, axis=1, ddof=0), rtol=1e-12)   # torch's old signature
    close(tinygan.std(x, 0, True, True), np.std(a, axis=0, ddof=1, keepdims=True), rtol=1e-12)


def test_var_gradient_closed_form(make):
    x = make(2, 5)
    a = x.data.copy()
    # a - mean may be near zero: the means (sums of 5 and 10 terms) bound the error by |a|
    (g,) = tinygan.grad(x.var(1).sum(), x)
    assert_within(g.data, 2 * (a - a.mean(1, keepdims=True)) / 4,
                  sum_tolerance(np.abs(a).mean(1, keepdims=True) + np.abs(a), 5 + 3, np.float64) / 2,
                  "var")
    (g,) = tinygan.grad(x.std(unbiased=False), x)
    assert_within(g.data, (a - a.mean()) / (a.size * a.std()),
                  sum_tolerance(np.abs(a).mean() + np.abs(a), 2 * 10 + 5, np.float64) / (a.size * a.std()),
                  "std")


def test_var_std_1d_and_0d(make, close, check_grads):
    x = make(6)
    close(x.var(0), np.var(x.data, ddof=1), rtol=1e-12)
    check_grads(lambda t: t.std(0), x)
    s = make(())
    close(s.var(unbiased=False), np.zeros(()))


# -----------------------------------------------------------------------------
# max, min (values and indices), amax, amin
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (5,), SHAPE], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_full_reduction(name, shape, make, close, check_grads):
    x = make(shape, kind="distinct")
    ref = np.max if name == "max" else np.min
    expected = ref(x.data.copy())
    y = getattr(x, name)()
    assert isinstance(y, tinygan.Tensor)            # no dim: a tensor, not (values, indices)
    close(y, expected, dtype=np.float64)
    close(getattr(tinygan, name)(x), expected)
    check_grads(getattr(tinygan, name), x)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_dim(name, dim, keepdim, make, close, check_grads):
    x = make(SHAPE, kind="distinct")
    a = x.data.copy()
    ref, argref = (np.max, np.argmax) if name == "max" else (np.min, np.argmin)
    out = getattr(x, name)(dim, keepdim=keepdim)
    values, indices = out                                        # unpacks as a pair
    assert out.values is values and out.indices is indices       # and has the names
    close(values, ref(a, axis=dim, keepdims=keepdim), dtype=np.float64)
    expected_idx = argref(a, axis=dim)
    if keepdim:
        expected_idx = np.expand_dims(expected_idx, dim)
    assert indices.dtype == np.int64 and indices.shape == expected_idx.shape
    # exact: the derivatives of max and min select; indices are integers
    np.testing.assert_array_equal(indices.data, expected_idx)
    assert not indices.requires_grad
    fn_out = getattr(tinygan, name)(x, dim=dim, keepdim=keepdim)
    close(fn_out.values, values.data)
    # The whole (values, indices) pair goes through the checkers: the int output is skipped.
    check_grads(lambda t: getattr(tinygan, name)(t, dim, keepdim), x)


def test_max_along_dim_gradient_goes_to_the_max(make):
    x = make(3, 4, kind="distinct")
    values, indices = x.max(1)
    (g,) = tinygan.grad(values.sum(), x)
    expected = np.zeros((3, 4))
    expected[np.arange(3), indices.data] = 1.0
    np.testing.assert_array_equal(g.data, expected)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name,ref", [("amax", np.max), ("amin", np.min)])
def test_amax_amin(name, ref, dim, keepdim, make, close, check_grads):
    x = make(SHAPE, kind="distinct")
    expected = ref(x.data.copy(), axis=dim, keepdims=keepdim)
    close(getattr(tinygan, name)(x, dim, keepdim), expected, dtype=np.float64)
    close(getattr(x, name)(dim=dim, keepdim=keepdim), expected)
    check_grads(lambda t: getattr(tinygan, name)(t, dim, keepdim), x)


@pytest.mark.parametrize("name", ["max", "amax", "min", "amin"])
def test_ties_share_the_gradient_equally(name):
    # As PyTorch's amax/amin and full max()/min(): the gradient is split evenly between ties
    # (max(dim) differs: see the next test).
    big = name.endswith("max")
    v = 5.0 if big else -5.0
    x = tinygan.tensor([[v, 1.0, v], [2.0, v, 0.0]], dtype=tinygan.float64, requires_grad=True)
    y = getattr(x, name)()
    assert y.item() == v
    (g,) = tinygan.grad(y, x)
    np.testing.assert_allclose(g.data, [[1 / 3, 0, 1 / 3], [0, 1 / 3, 0]], rtol=1e-15)
    y = getattr(tinygan, "amax" if big else "amin")(x, 1)
    (g,) = tinygan.grad(y.sum(), x)
    np.testing.assert_allclose(g.data, [[0.5, 0, 0.5], [0, 1, 0]], rtol=1e-15)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_along_dim_ties_give_the_gradient_to_the_returned_index(name, keepdim):
    # As PyTorch's max(dim) / min(dim): indices name the first of tied elements, and the
    # gradient goes to that element alone (not split as for amax / amin).
    v = 5.0 if name == "max" else -5.0
    x = tinygan.tensor([[v, 1.0, v], [2.0, v, v]], dtype=tinygan.float64, requires_grad=True)
    values, indices = getattr(x, name)(1, keepdim=keepdim)
    # exact: the derivatives of max and min select; indices are integers
    np.testing.assert_array_equal(indices.data.reshape(-1), [0, 1])
    gy = np.array([10.0, 100.0]).reshape(values.shape)
    (g,) = tinygan.grad(values, x, grad_outputs=tinygan.tensor(gy), create_graph=True)
    np.testing.assert_array_equal(g.data, [[10.0, 0, 0], [0, 100.0, 0]])
    values, indices = getattr(x, name)(0)
    np.testing.assert_array_equal(indices.data, [0, 1, 0])          # column 2 is a tie
    (g,) = tinygan.grad(values.sum(), x)
    np.testing.assert_array_equal(g.data, [[1.0, 0, 1.0], [0, 1.0, 0]])


def test_max_min_of_empty_dim_raise():
    x = tinygan.zeros(0, 3)
    with pytest.raises(ValueError):
        x.max()
    with pytest.raises(ValueError):
        x.amin(0)
    assert x.amax(1).shape == (0,)        # reducing the non-empty dim is fine


# -----------------------------------------------------------------------------
# logsumexp
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
def test_logsumexp(dim, keepdim, make, close, check_grads):
    x = make(SHAPE)
    expected = _np_logsumexp(x.data.copy(), axis=dim, keepdims=keepdim)
    close(tinygan.logsumexp(x, dim, keepdim), expected, rtol=1e-12, dtype=np.float64)
    close(x.logsumexp(dim=dim, keepdim=keepdim), expected, rtol=1e-12)
    check_grads(lambda t: tinygan.logsumexp(t, dim, keepdim), x)


def test_logsumexp_matches_the_naive_formula(make):
    x = make(3, 4)
    # log of a sum of 4 positive terms: off by its relative error, absolute, even near log 1 = 0
    expected = np.log(np.exp(x.data).sum(1))
    assert_within(x.logsumexp(1).data, expected, sum_tolerance(1 + np.abs(expected), 4 + 4, np.float64))


@pytest.mark.parametrize("offset", [1000.0, -1000.0, 1e5])
def test_logsumexp_large_values_do_not_overflow(offset, make, close, check_grads):
    x = make(2, 3)
    a = x.data.copy()
    x.data += offset
    y = x.logsumexp(1)
    assert np.isfinite(y.data).all()
    close(y, offset + np.log(np.exp(a).sum(1)), rtol=1e-12)
    (g,) = tinygan.grad(y.sum(), x)
    softmax = np.exp(a) / np.exp(a).sum(1, keepdims=True)
    np.testing.assert_allclose(g.data, softmax, rtol=1e-10)
    if abs(offset) < 1e4:     # central differences need eps well above offset's ulp
        check_grads(lambda t: t.logsumexp(1), x, eps=1e-5)


def test_logsumexp_with_minus_infinity():
    # -inf is log(0): a row of only -inf sums to -inf, and its gradient is 0, not nan, so a fully
    # masked row does not poison the gradient of the rest.
    x = tinygan.tensor([[0.0, -np.inf, np.log(3.0)], [-np.inf, -np.inf, -np.inf]],
                       dtype=tinygan.float64, requires_grad=True)
    with np.errstate(divide="ignore"):
        y = x.logsumexp(1)
        np.testing.assert_allclose(y.data, [np.log(4.0), -np.inf], rtol=1e-15)
        (g,) = tinygan.grad(y[0], x, retain_graph=True)
        np.testing.assert_allclose(g.data, [[0.25, 0.0, 0.75], [0.0, 0.0, 0.0]], rtol=1e-15)
        (g,) = tinygan.grad(y.sum(), x, create_graph=True)
        np.testing.assert_allclose(g.data, [[0.25, 0.0, 0.75], [0.0, 0.0, 0.0]], rtol=1e-15)
        (gg,) = tinygan.grad((g * g).sum(), x)
        assert np.isfinite(gg.data).all()
        # exact: nothing is rounded (exactly representable values, ops that round nothing)
        np.testing.assert_array_equal(gg.data[1], [0.0, 0.0, 0.0])


# -----------------------------------------------------------------------------
# dtypes: float32 in, float32 out; 0-d results are ndarrays
# -----------------------------------------------------------------------------
REDUCTIONS = {
    "sum": lambda x: x.sum(), "sum1": lambda x: x.sum(1), "mean": lambda x: x.mean(),
    "mean0k": lambda x: x.mean(0, keepdim=True), "var": lambda x: x.var(),
    "var_biased": lambda x: x.var(1, unbiased=False), "std": lambda x: x.std(),
    "std_c0": lambda x: x.std(0, correction=0), "max": lambda x: x.max(),
    "min": lambda x: x.min(), "max1": lambda x: x.max(1).values, "min0": lambda x: x.min(0)[0],
    "amax": lambda x: x.amax(), "amin": lambda x: tinygan.amin(x, (0, 1)),
    "logsumexp": lambda x: x.logsumexp(), "logsumexp1": lambda x: tinygan.logsumexp(x, 1),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_float32_stays_float32(name, check_float32_kept):
    check_float32_kept(REDUCTIONS[name])


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "amax", "amin",
                                  "logsumexp"])
def test_full_reductions_give_0d_ndarrays(name):
    x = tinygan.tensor([[0.5, 1.5, 2.0], [1.25, -0.75, 3.0]], requires_grad=True)
    y = REDUCTIONS[name](x)
    assert type(y.data) is np.ndarray and y.data.ndim == 0 and y.shape == ()
    z = REDUCTIONS[name](x.detach())      # without a graph too
    assert type(z.data) is np.ndarray and z.data.ndim == 0
    # exact: the same computation on the same inputs twice (same thread count and machine)
    np.testing.assert_array_equal(z.data, y.data)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("axes,scale", [((1,), 1.0), ((0, 2), 0.25), ((0, 1, 2), 1.0 / 24)], ids=str)
def test_sum_backward_op(axes, scale, keepdim, make, close, check_grads):
    """SumBackward spreads gy back over the reduced axes (times scale) into a fresh, writable
    array; its own gradient is the sum over those axes (times scale)."""
    shape = (2, 3, 4)
    reduced = tuple(1 if i in axes else s for i, s in enumerate(shape)) if keepdim else \
        tuple(s for i, s in enumerate(shape) if i not in axes)
    gy = make(reduced)
    keep = gy.data.reshape([1 if i in axes else s for i, s in enumerate(shape)])
    gx = SumBackward(shape, axes, scale)(gy)
    close(gx, np.broadcast_to(scale * keep, shape), rtol=1e-15, dtype=np.float64)
    assert gx.data.flags.writeable and gx.data.base is None
    check_grads(lambda g: SumBackward(shape, axes, scale)(g), gy)


def test_sum_backward_op_large_is_a_view_and_leaf_grads_stay_writable(make, close):
    """Above _FILL_MAX elements SumBackward returns a broadcast view (no writes); a leaf
    still gets a writable array of its own."""
    shape = (256, 80)
    assert shape[0] * shape[1] >= reduce_module._FILL_MAX
    gy = make(80)
    gx = SumBackward(shape, (0,), 0.5)(gy)
    close(gx, np.broadcast_to(0.5 * gy.data, shape), rtol=1e-15, dtype=np.float64)
    x = make(shape)
    x.mean(0).sum().backward()
    close(x.grad, np.full(shape, 1.0 / 256), rtol=1e-15)
    assert x.grad.data.flags.writeable and x.grad.data.base is None
