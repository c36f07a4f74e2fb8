"""tinygan.ops.norm: batch_norm, instance_norm, layer_norm.

Forward and running-statistic updates against NumPy formulas written here (Ioffe &
Szegedy 2015, Alg. 1), first and second derivatives in float64 over training/eval,
with and without affine parameters, 2-D to 4-D inputs -- and a control showing that
the second-order check does catch the classic bug of freezing 1/std (DeZero's).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.ops import norm as norm_module
from tinygan.testing import GradcheckError, gradgradcheck

from tolerances import assert_within, sum_tolerance


def _np_batch_norm(x, rm, rv, w, b, training, momentum, eps):
    """Reference: returns (y, new_running_mean, new_running_var)."""
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, c) + (1,) * (x.ndim - 2)
    if training or rm is None:
        mu, var = x.mean(axis=axes), x.var(axis=axes)            # biased, for normalizing
        n = x.size // c
        if rm is not None:
            rm = (1 - momentum) * rm + momentum * mu
            rv = (1 - momentum) * rv + momentum * x.var(axis=axes, ddof=1)
            assert np.allclose(x.var(axis=axes, ddof=1), var * n / (n - 1))
    else:
        mu, var = rm, rv
    y = (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y, rm, rv


BN_SHAPES = [(6, 3), (4, 3, 5), (3, 2, 4, 5)]


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_forward_and_running_stats(shape, training, affine, rng, close):
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    rm0, rv0 = rng.standard_normal(c), 0.5 + rng.random(c)
    w = rng.standard_normal(c) if affine else None
    b = rng.standard_normal(c) if affine else None
    rm, rv = tinygan.tensor(rm0), tinygan.tensor(rv0)
    y = F.batch_norm(tinygan.tensor(x), rm, rv,
                     None if w is None else tinygan.tensor(w),
                     None if b is None else tinygan.tensor(b),
                     training=training, momentum=0.3, eps=1e-3)
    ref, ref_rm, ref_rv = _np_batch_norm(x, rm0, rv0, w, b, training, 0.3, 1e-3)
    close(y, ref)
    close(rm, ref_rm)       # updated in place in training, untouched in eval
    close(rv, ref_rv)


def test_batch_norm_running_stats_over_several_steps(rng, close):
    rm, rv = tinygan.zeros(2, dtype="float64"), tinygan.ones(2, dtype="float64")
    ref_m, ref_v = np.zeros(2), np.ones(2)
    for _ in range(3):
        x = rng.standard_normal((5, 2, 3))
        F.batch_norm(tinygan.tensor(x), rm, rv, training=True)        # momentum 0.1
        ref_m = 0.9 * ref_m + 0.1 * x.mean(axis=(0, 2))
        ref_v = 0.9 * ref_v + 0.1 * x.var(axis=(0, 2), ddof=1)
    close(rm, ref_m)
    close(rv, ref_v)


def test_batch_norm_without_running_stats_uses_batch_stats(rng, close):
    x = rng.standard_normal((5, 3, 2))
    ref, _, _ = _np_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    for training in (True, False):
        close(F.batch_norm(tinygan.tensor(x), None, None, training=training), ref)


def test_batch_norm_keeps_float32_and_stats_dtype(rng):
    x = tinygan.tensor(rng.standard_normal((8, 4, 3, 3)).astype(np.float32))
    rm, rv = tinygan.zeros(4), tinygan.ones(4)
    y = F.batch_norm(x, rm, rv, tinygan.ones(4), tinygan.zeros(4), training=True)
    assert y.dtype == np.float32 and rm.dtype == np.float32 and rv.dtype == np.float32
    # Per channel, 8 * 3 * 3 values: the mean of y is 0 up to the rounding of the batch mean
    # (a sum of |x| / std), of each y, and of the mean taken here (sums of |y|); its variance
    # is var / (var + eps) up to the rounding of sums of y^2.
    x64, n = x.data.astype(np.float64), 8 * 3 * 3
    var = x64.var(axis=(0, 2, 3))
    inv = 1 / np.sqrt(var + 1e-5)
    y64 = (x64 - x64.mean(axis=(0, 2, 3), keepdims=True)) * inv[:, None, None]
    mean_bound = sum_tolerance(np.abs(x64).mean(axis=(0, 2, 3)) * inv + 2 * np.abs(y64).mean(axis=(0, 2, 3)),
                               n + 2, np.float32)
    assert_within(y.data.mean(axis=(0, 2, 3)), np.zeros(4), mean_bound, "mean of y")
    assert_within(y.data.var(axis=(0, 2, 3)), var / (var + 1e-5),
                  sum_tolerance(4 * (y64 ** 2).mean(axis=(0, 2, 3)), n + 4, np.float32), "variance of y")


@pytest.mark.parametrize("shape", [(4, 2), (3, 2, 3), (2, 2, 2, 3)], ids=str)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_grads(shape, training, affine, make, check_grads, rng):
    c = shape[1]
    x = make(*shape)
    rm = tinygan.tensor(rng.standard_normal(c))
    rv = tinygan.tensor(0.5 + rng.random(c))
    params = (make(c), make(c)) if affine else ()

    def fn(x, *wb):
        # Copies of the running stats, so the checks' many calls don't drift them.
        return F.batch_norm(x, tinygan.tensor(rm.data), tinygan.tensor(rv.data),
                            *(wb or (None, None)), training=training, eps=1e-3)
    check_grads(fn, x, *params)


def test_batch_norm_grads_weight_only(make, check_grads):
    x, w = make(4, 2, 3), make(2)
    check_grads(lambda x, w: F.batch_norm(x, None, None, w, None, training=True), x, w)


def test_batch_norm_second_derivative_catches_frozen_std(make, monkeypatch):
    """A control: freezing the statistics while recording (DeZero's bug) must fail the check."""
    x, w, b = make(4, 2, 3), make(2), make(2)

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)
    assert gradgradcheck(fn, (x, w, b))
    monkeypatch.setattr(norm_module, "is_grad_enabled", lambda: False)
    with pytest.raises(GradcheckError):
        gradgradcheck(fn, (x, w, b))


def test_batch_norm_gradient_penalty_matches_composed_ops(make, close):
    """d/dx |d sum(bn(x)^3)/dx|^2 agrees with the same BatchNorm written with plain ops."""
    x, w, b = make(4, 3, 2, 2), make(3), make(3)

    def composed(x):
        mu = x.mean((0, 2, 3), keepdim=True)
        d = x - mu
        inv = ((d * d).mean((0, 2, 3), keepdim=True) + 1e-5) ** -0.5
        return d * inv * w.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)

    results = []
    for f in (lambda x: F.batch_norm(x, None, None, w, b, training=True), composed):
        (g,) = tinygan.grad((f(x) ** 3).sum(), x, create_graph=True)
        results.append(tinygan.grad((g * g).sum(), (x, w, b)))
    for got, want in zip(*results):
        close(got, want.data, rtol=1e-9, atol=1e-10)


def test_batch_norm_errors(rng):
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(tinygan.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(4,\), expected \(3,\)"):
        F.batch_norm(tinygan.randn(2, 3), tinygan.zeros(4), tinygan.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(2,\)"):
        F.batch_norm(tinygan.randn(2, 3), None, None, tinygan.ones(2), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: give both running_mean and running_var"):
        F.batch_norm(tinygan.randn(2, 3), tinygan.zeros(3), None)
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C, \*\)"):
        F.batch_norm(tinygan.randn(3), None, None, training=True)


# -----------------------------------------------------------------------------
# instance_norm
# -----------------------------------------------------------------------------
def _np_instance_norm(x, w, b, eps):
    axes = tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    if w is not None:
        y = y * w.reshape(shape) + b.reshape(shape)
    return y


@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 2, 3, 4)], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_forward(shape, affine, rng, close):
    x = rng.standard_normal(shape) * 3 - 1
    w = rng.standard_normal(shape[1]) if affine else None
    b = rng.standard_normal(shape[1]) if affine else None
    y = F.instance_norm(tinygan.tensor(x), weight=None if w is None else tinygan.tensor(w),
                        bias=None if b is None else tinygan.tensor(b), eps=1e-4)
    close(y, _np_instance_norm(x, w, b, 1e-4))


def test_instance_norm_running_stats(rng, close):
    x = rng.standard_normal((3, 2, 4, 5))
    rm0, rv0 = rng.standard_normal(2), 0.5 + rng.random(2)
    rm, rv = tinygan.tensor(rm0), tinygan.tensor(rv0)
    y = F.instance_norm(tinygan.tensor(x), rm, rv, momentum=0.2)
    close(y, _np_instance_norm(x, None, None, 1e-5))
    # As PyTorch: the batch average of the per-instance mean and unbiased variance.
    close(rm, 0.8 * rm0 + 0.2 * x.mean(axis=(2, 3)).mean(axis=0))
    close(rv, 0.8 * rv0 + 0.2 * x.var(axis=(2, 3), ddof=1).mean(axis=0))
    # use_input_stats=False normalizes with the running statistics.
    y = F.instance_norm(tinygan.tensor(x), rm, rv, use_input_stats=False)
    ref, _, _ = _np_batch_norm(x, rm.data, rv.data, None, None, False, 0.0, 1e-5)
    close(y, ref)


@pytest.mark.parametrize("use_input_stats", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_grads(use_input_stats, affine, make, check_grads, rng):
    x = make(2, 2, 2, 3)
    rm, rv = rng.standard_normal(2), 0.5 + rng.random(2)
    params = (make(2), make(2)) if affine else ()

    def fn(x, *wb):
        return F.instance_norm(x, tinygan.tensor(rm), tinygan.tensor(rv), *(wb or (None, None)),
                               use_input_stats=use_input_stats)
    check_grads(fn, x, *params)


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element"):
        F.instance_norm(tinygan.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"instance_norm: running_mean and running_var are needed"):
        F.instance_norm(tinygan.randn(2, 3, 4), use_input_stats=False)
    with pytest.raises(ValueError, match=r"instance_norm: expected input of shape \(N, C, \*spatial\)"):
        F.instance_norm(tinygan.randn(2, 3))


# -----------------------------------------------------------------------------
# layer_norm
# -----------------------------------------------------------------------------
def _np_layer_norm(x, k, w, b, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


@pytest.mark.parametrize("shape,normalized_shape", [((4, 5), 5), ((2, 3, 4), (3, 4)),
                                                    ((2, 2, 3, 2), (2, 3, 2))], ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_forward(shape, normalized_shape, affine, rng, close):
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    x = rng.standard_normal(shape) * 2 + 1
    w = rng.standard_normal(ns) if affine else None
    b = rng.standard_normal(ns) if affine else None
    y = F.layer_norm(tinygan.tensor(x), normalized_shape,
                     None if w is None else tinygan.tensor(w),
                     None if b is None else tinygan.tensor(b), eps=1e-4)
    close(y, _np_layer_norm(x, len(ns), w, b, 1e-4))


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_grads(affine, make, check_grads):
    x = make(2, 3, 4)
    params = (make(3, 4), make(3, 4)) if affine else ()
    check_grads(lambda x, *wb: F.layer_norm(x, (3, 4), *wb), x, *params)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"layer_norm: given normalized_shape=\[4\], expected input "
                                         r"of shape \(\*, 4\), but got input of shape \(2, 3\)"):
        F.layer_norm(tinygan.randn(2, 3), 4)
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(2,\), expected \(3,\)"):
        F.layer_norm(tinygan.randn(2, 3), 3, tinygan.ones(2))


# -----------------------------------------------------------------------------
# optional cross-check against PyTorch
# -----------------------------------------------------------------------------
def _grads_of(torch, fn, args):
    """Value, first derivative and a second derivative (of a gradient penalty) in torch."""
    y = fn(*args)
    gy = torch.linspace(-1, 1, y.numel(), dtype=torch.float64).reshape(y.shape)
    g = torch.autograd.grad(y, args, gy, create_graph=True)
    gg = torch.autograd.grad(sum((gi ** 2).sum() for gi in g), args, allow_unused=True)
    return y, g, [torch.zeros_like(a) if h is None else h for a, h in zip(args, gg)]


def _tg_grads_of(fn, args):
    y = fn(*args)
    gy = tinygan.tensor(np.linspace(-1, 1, y.numel()).reshape(y.shape))
    g = tinygan.grad(y, args, gy, create_graph=True)
    gg = tinygan.grad(sum((gi ** 2).sum() for gi in g), args, allow_unused=True)
    return y, g, [tinygan.zeros_like(a) if h is None else h for a, h in zip(args, gg)]


@pytest.mark.parametrize("which", ["batch_train", "batch_eval", "instance", "layer"])
def test_norms_match_torch(which, rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x, w, b = rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(2), rng.standard_normal(2)
    rm, rv = rng.standard_normal(2), 0.5 + rng.random(2)
    if which == "layer":
        w, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def make_fn(lib, f, t):
        stats = [t(rm.copy()), t(rv.copy())]
        if which == "batch_train":
            return (lambda x, w, b: f.batch_norm(x, *stats, w, b, True, 0.1, 1e-5)), stats
        if which == "batch_eval":
            return (lambda x, w, b: f.batch_norm(x, *stats, w, b, False, 0.1, 1e-5)), stats
        if which == "instance":
            return (lambda x, w, b: f.instance_norm(x, *stats, w, b, True, 0.1, 1e-5)), stats
        return (lambda x, w, b: f.layer_norm(x, (3, 4), w, b, 1e-5)), stats

    t_fn, t_stats = make_fn(torch, tF, torch.tensor)
    g_fn, g_stats = make_fn(tinygan, F, tinygan.tensor)
    t_args = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    g_args = [tinygan.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty, tg1, tg2 = _grads_of(torch, t_fn, t_args)
    gy, gg1, gg2 = _tg_grads_of(g_fn, g_args)
    np.testing.assert_allclose(gy.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(list(gg1) + list(gg2), list(tg1) + list(tg2)):
        np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=1e-9, atol=1e-11)
    for a, t in zip(g_stats, t_stats):          # running stats after the same number of calls
        np.testing.assert_allclose(a.data, t.numpy(), rtol=1e-12)
