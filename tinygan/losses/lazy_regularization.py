"""Lazy regularization (StyleGAN2, Karras et al. 2020, Appendix B).

R1 and path length regularization cost a second backward pass each.  StyleGAN2
evaluates them only every k-th minibatch (k = 16 for R1 on D, k = 4 for path
length on G), as a separate optimizer step after the main loss's step, and
compensates in two ways:

1. The penalty is multiplied by k, so that its gradient, summed over k steps,
   has the same size as if it were applied at every step (``lazy_gain``).
2. Every k steps now hold k + 1 optimizer steps instead of k.  To keep Adam's
   per-minibatch behaviour, the learning rate and the betas are rescaled with
   c = k / (k + 1):  lr' = c lr,  beta' = beta^c  (so that beta'^(k+1) = beta^k,
   the same decay per k minibatches) -- ``lazy_adam_settings``.

``lazy_due(step, k)`` says whether step ``step`` (counted from 0) is a
regularization step: steps 0, k, 2k, ... as in the reference code's
``batch_idx % interval == 0``.  The Stepper keeps the step counters, and they
belong in the checkpoint so that a resumed run regularizes on the same steps.
"""
from __future__ import annotations

import numbers

from .checks import check_number


def _check_interval(interval, op: str) -> int:
    if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) or interval < 1:
        raise ValueError(f"{op}: interval must be an integer >= 1 (regularize every interval-th "
                         f"step), got {interval!r}")
    return int(interval)


def lazy_ratio(interval: int | None) -> float:
    """c = k / (k + 1) for a regularizer applied every k = ``interval`` steps (App. B).

    ``None`` means no lazy regularization (the penalty, if any, is part of every
    step's loss), and c = 1.
    """
    if interval is None:
        return 1.0
    k = _check_interval(interval, "lazy_ratio")
    return k / (k + 1)


def lazy_adam_settings(lr: float, betas: tuple[float, float],
                       interval: int | None) -> tuple[float, tuple[float, float]]:
    """Adam's learning rate and betas for a network regularized every ``interval`` steps.

    Returns ``(lr * c, (beta1 ** c, beta2 ** c))`` with c = interval / (interval + 1)
    (Appendix B; e.g. interval 16, c = 16/17: lr 0.0025 -> 0.002353, beta2 0.99 ->
    0.99055).  ``interval=None`` returns the settings unchanged.
    """
    op = "lazy_adam_settings"
    lr = check_number(lr, "lr", op, minimum=0.0)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{op}: betas must be a pair (beta1, beta2), got {betas!r}")
    b1, b2 = (check_number(b, "betas", op, minimum=0.0) for b in betas)
    if b1 >= 1.0 or b2 >= 1.0:
        raise ValueError(f"{op}: betas must lie in [0, 1), got {tuple(betas)!r}")
    c = lazy_ratio(interval)
    return lr * c, (b1 ** c, b2 ** c)


def lazy_gain(interval: int | None) -> int:
    """The factor a penalty is multiplied by when it is applied every ``interval`` steps.

    Its gradient then has, over ``interval`` steps, the size of a penalty applied at
    every step.  ``None`` (applied every step, inside the main loss) gives 1.
    """
    if interval is None:
        return 1
    return _check_interval(interval, "lazy_gain")


def lazy_due(step: int, interval: int | None) -> bool:
    """Whether ``step`` (0, 1, 2, ... counted per network) is a regularization step.

    Steps 0, interval, 2 interval, ...; ``None`` means never as a separate step.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"lazy_due: step must be an integer >= 0, got {step!r}")
    if interval is None:
        return False
    return step % _check_interval(interval, "lazy_due") == 0
