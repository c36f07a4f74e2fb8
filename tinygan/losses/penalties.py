"""Gradient penalties: regularizers on the gradient of D with respect to its input.

``gradient_penalty`` (WGAN-GP, Gulrajani et al. 2017, eq. 3) pulls the critic's
gradient norm towards 1 between real and fake samples; ``r1_penalty`` (R1,
Mescheder et al. 2018, eq. 9) pushes D's gradient on real data towards 0.
Both differentiate D with respect to its *input* with ``tinygan.grad(...,
create_graph=True)``, so the penalty is itself a graph that ``backward()``
carries into D's parameters (a second derivative).  Each returns a 0-d tensor,
to be added to D's loss.  StyleGAN2's path length penalty, on the generator, is
in ``path_length.py``; applying R1 every k-th step only (lazy regularization) is
in ``lazy_regularization.py``.
"""
from __future__ import annotations

from typing import Callable

from ..autograd import Tensor, enable_grad, grad
from ..creation import rand
from .checks import check_batch, check_labels, check_shape, describe, one_per_sample


def _input_gradient(D: Callable, x: Tensor, labels, op: str) -> Tensor:
    """grad_x sum_i D(x)_i as a graph (create_graph=True), shape of x.

    Because sample i's output depends only on sample i's input (true for a
    critic without BatchNorm), row i of this gradient is grad D(x_i).
    """
    with enable_grad():          # a penalty can be evaluated under no_grad too (for logging)
        out = D(x) if labels is None else D(x, labels)
        if not isinstance(out, Tensor) or not one_per_sample(out) or out.shape[0] != x.shape[0]:
            raise ValueError(f"{op}: D must return one output per sample, shape ({x.shape[0]},) or "
                             f"({x.shape[0]}, 1), got {describe(out)}")
        (g,) = grad(out.sum(), x, create_graph=True)
    return g


def gradient_penalty(D: Callable, real: Tensor, fake: Tensor, lambda_: float = 10.0,
                     labels: Tensor | None = None, *, eps: Tensor | None = None) -> Tensor:
    """WGAN-GP's gradient penalty (Gulrajani et al. 2017, eq. 3 and Alg. 1 lines 4-7)::

        x_hat = eps * x + (1 - eps) * G(z),     eps ~ U[0, 1], one per sample
        GP    = lambda * E_x_hat (||grad_x_hat D(x_hat)||_2 - 1)^2

    An optimal critic has gradient norm 1 almost everywhere on the lines between
    real and fake points (Prop. 1), so the penalty pulls the norm towards 1 there
    -- a soft, two-sided version of the 1-Lipschitz constraint.

    The gradient is taken with ``create_graph=True``, so ``GP.backward()`` reaches
    D's parameters.  ``real`` and ``fake`` are detached: the penalty trains D only.
    The norm is ``sqrt(sum g^2 + 1e-12)``: the 1e-12 keeps the backward finite when a
    sample's gradient is exactly zero (d sqrt(s)/ds is infinite at 0).

    Args:
        D: the critic, called as ``D(x)`` or, with labels, ``D(x, labels)``; one output per
            sample, shape (N,) or (N, 1).  Use it without BatchNorm (the paper's Sec. 4):
            BatchNorm mixes the samples, so row i of the gradient is no longer D's gradient at x_i.
        real, fake: (N, ...) batches of the same shape (images (N, C, H, W)).
        lambda_: the penalty weight lambda (10 in the paper).
        labels: (N,) class labels passed on to a conditional D, or None.
        eps: (N,) interpolation weights, or None to draw them from U[0, 1) with tinygan's
            seeded generator on real's device.
    Returns: a 0-d tensor.
    """
    op = "gradient_penalty"
    check_batch(real, "real", op, min_ndim=2)
    check_batch(fake, "fake", op, min_ndim=2)
    if tuple(real.shape) != tuple(fake.shape):
        raise ValueError(f"{op}: real {tuple(real.shape)} and fake {tuple(fake.shape)} must have "
                         f"the same shape (they are interpolated sample by sample)")
    n = real.shape[0]
    check_labels(labels, n, op)
    bshape = (n,) + (1,) * (real.ndim - 1)
    if eps is None:
        eps = rand(*bshape, dtype=real.dtype, device=real.device)
    else:
        check_shape(eps, ((n,), bshape), "eps", op, f"shape ({n},)")
        eps = eps.detach().reshape(bshape)
    real, fake = real.detach(), fake.detach()
    x_hat = (eps * real + (1.0 - eps) * fake).detach().requires_grad_()
    g = _input_gradient(D, x_hat, labels, op).reshape(n, -1)
    norm = ((g * g).sum(1) + 1e-12).sqrt()
    d = norm - 1.0
    return lambda_ * (d * d).mean()


def r1_penalty(D: Callable, real: Tensor, gamma: float, labels: Tensor | None = None) -> Tensor:
    """The R1 regularizer (Mescheder et al. 2018, eq. 9)::

        R1 = gamma / 2 * E_x ||grad_x D(x)||_2^2        (x from the data)

    It penalizes D's gradient on real data only, so that at equilibrium D is flat
    where the data lies and gradient descent converges locally (Theorem 4.1).
    D here is the logit (before any sigmoid), as in the paper's code and StyleGAN2.
    The gradient is taken with ``create_graph=True``; ``real`` is detached.

    Lazily (StyleGAN2, App. B: every ``interval`` = 16 D steps, as its own optimizer
    step) the caller multiplies this by ``lazy_gain(interval)`` and builds D's Adam
    with ``lazy_adam_settings(lr, betas, interval)``; the penalty itself is the same.

    Args:
        D: called as ``D(x)`` or ``D(x, labels)``; one output per sample, (N,) or (N, 1).
        real: (N, ...) real batch.
        gamma: the weight gamma (e.g. 10 for MNIST-sized data; StyleGAN2 uses 10 at FFHQ 1024).
        labels: (N,) class labels for a conditional D, or None.
    Returns: a 0-d tensor.
    """
    op = "r1_penalty"
    check_batch(real, "real", op, min_ndim=2)
    n = real.shape[0]
    check_labels(labels, n, op)
    x = real.detach().requires_grad_()
    g = _input_gradient(D, x, labels, op).reshape(n, -1)
    return (gamma / 2.0) * (g * g).sum(1).mean()
