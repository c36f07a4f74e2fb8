"""tinygan.ops.loss: cross_entropy, nll_loss, binary_cross_entropy(_with_logits), mse, l1.

Forward against NumPy formulas written here over reductions, class weights,
ignore_index and label smoothing; first and second derivatives in float64; the
numerical edges a GAN hits (probabilities of exactly 0 and 1, logits of +-1e4);
and the error messages for mismatched or out-of-range targets.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F


def _np_log_softmax(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


def _np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """Reference via the smoothed one-hot target q: loss = -sum_c w_c q_c log p_c."""
    c = x.shape[1]
    logp = _np_log_softmax(x, 1)
    w = np.ones(c) if weight is None else weight
    wshape = (1, c) + (1,) * (x.ndim - 2)
    if target.dtype.kind == "f":
        q = target * (1 - smoothing) + smoothing / c
        losses = -(w.reshape(wshape) * q * logp).sum(axis=1)
        return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]
    keep = target != ignore_index
    t = np.where(keep, target, 0)
    onehot = np.moveaxis(np.eye(c)[t], -1, 1)                 # (N, C, d...)
    q = onehot * (1 - smoothing) + smoothing / c
    losses = -(w.reshape(wshape) * q * logp).sum(axis=1) * keep
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (w[t] * keep).sum()


REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_index_targets(shape, reduction, weighted, smoothing, rng, close):
    x = rng.standard_normal(shape) * 2
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    target.reshape(-1)[::3] = -100                                   # some ignored
    w = rng.random(shape[1]) + 0.1 if weighted else None
    y = F.cross_entropy(tinygan.tensor(x), tinygan.tensor(target),
                        None if w is None else tinygan.tensor(w), reduction=reduction,
                        label_smoothing=smoothing)
    close(y, _np_cross_entropy(x, target, w, -100, reduction, smoothing))


def test_cross_entropy_custom_ignore_index_and_unbatched(rng, close):
    x, target = rng.standard_normal((6, 3)), np.array([0, 1, 2, 1, 1, 0])
    y = F.cross_entropy(tinygan.tensor(x), tinygan.tensor(target), ignore_index=1)
    close(y, _np_cross_entropy(x, target, ignore_index=1))
    # One sample: (C,) scores and a () target.
    y = F.cross_entropy(tinygan.tensor(x[2]), tinygan.tensor(np.int64(2)))
    close(y, -_np_log_softmax(x[2:3], 1)[0, 2])


def test_cross_entropy_all_ignored_mean_is_nan():
    with np.errstate(invalid="ignore", divide="ignore"):
        y = F.cross_entropy(tinygan.randn(2, 3), tinygan.tensor([-100, -100]))
    assert np.isnan(y.item())                  # 0 / 0, as PyTorch


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(reduction, weighted, smoothing, rng, close):
    x = rng.standard_normal((3, 4, 2))
    p = rng.random((3, 4, 2))
    p /= p.sum(axis=1, keepdims=True)
    w = rng.random(4) + 0.1 if weighted else None
    y = F.cross_entropy(tinygan.tensor(x), tinygan.tensor(p), None if w is None else tinygan.tensor(w),
                        reduction=reduction, label_smoothing=smoothing)
    close(y, _np_cross_entropy(x, p, w, reduction=reduction, smoothing=smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_grads(reduction, weighted, smoothing, make, check_grads, rng):
    x = make(3, 3, 2)
    target = tinygan.tensor(np.array([[0, 2], [-100, 1], [2, 2]]))
    w = tinygan.tensor(rng.random(3) + 0.1) if weighted else None
    check_grads(lambda x: F.cross_entropy(x, target, w, reduction=reduction,
                                          label_smoothing=smoothing), x)


def test_cross_entropy_probability_target_grads(make, check_grads):
    x = make(3, 4)
    p = make(3, 4, kind="positive")
    # Both the logits and the (soft) target are differentiated.
    check_grads(lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1), x, p)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 2, 2)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shape, reduction, weighted, rng, close):
    logp = _np_log_softmax(rng.standard_normal(shape), 1)
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    target.reshape(-1)[1] = 7
    w = rng.random(shape[1]) + 0.1 if weighted else None
    y = F.nll_loss(tinygan.tensor(logp), tinygan.tensor(target),
                   None if w is None else tinygan.tensor(w), ignore_index=7, reduction=reduction)
    # Reference straight from the definition: -w[t] * logp[n, t, ...], ignored terms dropped.
    keep = target != 7
    t = np.where(keep, target, 0)
    picked = np.take_along_axis(logp, t[:, None], axis=1)[:, 0]
    wt = (np.ones(shape[1]) if w is None else w)[t] * keep
    losses = -wt * picked
    close(y, {"none": losses, "sum": losses.sum(), "mean": losses.sum() / wt.sum()}[reduction])


def test_nll_loss_grads(make, check_grads, rng):
    x = make(4, 3)
    target = tinygan.tensor(np.array([0, 2, 2, 1]))
    w = tinygan.tensor(rng.random(3) + 0.1)
    check_grads(lambda x: F.nll_loss(x, target, w), x)


def test_nll_and_cross_entropy_errors():
    x = tinygan.randn(4, 3)
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 is out of bounds for 3 classes "
                                         r"\(input shape \(4, 3\)"):
        F.cross_entropy(x, tinygan.tensor([0, 1, 2, 3]))
    with pytest.raises(IndexError, match=r"nll_loss: target -1 is out of bounds for 3 classes"):
        F.nll_loss(x, tinygan.tensor([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\) for input "
                                         r"of shape \(4, 3\).*got target of shape \(4, 1\)"):
        F.cross_entropy(x, tinygan.tensor([[0], [1], [2], [0]]))
    with pytest.raises(ValueError, match=r"cross_entropy: a float target holds class probabilities "
                                         r"and must have the input's shape \(4, 3\), got \(4,\)"):
        F.cross_entropy(x, tinygan.tensor([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: weight has shape \(2,\), expected \(3,\)"):
        F.cross_entropy(x, tinygan.tensor([0, 1, 2, 0]), weight=tinygan.ones(2))
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be 'none', 'mean' or 'sum'"):
        F.cross_entropy(x, tinygan.tensor([0, 1, 2, 0]), reduction="avg")
    with pytest.raises(TypeError, match=r"nll_loss: target must hold integer class indices"):
        F.nll_loss(x, tinygan.tensor([0.0, 1.0, 2.0, 0.0]))


# -----------------------------------------------------------------------------
# binary cross-entropy
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted, rng, close):
    p, y = rng.uniform(0.05, 0.95, (4, 3)), rng.random((4, 3))
    w = rng.random(3) if weighted else None
    out = F.binary_cross_entropy(tinygan.tensor(p), tinygan.tensor(y),
                                 None if w is None else tinygan.tensor(w), reduction=reduction)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * (1 if w is None else w)
    close(out, {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction])


def test_binary_cross_entropy_grads(make, check_grads, rng):
    p = tinygan.tensor(rng.uniform(0.1, 0.9, (2, 3)), requires_grad=True)
    y = tinygan.tensor(rng.random((2, 3)), requires_grad=True)
    w = tinygan.tensor(rng.random(3))
    check_grads(lambda p, y: F.binary_cross_entropy(p, y, w), p, y)
    check_grads(lambda p, y: F.binary_cross_entropy(p, y, reduction="none"), p, y)


def test_binary_cross_entropy_clamps_the_logs():
    """At p = 0 and p = 1 the log is clamped to -100 (as PyTorch): finite loss and gradient."""
    p = tinygan.tensor([0.0, 1.0, 0.0, 1.0], dtype="float64", requires_grad=True)
    y = tinygan.tensor([1.0, 0.0, 0.0, 1.0], dtype="float64")
    loss = F.binary_cross_entropy(p, y, reduction="none")
    # exact: log clamped to -100 gives 100 and 0 exactly
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0])
    (g,) = tinygan.grad(loss.sum(), p)
    assert np.isfinite(g.data).all()
    np.testing.assert_allclose(g.data, [-1e12, 1e12, 0.0, 0.0])     # (p - y) / max(p(1-p), 1e-12)


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input should be "
                                         r"between 0 and 1 \(got values in \[-0.5, 2\]\)"):
        F.binary_cross_entropy(tinygan.tensor([-0.5, 2.0]), tinygan.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target of shape \(2, 1\) must have "
                                         r"the same shape as the input \(2,\)"):
        F.binary_cross_entropy(tinygan.tensor([0.5, 0.5]), tinygan.tensor([[0.0], [1.0]]))


def _np_bce_logits(x, y, w=None, pos_weight=None):
    """Reference: -[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], via logaddexp."""
    log_sig = -np.logaddexp(0, -x)            # log sigmoid(x)
    log_1m_sig = -np.logaddexp(0, x)          # log(1 - sigmoid(x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * y * log_sig + (1 - y) * log_1m_sig)
    return loss * (1 if w is None else w)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits(reduction, weighted, pos_weighted, rng, close):
    x, y = rng.standard_normal((4, 3)) * 4, rng.random((4, 3))
    w = rng.random((4, 1)) if weighted else None
    pw = rng.random(3) * 3 if pos_weighted else None
    out = F.binary_cross_entropy_with_logits(
        tinygan.tensor(x), tinygan.tensor(y), None if w is None else tinygan.tensor(w),
        reduction=reduction, pos_weight=None if pw is None else tinygan.tensor(pw))
    losses = _np_bce_logits(x, y, w, pw)
    close(out, {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction])


@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits_grads(pos_weighted, make, check_grads, rng):
    x = make(2, 3, scale=3.0)
    y = tinygan.tensor(rng.random((2, 3)), requires_grad=True)
    w = tinygan.tensor(rng.random(3))
    pw = tinygan.tensor(rng.random(3) * 2) if pos_weighted else None
    check_grads(lambda x, y: F.binary_cross_entropy_with_logits(x, y, w, pos_weight=pw), x, y)


def test_binary_cross_entropy_with_logits_is_finite_for_huge_logits(close):
    """A saturated discriminator: logits of +-1e4 give the exact loss and sigmoid(x) - y."""
    for dtype in ("float32", "float64"):
        x = tinygan.tensor([1e4, -1e4, 1e4, -1e4, 0.0], dtype=dtype, requires_grad=True)
        y = tinygan.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
        loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        close(loss, [0.0, 0.0, 1e4, 1e4, np.log(2.0)], rtol=1e-6, atol=0)
        (g,) = tinygan.grad(loss.sum(), x)
        close(g, [0.0, 0.0, 1.0, -1.0, -0.5], rtol=1e-6, atol=0)


def test_binary_cross_entropy_with_logits_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target of shape \(3,\) "
                                         r"must have the same shape as the input \(3, 1\)"):
        F.binary_cross_entropy_with_logits(tinygan.randn(3, 1), tinygan.ones(3))


# -----------------------------------------------------------------------------
# mse, l1
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1(reduction, rng, close):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    red = {"none": lambda a: a, "sum": np.sum, "mean": np.mean}[reduction]
    close(F.mse_loss(tinygan.tensor(x), tinygan.tensor(y), reduction=reduction), red((x - y) ** 2))
    close(F.l1_loss(tinygan.tensor(x), tinygan.tensor(y), reduction=reduction), red(np.abs(x - y)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1_grads(reduction, make, check_grads):
    x, y = make(2, 3), make(2, 3)
    check_grads(lambda x, y: F.mse_loss(x, y, reduction=reduction), x, y)
    d = make(2, 3, kind="away")                   # |x - y| away from its kink at 0
    y2 = tinygan.tensor(x.data - d.data, requires_grad=True)
    check_grads(lambda x, y: F.l1_loss(x, y, reduction=reduction), x, y2)


def test_mse_and_l1_errors():
    with pytest.raises(ValueError, match=r"mse_loss: target of shape \(4, 1\) must have the same "
                                         r"shape as the input \(4, 3\)"):
        F.mse_loss(tinygan.randn(4, 3), tinygan.randn(4, 1))
    with pytest.raises(ValueError, match=r"l1_loss: reduction must be"):
        F.l1_loss(tinygan.randn(4), tinygan.randn(4), reduction="max")


# -----------------------------------------------------------------------------
# optional cross-check against PyTorch
# -----------------------------------------------------------------------------
def test_losses_match_torch(rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = rng.standard_normal((4, 3, 2)) * 3
    t = rng.integers(0, 3, (4, 2))
    t[0, 0] = -100
    p = rng.random((4, 3, 2))
    w = rng.random(3) + 0.1
    prob, y = rng.uniform(0.01, 0.99, (4, 3)), rng.random((4, 3))
    cases = [
        lambda f, T: f.cross_entropy(T(x), T(t), T(w), label_smoothing=0.15),
        lambda f, T: f.cross_entropy(T(x), T(t), reduction="sum"),
        lambda f, T: f.cross_entropy(T(x), T(p / p.sum(1, keepdims=True)), T(w), label_smoothing=0.1),
        lambda f, T: f.nll_loss(f.log_softmax(T(x), 1), T(t), T(w), reduction="none"),
        lambda f, T: f.binary_cross_entropy(T(prob), T(y), T(w)),
        lambda f, T: f.binary_cross_entropy_with_logits(T(x[:, :, 0]), T(y), T(w), pos_weight=T(w * 2)),
        lambda f, T: f.mse_loss(T(x), T(p)),
        lambda f, T: f.l1_loss(T(x), T(p), reduction="sum"),
    ]
    for case in cases:
        got = case(F, tinygan.tensor)
        want = case(tF, torch.tensor)
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-10, atol=1e-12)
