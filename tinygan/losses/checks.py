"""Argument checks shared by the objectives, written once.

Each check raises a ``TypeError`` (wrong kind of value) or a ``ValueError`` (wrong
shape or range) whose message starts with the objective's name and the
argument's, e.g. ``elbo: beta must be >= 0, got -0.5``, and says what was given.
"""
from __future__ import annotations

import math
import numbers

from ..autograd import Tensor
from .range_check import check_range

LIKELIHOODS = ("bernoulli", "gaussian")      # the decoders p(x|z) the VAE objectives know


def describe(x) -> str:
    """What was given, for a message: a tensor's shape, or the type of anything else."""
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


# -- numbers -----------------------------------------------------------------------------------
def check_number(value, what: str, op: str, *, minimum: float | None = None) -> float:
    """A real number (not a bool), >= minimum if given; returned as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {what} must be a number, got {type(value).__name__}")
    if minimum is not None and not value >= minimum:          # also refuses nan
        raise ValueError(f"{op}: {what} must be >= {minimum:g}, got {value!r}")
    return float(value)


def check_count(value, what: str, op: str, *, optional: bool = False) -> int | None:
    """An integer >= 1 (not a bool), or None where ``optional``; returned as an int."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        allowed = "None or an integer" if optional else "an integer"
        raise ValueError(f"{op}: {what} must be {allowed} >= 1, got {value!r}")
    return int(value)


# -- tensors -----------------------------------------------------------------------------------
def check_float_tensor(x, what: str, op: str, *, noun: str = "a Tensor") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be {noun}, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got dtype {x.dtype}")


def check_batch(x, what: str, op: str, *, min_ndim: int = 1) -> None:
    """A float batch: a Tensor of shape (N, ...) with N >= 1 and at least ``min_ndim`` dims."""
    check_float_tensor(x, what, op)
    if x.ndim < min_ndim or x.shape[0] == 0:
        raise ValueError(f"{op}: {what} must be a batch (N, ...) with N >= 1, "
                         f"got shape {tuple(x.shape)}")


def check_shape(x, shapes: tuple, what: str, op: str, wanted: str) -> None:
    """A Tensor whose shape is one of ``shapes`` (``wanted`` says which, for the message)."""
    if not isinstance(x, Tensor) or tuple(x.shape) not in shapes:
        raise ValueError(f"{op}: {what} must be a Tensor of {wanted}, got {describe(x)}")


def broadcasts_to(shape: tuple, target: tuple) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` (NumPy's rule, right-aligned)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


# -- a discriminator's outputs -------------------------------------------------------------------
def one_per_sample(x: Tensor) -> bool:
    """Shape (N,) or (N, 1): one output per sample."""
    return x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)


def check_logits(x, what: str, op: str) -> Tensor:
    """One logit per sample: a float Tensor of shape (N,) or (N, 1) with N >= 1."""
    check_float_tensor(x, what, op, noun="a Tensor of D's outputs")
    if not one_per_sample(x) or x.shape[0] == 0:
        raise ValueError(
            f"{op}: {what} must be D's outputs, one per sample: shape (N,) or (N, 1) with N >= 1, "
            f"got {tuple(x.shape)} (for a patch discriminator's (N, 1, H, W) map pass "
            f"logits.reshape(-1))"
        )
    return x


def check_labels(labels, n: int, op: str) -> None:
    """Class labels for a conditional D: None, or a Tensor of shape (n,)."""
    if labels is not None:
        check_shape(labels, ((n,),), "labels", op, f"shape ({n},)")


# -- a VAE's encoder and decoder -----------------------------------------------------------------
def check_posterior(mu, logvar, op: str, n: int | None = None) -> None:
    """mu and logvar of q(z|x): float batches of one shape (and batch size n, if given)."""
    check_batch(mu, "mu", op)
    check_batch(logvar, "logvar", op)
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"{op}: mu has shape {tuple(mu.shape)} but logvar has shape "
                         f"{tuple(logvar.shape)}; they must match (one mean and one log-variance "
                         f"per latent)")
    if n is not None and mu.shape[0] != n:
        raise ValueError(f"{op}: mu and logvar have batch size {mu.shape[0]} (shape "
                         f"{tuple(mu.shape)}) but the data x has batch size {n}")


def check_likelihood(likelihood, op: str) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"{op}: unknown likelihood {likelihood!r}; expected one of "
                         f"{', '.join(repr(s) for s in LIKELIHOODS)}")


def check_logvar(logvar, target: tuple, what: str, op: str) -> None:
    """A log-variance: a finite number, or a float Tensor that broadcasts to ``target``."""
    if isinstance(logvar, Tensor):
        if logvar.dtype.kind != "f":
            raise TypeError(f"{op}: {what} must be floating point, got dtype {logvar.dtype}")
        if not broadcasts_to(tuple(logvar.shape), tuple(target)):
            raise ValueError(f"{op}: {what} has shape {tuple(logvar.shape)}, which does not "
                             f"broadcast to the data's shape {tuple(target)}")
    else:
        check_number(logvar, what, op)
        if not math.isfinite(logvar):
            raise ValueError(f"{op}: {what} must be finite, got {logvar!r}")


def check_decoder(out, x, what: str, op: str) -> Tensor:
    """The decoder's output must have exactly the data's shape; returns x as out's dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: the data x must be a Tensor, got {type(x).__name__}")
    check_batch(out, what, op)
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"{op}: {what} has shape {tuple(out.shape)} but the data x has shape "
                         f"{tuple(x.shape)}")
    return x if x.dtype == out.dtype else x.type_as(out)     # e.g. uint8 binarized pixels


def check_unit_interval(x: Tensor, op: str) -> None:
    # A Bernoulli likelihood of x outside [0, 1] is not a likelihood: its "nats" are
    # meaningless (images scaled to [-1, 1] for a GAN are the usual way to get here).
    # On a GPU inside a training step the check is read at the loop's next read point
    # (range_check.py), so that the step never waits for the device.
    check_range(x, 0.0, 1.0, lambda lo, hi: (
        f"{op}: the data x must lie in [0, 1] for a Bernoulli likelihood "
        f"(binarized or grey-level pixels), got values in [{lo:.4g}, {hi:.4g}]; "
        f"data in [-1, 1] maps to [0, 1] by (x + 1) / 2"))
