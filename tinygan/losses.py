"""GAN objectives and the gradient penalties, each next to the paper equation it implements.

Every objective takes the discriminator's *logits* (or, for LSGAN, hinge and
Wasserstein, its raw unbounded output): a tensor of shape ``(N,)`` or ``(N, 1)``,
one value per sample (flatten a patch discriminator's ``(N, 1, H, W)`` map with
``.reshape(-1)``: the means are the same).  Each returns a 0-d tensor, the loss
to *minimize*, as a mean over the batch.

Probabilities never appear: with ``D(x) = sigmoid(l)``,

    log D(x)       = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x))  = log sigmoid(-l)    = -softplus(l)

and ``softplus(l) = max(l, 0) + log(1 + exp(-|l|))`` is exact and finite for any
logit, as is its derivative ``sigmoid(l)``.  Computing ``log(sigmoid(l))``
instead gives ``log(0) = -inf`` for ``l = -1e4`` in float32 (and already for
``l < -104``), which is how GAN runs blow up.

============  ==========================================  =============================
objective     discriminator (or critic) loss               generator loss
============  ==========================================  =============================
minimax       E softplus(-D(x)) + E softplus(D(G(z)))      -E softplus(D(G(z)))
non-sat.      (the same)                                   E softplus(-D(G(z)))
LSGAN         1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2          1/2 E (D(G(z)) - 1)^2
hinge         E relu(1 - D(x)) + E relu(1 + D(G(z)))       -E D(G(z))
Wasserstein   E D(G(z)) - E D(x)                           -E D(G(z))
============  ==========================================  =============================

The penalties -- ``gradient_penalty`` (WGAN-GP) and ``r1_penalty`` (R1) --
differentiate D with respect to its *input* with ``tinygan.grad(...,
create_graph=True)``, so the penalty is itself a graph that ``backward()``
carries into D's parameters (a second derivative).
"""
from __future__ import annotations

from typing import Callable

from .autograd import Tensor, enable_grad, grad
from .creation import rand
from .ops.activation import relu, softplus

__all__ = [
    "minimax_d_loss", "minimax_g_loss", "nonsaturating_d_loss", "nonsaturating_g_loss",
    "lsgan_d_loss", "lsgan_g_loss", "hinge_d_loss", "hinge_g_loss", "wasserstein_d_loss",
    "wasserstein_g_loss", "gradient_penalty", "r1_penalty", "GAN_LOSSES",
]

_INF = float("inf")      # softplus threshold: the exact formula everywhere, no linear shortcut


def _sp(x: Tensor) -> Tensor:
    return softplus(x, 1.0, _INF)


def _check_logits(x, what: str, op: str) -> Tensor:
    """One logit per sample: a float Tensor of shape (N,) or (N, 1) with N >= 1."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor of D's outputs, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got dtype {x.dtype}")
    if not (x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)) or x.shape[0] == 0:
        raise ValueError(
            f"{op}: {what} must be D's outputs, one per sample: shape (N,) or (N, 1) with N >= 1, "
            f"got {tuple(x.shape)} (for a patch discriminator's (N, 1, H, W) map pass "
            f"logits.reshape(-1))"
        )
    return x


# -- the original GAN: Goodfellow et al. 2014 -------------------------------------------------
def minimax_d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's side of the minimax game (Goodfellow et al. 2014, eq. 1).

    D maximizes ``V(D, G) = E_x log D(x) + E_z log(1 - D(G(z)))``; as a loss to
    minimize, with D = sigmoid(logits)::

        L_D = -E log sigmoid(l_real) - E log(1 - sigmoid(l_fake))
            =  E softplus(-l_real)   + E softplus(l_fake)

    which is binary cross-entropy with targets 1 for real and 0 for fake.

    Shapes: real_logits (N,) or (N, 1); fake_logits (M,) or (M, 1) -> 0-d.
    """
    _check_logits(real_logits, "real_logits", "minimax_d_loss")
    _check_logits(fake_logits, "fake_logits", "minimax_d_loss")
    return _sp(-real_logits).mean() + _sp(fake_logits).mean()


# The non-saturating variant changes only G's objective; D's is the same cross-entropy.
nonsaturating_d_loss = minimax_d_loss


def minimax_g_loss(fake_logits: Tensor) -> Tensor:
    """The generator's side of the minimax game (Goodfellow et al. 2014, eq. 1).

    G minimizes ``E_z log(1 - D(G(z))) = -E softplus(l_fake)``.  Its gradient with
    respect to the logit is ``-sigmoid(l_fake)``, which vanishes exactly when D
    confidently rejects the fakes (l_fake << 0) -- early in training, when G most
    needs a signal.  That is why ``nonsaturating_g_loss`` is used in practice.

    Shapes: fake_logits (N,) or (N, 1) -> 0-d.
    """
    _check_logits(fake_logits, "fake_logits", "minimax_g_loss")
    return -_sp(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3).

    "Rather than training G to minimize log(1 - D(G(z))) we can train G to
    maximize log D(G(z))": the same fixed point, but strong gradients early on::

        L_G = -E log sigmoid(l_fake) = E softplus(-l_fake)

    whose gradient ``sigmoid(l_fake) - 1`` is ~ -1 where D rejects the fakes.

    Shapes: fake_logits (N,) or (N, 1) -> 0-d.
    """
    _check_logits(fake_logits, "fake_logits", "nonsaturating_g_loss")
    return _sp(-fake_logits).mean()


# -- least squares: Mao et al. 2017 --------------------------------------------------------
def lsgan_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """LSGAN's discriminator loss (Mao et al. 2017, eq. 2) with the 0-1-1 coding a=0, b=1::

        L_D = 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2 = 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2

    D's output is linear (no sigmoid).  Shapes: (N,) or (N, 1) each -> 0-d.
    """
    _check_logits(real_out, "real_out", "lsgan_d_loss")
    _check_logits(fake_out, "fake_out", "lsgan_d_loss")
    d = real_out - 1.0
    return 0.5 * (d * d).mean() + 0.5 * (fake_out * fake_out).mean()


def lsgan_g_loss(fake_out: Tensor) -> Tensor:
    """LSGAN's generator loss (Mao et al. 2017, eq. 2) with c = 1::

        L_G = 1/2 E (D(G(z)) - c)^2 = 1/2 E (D(G(z)) - 1)^2

    Shapes: fake_out (N,) or (N, 1) -> 0-d.
    """
    _check_logits(fake_out, "fake_out", "lsgan_g_loss")
    d = fake_out - 1.0
    return 0.5 * (d * d).mean()


# -- hinge: Lim & Ye 2017 --------------------------------------------------------------------
def hinge_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Hinge loss for the discriminator (Lim & Ye 2017, "Geometric GAN"; used by SN-GAN and BigGAN)::

        L_D = E relu(1 - D(x)) + E relu(1 + D(G(z)))

    Real samples are pushed above +1 and fakes below -1; beyond that margin they
    contribute nothing.  Shapes: (N,) or (N, 1) each -> 0-d.
    """
    _check_logits(real_out, "real_out", "hinge_d_loss")
    _check_logits(fake_out, "fake_out", "hinge_d_loss")
    return relu(1.0 - real_out).mean() + relu(1.0 + fake_out).mean()


def hinge_g_loss(fake_out: Tensor) -> Tensor:
    """The generator's side of the hinge game: ``L_G = -E D(G(z))``.  (N,) or (N, 1) -> 0-d."""
    _check_logits(fake_out, "fake_out", "hinge_g_loss")
    return -fake_out.mean()


# -- Wasserstein: Arjovsky et al. 2017 -------------------------------------------------------
def wasserstein_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """The critic's loss of WGAN (Arjovsky et al. 2017, eq. 3 and Alg. 1).

    The critic f (no sigmoid) maximizes ``E f(x) - E f(G(z))``, which for a
    1-Lipschitz f estimates the Wasserstein-1 distance (Kantorovich-Rubinstein
    duality, eq. 2).  As a loss to minimize::

        L_D = E f(G(z)) - E f(x)

    so ``-L_D`` is the running estimate of W(P_r, P_g).  The Lipschitz constraint
    is not here: WGAN clips the weights, WGAN-GP adds ``gradient_penalty``.
    Shapes: (N,) or (N, 1) each -> 0-d.
    """
    _check_logits(real_out, "real_out", "wasserstein_d_loss")
    _check_logits(fake_out, "fake_out", "wasserstein_d_loss")
    return fake_out.mean() - real_out.mean()


def wasserstein_g_loss(fake_out: Tensor) -> Tensor:
    """The generator's WGAN loss: ``L_G = -E f(G(z))`` (Arjovsky et al. 2017, Alg. 1 line 10).

    Shapes: fake_out (N,) or (N, 1) -> 0-d.
    """
    _check_logits(fake_out, "fake_out", "wasserstein_g_loss")
    return -fake_out.mean()


# -- gradient penalties ------------------------------------------------------------------------
def _input_gradient(D: Callable, x: Tensor, labels, op: str) -> Tensor:
    """grad_x sum_i D(x)_i as a graph (create_graph=True), shape of x.

    Because sample i's output depends only on sample i's input (true for a
    critic without BatchNorm), row i of this gradient is grad D(x_i).
    """
    with enable_grad():          # a penalty can be evaluated under no_grad too (for logging)
        out = D(x) if labels is None else D(x, labels)
        if not isinstance(out, Tensor) or not (out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)) \
                or out.shape[0] != x.shape[0]:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"{op}: D must return one output per sample, shape ({x.shape[0]},) or "
                             f"({x.shape[0]}, 1), got {got}")
        (g,) = grad(out.sum(), x, create_graph=True)
    return g


def _check_batch(x, what: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{op}: {what} must be a batch (N, ...) with N >= 1, got shape {tuple(x.shape)}")


def _check_labels(labels, n: int, op: str) -> None:
    if labels is not None and (not isinstance(labels, Tensor) or tuple(labels.shape) != (n,)):
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"{op}: labels must be a Tensor of shape ({n},), got {got}")


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
    _check_batch(real, "real", op)
    _check_batch(fake, "fake", op)
    if tuple(real.shape) != tuple(fake.shape):
        raise ValueError(f"{op}: real {tuple(real.shape)} and fake {tuple(fake.shape)} must have "
                         f"the same shape (they are interpolated sample by sample)")
    n = real.shape[0]
    _check_labels(labels, n, op)
    bshape = (n,) + (1,) * (real.ndim - 1)
    if eps is None:
        eps = rand(*bshape, dtype=real.dtype, device=real.device)
    else:
        if not isinstance(eps, Tensor) or tuple(eps.shape) not in ((n,), bshape):
            got = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
            raise ValueError(f"{op}: eps must be a Tensor of shape ({n},), got {got}")
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

    Args:
        D: called as ``D(x)`` or ``D(x, labels)``; one output per sample, (N,) or (N, 1).
        real: (N, ...) real batch.
        gamma: the weight gamma (e.g. 10 for MNIST-sized data; StyleGAN2 uses 10 at FFHQ 1024).
        labels: (N,) class labels for a conditional D, or None.
    Returns: a 0-d tensor.
    """
    op = "r1_penalty"
    _check_batch(real, "real", op)
    n = real.shape[0]
    _check_labels(labels, n, op)
    x = real.detach().requires_grad_()
    g = _input_gradient(D, x, labels, op).reshape(n, -1)
    return (gamma / 2.0) * (g * g).sum(1).mean()


# name -> (discriminator loss, generator loss): for lessons and experiments.
GAN_LOSSES = {
    "minimax": (minimax_d_loss, minimax_g_loss),
    "nonsaturating": (nonsaturating_d_loss, nonsaturating_g_loss),
    "lsgan": (lsgan_d_loss, lsgan_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
}
