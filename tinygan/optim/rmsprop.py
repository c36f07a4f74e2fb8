"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
from __future__ import annotations

from typing import Iterable

from ..backend import get_array_module
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop: Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning",
    Lecture 6e (Coursera, 2012); the centered variant is Graves, "Generating Sequences
    With Recurrent Neural Networks" (2013), eq. 38-45.  The original WGAN trains with it.

    At step t, with gradient g_t of parameter p (negated if ``maximize``)::

        g_t <- g_t + weight_decay * p_{t-1}               (L2 penalty, if weight_decay != 0)
        v_t  = alpha * v_{t-1} + (1 - alpha) * g_t^2       (v_0 = 0)
        c_t  = alpha * c_{t-1} + (1 - alpha) * g_t         (if centered; c_0 = 0)
        s_t  = sqrt(v_t - c_t^2) if centered else sqrt(v_t)
        b_t  = momentum * b_{t-1} + g_t / (s_t + eps)      (if momentum > 0; b_0 = 0)
        p_t  = p_{t-1} - lr * b_t      (or  p_{t-1} - lr * g_t / (s_t + eps)  without momentum)

    ``eps`` is added outside the square root, as in PyTorch (Keras adds it inside).
    The state is ``step``, ``square_avg`` (v) and, as needed, ``grad_avg`` (c) and
    ``momentum_buffer`` (b).

    Args:
        params: Tensors or parameter-group dicts (see ``Optimizer``).
        lr: learning rate.
        alpha: smoothing constant of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient.
        momentum: momentum factor (0 turns momentum off).
        centered: normalize by an estimate of the gradient's variance instead of its second moment.
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"RMSprop: invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"RMSprop: invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"RMSprop: invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"RMSprop: invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"RMSprop: invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, g, state: dict, group: dict) -> None:
        xp = get_array_module(p)
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1

        if weight_decay != 0:
            g = g + weight_decay * p
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            c = state["grad_avg"]
            c += (1 - alpha) * (g - c)               # = alpha * c + (1 - alpha) * g  (a lerp, as PyTorch)
            avg = xp.sqrt(v - c * c)
        else:
            avg = xp.sqrt(v)
        avg += eps

        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p -= lr * g / avg
