"""The GAN objectives, each next to the paper equation it implements.

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

The gradient penalties that keep a critic Lipschitz or a discriminator smooth are
in penalties.py; ``GAN_LOSSES`` names the pairs above for lessons and experiments.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..ops.activation import relu, softplus
from .checks import check_logits

_INF = float("inf")      # softplus threshold: the exact formula everywhere, no linear shortcut


def _sp(x: Tensor) -> Tensor:
    return softplus(x, 1.0, _INF)


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
    check_logits(real_logits, "real_logits", "minimax_d_loss")
    check_logits(fake_logits, "fake_logits", "minimax_d_loss")
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
    check_logits(fake_logits, "fake_logits", "minimax_g_loss")
    return -_sp(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss (Goodfellow et al. 2014, Sec. 3).

    "Rather than training G to minimize log(1 - D(G(z))) we can train G to
    maximize log D(G(z))": the same fixed point, but strong gradients early on::

        L_G = -E log sigmoid(l_fake) = E softplus(-l_fake)

    whose gradient ``sigmoid(l_fake) - 1`` is ~ -1 where D rejects the fakes.

    Shapes: fake_logits (N,) or (N, 1) -> 0-d.
    """
    check_logits(fake_logits, "fake_logits", "nonsaturating_g_loss")
    return _sp(-fake_logits).mean()


# -- least squares: Mao et al. 2017 --------------------------------------------------------
def lsgan_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """LSGAN's discriminator loss (Mao et al. 2017, eq. 2) with the 0-1-1 coding a=0, b=1::

        L_D = 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2 = 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2

    D's output is linear (no sigmoid).  Shapes: (N,) or (N, 1) each -> 0-d.
    """
    check_logits(real_out, "real_out", "lsgan_d_loss")
    check_logits(fake_out, "fake_out", "lsgan_d_loss")
    d = real_out - 1.0
    return 0.5 * (d * d).mean() + 0.5 * (fake_out * fake_out).mean()


def lsgan_g_loss(fake_out: Tensor) -> Tensor:
    """LSGAN's generator loss (Mao et al. 2017, eq. 2) with c = 1::

        L_G = 1/2 E (D(G(z)) - c)^2 = 1/2 E (D(G(z)) - 1)^2

    Shapes: fake_out (N,) or (N, 1) -> 0-d.
    """
    check_logits(fake_out, "fake_out", "lsgan_g_loss")
    d = fake_out - 1.0
    return 0.5 * (d * d).mean()


# -- hinge: Lim & Ye 2017 --------------------------------------------------------------------
def hinge_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Hinge loss for the discriminator (Lim & Ye 2017, "Geometric GAN"; used by SN-GAN and BigGAN)::

        L_D = E relu(1 - D(x)) + E relu(1 + D(G(z)))

    Real samples are pushed above +1 and fakes below -1; beyond that margin they
    contribute nothing.  Shapes: (N,) or (N, 1) each -> 0-d.
    """
    check_logits(real_out, "real_out", "hinge_d_loss")
    check_logits(fake_out, "fake_out", "hinge_d_loss")
    return relu(1.0 - real_out).mean() + relu(1.0 + fake_out).mean()


def hinge_g_loss(fake_out: Tensor) -> Tensor:
    """The generator's side of the hinge game: ``L_G = -E D(G(z))``.  (N,) or (N, 1) -> 0-d."""
    check_logits(fake_out, "fake_out", "hinge_g_loss")
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
    check_logits(real_out, "real_out", "wasserstein_d_loss")
    check_logits(fake_out, "fake_out", "wasserstein_d_loss")
    return fake_out.mean() - real_out.mean()


def wasserstein_g_loss(fake_out: Tensor) -> Tensor:
    """The generator's WGAN loss: ``L_G = -E f(G(z))`` (Arjovsky et al. 2017, Alg. 1 line 10).

    Shapes: fake_out (N,) or (N, 1) -> 0-d.
    """
    check_logits(fake_out, "fake_out", "wasserstein_g_loss")
    return -fake_out.mean()


# name -> (discriminator loss, generator loss): for lessons and experiments.
GAN_LOSSES = {
    "minimax": (minimax_d_loss, minimax_g_loss),
    "nonsaturating": (nonsaturating_d_loss, nonsaturating_g_loss),
    "lsgan": (lsgan_d_loss, lsgan_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
}

