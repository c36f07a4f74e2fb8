"""Gradient checks: analytic gradients against central differences, in float64.

``gradcheck(fn, inputs)`` compares, for a fixed random direction ``v`` over the
outputs, the analytic vector-Jacobian product ``J^T v`` (one backward pass)
with its numeric estimate, element by element of every input:

    (J^T v)_i  ~=  ( <v, f(x + eps e_i)> - <v, f(x - eps e_i)> ) / (2 eps)

A wrong entry of J shows up in J^T v for almost every v, so one random v checks
the whole Jacobian at the cost of two forward passes per input element.

``gradgradcheck`` applies the same test to the function ``(x, v) -> J(x)^T v``
computed with ``create_graph=True``: that is the second derivative, which
WGAN-GP and StyleGAN's R1 and path-length penalties rely on.

Both return True or raise ``GradcheckError`` naming the input, the worst
element, and the analytic and numeric values there.  A derivative that is not
finite (inf, NaN) fails the check whatever the tolerances; the message says on
which side, at how many elements, and where first.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import backend
from .autograd import Tensor, enable_grad, grad, is_grad_enabled, no_grad


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree."""


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _check_inputs(inputs: Sequence, where: str) -> list:
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{where}: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"{where}: input {i} has dtype {inputs[i].dtype}; use float64 -- central "
                "differences in float32 are too coarse to check anything"
            )
    return checked


def _projection(fn: Callable, inputs: Sequence, vs: Sequence[np.ndarray]) -> float:
    """<v, f(inputs)> as a Python float, evaluated without recording a graph."""
    with no_grad():
        outs = _as_tuple(fn(*inputs))
    total = 0.0
    for o, v in zip(outs, vs):
        if o is not None and isinstance(o, Tensor) and o.dtype.kind == "f":
            total += float((backend.to_device(o.data, "cpu").astype(np.float64) * v).sum())
    return total


def gradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, _what: Callable | None = None) -> bool:
    """Check the first derivatives of ``fn`` at ``inputs`` against central differences.

    Args:
        fn: takes the inputs, returns a Tensor or a tuple of Tensors.
        inputs: Tensors (those with ``requires_grad`` are checked, and must be float64)
            and any other arguments, passed through unchanged.
        eps: the finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|
            (and both are finite).
    """
    inputs = _as_tuple(inputs)
    checked = _check_inputs(inputs, "gradcheck")
    outs = _as_tuple(fn(*inputs))
    rng = np.random.default_rng(seed)
    vs, diff_outs, grad_outs = [], [], []
    for o in outs:
        v = rng.standard_normal(o.shape) if o is not None else None
        vs.append(v)
        if o is not None and o.requires_grad:
            diff_outs.append(o)
            grad_outs.append(Tensor(backend.to_device(v.astype(o.dtype), o.device)))
    wrt = [inputs[i] for i in checked]
    if diff_outs:
        analytic = grad(diff_outs, wrt, grad_outputs=grad_outs, allow_unused=True)
    else:
        analytic = (None,) * len(wrt)

    for k, i in enumerate(checked):
        x = inputs[i]
        a = np.zeros(x.shape) if analytic[k] is None else \
            np.asarray(backend.to_device(analytic[k].data, "cpu"), dtype=np.float64)
        numeric = np.zeros(x.shape)
        if not x.data.flags.c_contiguous:
            x.data = x.data.copy()         # so that reshape(-1) below is a view
        flat = x.data.reshape(-1)          # a view: editing it edits the input
        for j in range(flat.size):
            orig = flat[j].item()
            flat[j] = orig + eps
            fp = _projection(fn, inputs, vs)
            flat[j] = orig - eps
            fm = _projection(fn, inputs, vs)
            flat[j] = orig
            numeric.reshape(-1)[j] = (fp - fm) / (2 * eps)
        what = _what(i, x) if _what else f"gradcheck: input {i} (shape {tuple(x.shape)})"
        _compare(a, numeric, atol, rtol, what)
    return True


def _compare(analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float, what: str):
    """Raise GradcheckError unless every element passes: both derivatives finite, and
    |analytic - numeric| <= atol + rtol * |numeric|.

    A derivative that is not finite fails whatever the tolerance: an infinite analytic one is a
    singularity (sqrt at 0), a NaN numeric one a function undefined a step away -- either way
    the check can't confirm the gradient there, so the element counts as off and is named.
    """
    a_bad, n_bad = ~np.isfinite(analytic), ~np.isfinite(numeric)
    with np.errstate(invalid="ignore"):
        err = np.abs(analytic - numeric)
        mismatch = ~a_bad & ~n_bad & (err > atol + rtol * np.abs(numeric))
    off = a_bad | n_bad | mismatch
    if not off.any():
        return
    parts = [_not_finite(side, values, bad) for side, values, bad in
             (("analytic", analytic, a_bad), ("numeric", numeric, n_bad)) if bad.any()]
    if mismatch.any():
        # The worst finite element: the one furthest past its tolerance.
        score = np.where(mismatch, err - (atol + rtol * np.abs(numeric)), -np.inf)
        idx = _index(int(np.argmax(score)), analytic.shape)
        parts.append(f"analytic and numeric derivatives differ at index {idx}: analytic "
                     f"{analytic[idx]:.8g}, numeric {numeric[idx]:.8g} (abs err {err[idx]:.3g})")
    raise GradcheckError(f"{what}: " + "; ".join(parts) +
                         f" ({int(off.sum())} of {off.size} elements off; atol {atol}, rtol {rtol})")


def _index(flat: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _not_finite(side: str, values: np.ndarray, bad: np.ndarray) -> str:
    """'the analytic gradient is inf or nan at 2 of 6 elements (first at index (0, 1))'."""
    kinds = [kind for kind, hit in (("inf", np.isposinf(values)), ("-inf", np.isneginf(values)),
                                    ("nan", np.isnan(values))) if hit.any()]
    first = _index(int(np.flatnonzero(bad)[0]), values.shape)
    return (f"the {side} gradient is {' or '.join(kinds)} at {int(bad.sum())} of {bad.size} "
            f"elements (first at index {first})")


def gradgradcheck(fn: Callable, inputs: Sequence, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of ``(inputs, v) -> grad(<v, fn(inputs)>, inputs)``.

    The direction ``v`` over the outputs is an input of the checked function too,
    so the check also covers how the gradient depends on the incoming gradient.
    """
    inputs = _as_tuple(inputs)
    checked = _check_inputs(inputs, "gradgradcheck")
    with no_grad():
        outs = _as_tuple(fn(*inputs))
    rng = np.random.default_rng(seed + 1)
    vs = [Tensor(backend.to_device(rng.standard_normal(o.shape), o.device), requires_grad=True)
          for o in outs]
    n = len(inputs)

    def first_derivative(*args):
        xs, v = args[:n], args[n:]
        wrt = [xs[i] for i in checked]
        outer = is_grad_enabled()   # False when the numeric side calls us: no graph needed then
        with enable_grad():   # the numeric side evaluates us under no_grad; we need a graph
            ys = _as_tuple(fn(*xs))
            pairs = [(y, g) for y, g in zip(ys, v) if y is not None and y.requires_grad]
            if not pairs:
                return tuple(Tensor(np.zeros(w.shape)) for w in wrt)
            gs = grad([p[0] for p in pairs], wrt, grad_outputs=[p[1] for p in pairs],
                      create_graph=outer, allow_unused=True)
        return tuple(Tensor(np.zeros(w.shape)) if g is None else g for w, g in zip(wrt, gs))

    def what(i, x):
        if i < n:
            return f"gradgradcheck: second derivative with respect to input {i} (shape {tuple(x.shape)})"
        return (f"gradgradcheck: derivative of the gradient with respect to the direction v over "
                f"output {i - n} (shape {tuple(x.shape)})")

    return gradcheck(first_derivative, tuple(inputs) + tuple(vs), eps=eps, atol=atol, rtol=rtol,
                     seed=seed + 2, _what=what)
