"""Loss functions, shaped like ``torch.nn.functional``: cross_entropy, nll_loss,
binary_cross_entropy(_with_logits), mse_loss, l1_loss.

Each is built from differentiable tinygan ops (log_softmax, softplus, indexing,
arithmetic, reductions), so gradients of every order come from those ops; only
``binary_cross_entropy`` is a Function of its own, to clamp the logarithms the
way PyTorch does.  ``reduction`` is ``'none'`` (per-element losses),
``'mean'`` or ``'sum'``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from .activation import log_softmax, softplus
from .math import abs as _abs, clamp, log
from .reduce import sum as _sum
from .shape import getitem, permute, reshape

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"{op}: target of shape {tuple(target.shape)} must have the same shape as the input "
            f"{tuple(input.shape)}"
        )


def _class_weight(weight, c: int, like: Tensor, op: str):
    """The per-class weight as an array of ``like``'s dtype (a constant: not differentiated)."""
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else backend.get_array_module(like.data).asarray(weight)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight has shape {tuple(w.shape)}, expected ({c},): one per class")
    return w.astype(like.dtype, copy=False)


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ..., dk) -> (N * d1 * ... * dk, C): one row of class scores per position."""
    if x.ndim > 2:
        x = permute(x, (0,) + tuple(range(2, x.ndim)) + (1,))
    return reshape(x, (-1, x.shape[-1]))


# -- negative log-likelihood and cross-entropy ------------------------------------------------
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices: loss_i = -weight[t_i] * input[i, t_i].

    Args:
        input: log-probabilities (N, C), (N, C, d1, ..., dk), or (C,) for one sample.
        target: int class indices (N,), (N, d1, ..., dk), or () -- in [0, C) or ``ignore_index``.
        weight: (C,) per-class weights, or None.
        ignore_index: targets equal to it contribute nothing (and are left out of the mean).
        reduction: 'mean' divides the sum by the total weight sum_i weight[t_i] of the kept
            targets (as PyTorch), 'sum' sums, 'none' returns the losses of shape ``target.shape``.
    """
    _check_reduction(reduction, "nll_loss")
    losses, w_t = _nll_terms(input, target, weight, ignore_index, "nll_loss")
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / float(w_t.sum()) if reduction == "mean" else total


def _nll_terms(logp: Tensor, target: Tensor, weight, ignore_index: int, op: str):
    """Per-position losses -w[t] * logp[t] (shape of target) and the weights w[t] (0 if ignored)."""
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {target.dtype}")
    if logp.ndim == 0:
        raise ValueError(f"{op}: input must have a class dim, got a 0-d tensor")
    single = logp.ndim == 1
    if single:                                      # one sample: (C,) with a () target
        logp, target = reshape(logp, (1,) + logp.shape), reshape(target, (1,) + target.shape)
    c = logp.shape[1]
    expected = (logp.shape[0],) + tuple(logp.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"{op}: expected target of shape {expected} for input of shape {tuple(logp.shape)} "
            f"(classes on dim 1), got target of shape {tuple(target.shape)}"
        )
    t = target.data.reshape(-1)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(
            f"{op}: target {int(t[bad][0])} is out of bounds for {c} classes "
            f"(input shape {tuple(logp.shape)}; valid targets are 0..{c - 1} or "
            f"ignore_index={ignore_index})"
        )
    xp = backend.get_array_module(logp.data)
    safe_t = xp.where(keep, t, 0)                   # any valid class; its term is zeroed below
    w = _class_weight(weight, c, logp, op)
    w_t = (w[safe_t] if w is not None else xp.ones(t.shape, dtype=logp.dtype)) * keep
    picked = getitem(_class_last(logp), (xp.arange(t.size), safe_t))        # logp[i, t_i]
    losses = picked * Tensor(-w_t.astype(logp.dtype, copy=False))
    shape = () if single else tuple(target.shape)
    return reshape(losses, shape), w_t


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between softmax(input) over dim 1 and the target.

    Args:
        input: unnormalized scores (logits) (N, C), (N, C, d1, ..., dk) or (C,).
        target: either int class indices of shape (N, d1, ..., dk) (see ``nll_loss``), or class
            probabilities of the same shape as input (float).
        weight: (C,) per-class weights, or None.
        ignore_index: for index targets: targets equal to it are skipped.
        label_smoothing: epsilon in [0, 1]: the target becomes (1 - eps) * target + eps / C
            (Szegedy et al. 2016, Sec. 7).
        reduction: 'mean' (for index targets divided by the weight of the kept targets, for
            probability targets by the number of positions N * d1 * ... * dk), 'sum', 'none'.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have a class dim, got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    c = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    w = _class_weight(weight, c, input, "cross_entropy")
    w_b = None if w is None else Tensor(w.reshape((c,) + (1,) * (input.ndim - class_dim - 1)))
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))

    if target.dtype.kind == "f":
        # Probability targets: loss = -sum_c w_c q_c log p_c, q the (smoothed) target.
        if tuple(target.shape) != tuple(input.shape):
            raise ValueError(
                f"cross_entropy: a float target holds class probabilities and must have the "
                f"input's shape {tuple(input.shape)}, got {tuple(target.shape)}; for class "
                f"indices pass an int64 target"
            )
        q = target
        if label_smoothing > 0:
            q = q * (1.0 - label_smoothing) + label_smoothing / c
        terms = q * logp if w_b is None else q * logp * w_b
        losses = -_sum(terms, class_dim)
        return _reduce(losses, reduction)

    nll, w_t = _nll_terms(logp, target, weight, ignore_index, "cross_entropy")
    if label_smoothing == 0:
        return nll if reduction == "none" else (
            nll.sum() / float(w_t.sum()) if reduction == "mean" else nll.sum())
    # Index targets with smoothing (as PyTorch): (1 - eps) * nll + eps / C * smooth, where
    # smooth = -sum_c w_c log p_c is the loss against the uniform distribution.
    keep = Tensor((target.data != ignore_index).astype(input.dtype))
    smooth = -_sum(logp if w_b is None else logp * w_b, class_dim) * keep
    if reduction == "none":
        loss, smooth_r = nll, smooth
    elif reduction == "sum":
        loss, smooth_r = nll.sum(), smooth.sum()
    else:
        denom = float(w_t.sum())
        loss, smooth_r = nll.sum() / denom, smooth.sum() / denom
    return loss * (1.0 - label_smoothing) + smooth_r * (label_smoothing / c)


# -- binary cross-entropy -----------------------------------------------------------------
class BinaryCrossEntropy(Function):
    """Elementwise -(y log x + (1 - y) log(1 - x)) with each log clamped to >= -100 (as PyTorch).

    The clamp keeps the loss finite for x = 0 or 1.  The gradient is PyTorch's,
    (x - y) / max(x (1 - x), 1e-12), which stays finite there too (the
    derivative of the clamped logs would be 0/0).  It is written with tinygan
    ops, so it can be differentiated again.
    """

    def forward(self, x, y):
        xp = backend.get_array_module(x)
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log(1.0 - x), -100.0)
        return -(y * log_x + (1.0 - y) * log_1mx)

    def backward(self, gy):
        x, y = self.inputs
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = gy * (x - y) / clamp(x * (1.0 - x), min=1e-12)
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                gt = gy * (clamp(log(1.0 - x), min=-100.0) - clamp(log(x), min=-100.0))
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-weight * (y log x + (1 - y) log(1 - x)), x = ``input`` in [0, 1] (probabilities).

    Args:
        input: probabilities, any shape.  target: same shape, in [0, 1].
        weight: broadcastable to input (a constant rescaling), or None.
    For logits, prefer ``binary_cross_entropy_with_logits``: it is exact for any logit.
    """
    _check_reduction(reduction, "binary_cross_entropy")
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=input.dtype))
    _check_same_shape(input, target, "binary_cross_entropy")
    xd = input.data
    if xd.size and not bool(((xd >= 0) & (xd <= 1)).all()):
        lo, hi = float(xd.min()), float(xd.max())
        raise ValueError(
            f"binary_cross_entropy: all elements of input should be between 0 and 1 "
            f"(got values in [{lo:g}, {hi:g}]); for logits use binary_cross_entropy_with_logits"
        )
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of sigmoid(x) against y, computed from the logits x directly.

    With log sigmoid(x) = -softplus(-x) and log(1 - sigmoid(x)) = -softplus(x):

        loss = (1 - y) softplus(x) + p y softplus(-x)
             = max(x, 0) - x y + log(1 + exp(-|x|))           (p = 1)

    where softplus(x) = max(x, 0) + log(1 + exp(-|x|)) never overflows, so the loss
    and its gradient sigmoid(x) - y are finite for any logit (even +-1e4).

    Args:
        input: logits, any shape.  target: same shape, in [0, 1].
        weight: broadcastable to input, or None.
        pos_weight: weight p of the positive term, broadcast along the last dim (one per
            class), or None.
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=input.dtype))
    _check_same_shape(input, target, "binary_cross_entropy_with_logits")
    inf = float("inf")          # threshold=inf: the exact softplus, no linear shortcut
    if pos_weight is None:
        loss = softplus(input, 1.0, inf) - input * target
    else:
        loss = (1.0 - target) * softplus(input, 1.0, inf) + \
            pos_weight * target * softplus(-input, 1.0, inf)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# -- regression losses ------------------------------------------------------------------------
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error (x - y)^2; input and target of the same shape."""
    _check_reduction(reduction, "mse_loss")
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=input.dtype))
    _check_same_shape(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute error |x - y|; input and target of the same shape."""
    _check_reduction(reduction, "l1_loss")
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target, dtype=input.dtype))
    _check_same_shape(input, target, "l1_loss")
    return _reduce(_abs(input - target), reduction)
