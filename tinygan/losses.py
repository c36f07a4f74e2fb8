"""GAN and VAE objectives and the gradient penalties, each next to the paper equation it implements.

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

VAE objectives
--------------
A VAE's encoder gives ``q(z|x) = N(mu, diag exp(logvar))``, its decoder
``p(x|z)``, the prior is ``p(z) = N(0, I)``.  Everything here is per sample:
shape ``(N,)``, summed over every non-batch dimension, in nats.

    ELBO(x)   = E_q log p(x|z) - KL(q(z|x) || p(z))  <=  log p(x)   (Kingma & Welling 2014, eq. 3)
    z         = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)          (the reparameterization, eq. 10)
    KL        = 1/2 sum(exp(logvar) + mu^2 - 1 - logvar)            (analytic, appendix B)

``log p(x|z)`` is ``bernoulli_log_likelihood`` on the decoder's logits (binarized
data; ``x * l - softplus(l)``, the same stable softplus as above) or
``gaussian_log_likelihood`` (a fixed variance, or a learned one).  ``elbo`` and
``vae_loss`` weight the KL by beta (beta-VAE, Higgins et al. 2017, eq. 4), or
replace it by ``gamma |KL - C|`` with a capacity C ramped up by
``capacity_schedule`` (Burgess et al. 2018, eq. 8).  ``iwae_bound`` is the
importance-weighted bound of Burda et al. 2016 (eq. 8),

    L_k(x) = log 1/k sum_i p(x, z_i) / q(z_i|x),   z_1..z_k ~ q(z|x),

computed with ``logsumexp``: ``L_1`` is the ELBO (with a one-sample KL), and
``L_k`` rises to ``log p(x)`` as k grows.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

from .autograd import Tensor, enable_grad, grad
from .creation import rand, randn_like
from .ops.activation import relu, softplus
from .ops.math import abs as _abs, exp
from .ops.reduce import logsumexp
from .ops.shape import cat

__all__ = [
    "minimax_d_loss", "minimax_g_loss", "nonsaturating_d_loss", "nonsaturating_g_loss",
    "lsgan_d_loss", "lsgan_g_loss", "hinge_d_loss", "hinge_g_loss", "wasserstein_d_loss",
    "wasserstein_g_loss", "gradient_penalty", "r1_penalty", "GAN_LOSSES",
    "reparameterize", "gaussian_kl", "log_normal", "bernoulli_log_likelihood",
    "gaussian_log_likelihood", "elbo", "vae_loss", "capacity_schedule", "iwae_bound",
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


# -- VAE objectives ----------------------------------------------------------------------------
_LOG_2PI = math.log(2.0 * math.pi)
_LIKELIHOODS = ("bernoulli", "gaussian")


def _per_sample(t: Tensor) -> Tensor:
    """(N, ...) -> (N,): the sum over every non-batch dim (an (N,) tensor passes through)."""
    return t.reshape(t.shape[0], -1).sum(1)


def _check_tensor(t, what: str, op: str) -> None:
    """A float batch: a Tensor of shape (N, ...) with N >= 1."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got dtype {t.dtype}")
    if t.ndim < 1 or t.shape[0] == 0:
        raise ValueError(f"{op}: {what} must be a batch (N, ...) with N >= 1, "
                         f"got shape {tuple(t.shape)}")


def _check_posterior(mu, logvar, op: str, n: int | None = None) -> None:
    """mu and logvar of q(z|x): float batches of one shape (and batch size n, if given)."""
    _check_tensor(mu, "mu", op)
    _check_tensor(logvar, "logvar", op)
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"{op}: mu has shape {tuple(mu.shape)} but logvar has shape "
                         f"{tuple(logvar.shape)}; they must match (one mean and one log-variance "
                         f"per latent)")
    if n is not None and mu.shape[0] != n:
        raise ValueError(f"{op}: mu and logvar have batch size {mu.shape[0]} (shape "
                         f"{tuple(mu.shape)}) but the data x has batch size {n}")


def _check_number(value, what: str, op: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {what} must be a number, got {type(value).__name__}")
    if minimum is not None and not value >= minimum:          # also refuses nan
        raise ValueError(f"{op}: {what} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _check_likelihood(likelihood, op: str) -> None:
    if likelihood not in _LIKELIHOODS:
        raise ValueError(f"{op}: unknown likelihood {likelihood!r}; expected one of "
                         f"{', '.join(repr(s) for s in _LIKELIHOODS)}")


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def _check_logvar(logvar, target: tuple, what: str, op: str) -> None:
    """A log-variance: a number, or a float Tensor that broadcasts to ``target``."""
    if isinstance(logvar, Tensor):
        if logvar.dtype.kind != "f":
            raise TypeError(f"{op}: {what} must be floating point, got dtype {logvar.dtype}")
        if not _broadcasts_to(tuple(logvar.shape), tuple(target)):
            raise ValueError(f"{op}: {what} has shape {tuple(logvar.shape)}, which does not "
                             f"broadcast to the data's shape {tuple(target)}")
    else:
        _check_number(logvar, what, op)
        if not math.isfinite(logvar):
            raise ValueError(f"{op}: {what} must be finite, got {logvar!r}")


def _check_decoder(out, x, what: str, op: str) -> Tensor:
    """The decoder's output must have exactly the data's shape; returns x as out's dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: the data x must be a Tensor, got {type(x).__name__}")
    _check_tensor(out, what, op)
    if tuple(out.shape) != tuple(x.shape):
        raise ValueError(f"{op}: {what} has shape {tuple(out.shape)} but the data x has shape "
                         f"{tuple(x.shape)}")
    return x if x.dtype == out.dtype else x.type_as(out)     # e.g. uint8 binarized pixels


def _check_unit_interval(x: Tensor, op: str) -> None:
    # A Bernoulli likelihood of x outside [0, 1] is not a likelihood: its "nats" are
    # meaningless (images scaled to [-1, 1] for a GAN are the usual way to get here).
    lo, hi = float(x.data.min()), float(x.data.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{op}: the data x must lie in [0, 1] for a Bernoulli likelihood "
                         f"(binarized or grey-level pixels), got values in [{lo:.4g}, {hi:.4g}]; "
                         f"data in [-1, 1] maps to [0, 1] by (x + 1) / 2")


def _log_density(d: Tensor, logvar) -> Tensor:
    """Elementwise log N(d; 0, exp(logvar)) = -1/2 (log 2 pi + logvar + d^2 exp(-logvar))."""
    if isinstance(logvar, Tensor):
        return -0.5 * ((_LOG_2PI + logvar) + d * d * exp(-logvar))
    lv = float(logvar)        # a fixed variance: the constants are plain numbers
    return (d * d) * (-0.5 * math.exp(-lv)) - 0.5 * (_LOG_2PI + lv)


def _log_likelihood(x: Tensor, out: Tensor, likelihood: str, decoder_logvar) -> Tensor:
    """log p(x|z), (N,), for checked arguments."""
    if likelihood == "bernoulli":
        return _per_sample(x * out - _sp(out))
    return _per_sample(_log_density(x - out, decoder_logvar))


def _decoder_term(x, decoder_out, likelihood, decoder_logvar, op: str) -> Tensor:
    """Check the arguments of log p(x|z) and compute it, (N,)."""
    _check_likelihood(likelihood, op)
    x = _check_decoder(decoder_out, x, "decoder output", op)
    if likelihood == "bernoulli":
        _check_unit_interval(x, op)
    else:
        _check_logvar(decoder_logvar, tuple(x.shape), "decoder_logvar", op)
    return _log_likelihood(x, decoder_out, likelihood, decoder_logvar)


def reparameterize(mu: Tensor, logvar: Tensor, eps: Tensor | None = None) -> Tensor:
    """A sample of q(z|x) = N(mu, diag exp(logvar)) as a differentiable function of mu and logvar.

    The reparameterization trick (Kingma & Welling 2014, eq. 10)::

        z = mu + exp(logvar / 2) * eps,        eps ~ N(0, I)

    moves the randomness into eps, so ``dz/dmu = 1`` and ``dz/dlogvar = (z - mu) / 2``:
    gradients of E_q f(z) are plain backpropagation through z, with low variance.
    eps is a constant of the graph (drawn once, detached), so the forward and the
    backward pass see the same draw.

    Shapes: mu, logvar (N, ...) equal; eps the same shape, or None to draw it with
    tinygan's seeded generator (``randn_like(mu)``: mu's dtype and device) -> (N, ...).
    """
    op = "reparameterize"
    _check_posterior(mu, logvar, op)
    if eps is None:
        eps = randn_like(mu)
    else:
        if not isinstance(eps, Tensor) or tuple(eps.shape) != tuple(mu.shape):
            got = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
            raise ValueError(f"{op}: eps must be a Tensor of mu's shape {tuple(mu.shape)}, got {got}")
        eps = eps.detach()
    return mu + exp(0.5 * logvar) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in closed form, one value per sample.

    Kingma & Welling 2014, appendix B (there as -KL, with sigma^2 = exp(logvar))::

        KL = 1/2 sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j)

    Each term is >= 0, and 0 exactly where mu_j = 0 and logvar_j = 0.
    Shapes: mu, logvar (N, ...) equal -> (N,), summed over every non-batch dim.
    """
    _check_posterior(mu, logvar, "gaussian_kl")
    return 0.5 * _per_sample(exp(logvar) + mu * mu - 1.0 - logvar)


def log_normal(z: Tensor, mu: Tensor | float | None = None,
               logvar: Tensor | float | None = None) -> Tensor:
    """log N(z; mu, diag exp(logvar)), summed over every non-batch dim::

        log N(z; mu, diag s^2) = -1/2 sum_j (log 2 pi + logvar_j + (z_j - mu_j)^2 exp(-logvar_j))

    Shapes: z (N, ...); mu and logvar None (the standard normal: mean 0, logvar 0), a
    number, or a Tensor that broadcasts to z's shape -> (N,).
    """
    op = "log_normal"
    _check_tensor(z, "z", op)
    d = z
    if mu is not None:
        if isinstance(mu, Tensor):
            if not _broadcasts_to(tuple(mu.shape), tuple(z.shape)):
                raise ValueError(f"{op}: mu has shape {tuple(mu.shape)}, which does not broadcast "
                                 f"to z's shape {tuple(z.shape)}")
        else:
            _check_number(mu, "mu", op)
        d = z - mu
    if logvar is None:
        logvar = 0.0
    _check_logvar(logvar, tuple(z.shape), "logvar", op)
    return _per_sample(_log_density(d, logvar))


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) of a Bernoulli decoder given its logits l, one value per sample::

        log p(x|z) = sum_j x_j log sigmoid(l_j) + (1 - x_j) log(1 - sigmoid(l_j))
                   = sum_j x_j l_j - softplus(l_j)

    (the negative of binary cross-entropy with logits), finite and exact for any logit
    for the reason given at the top of this module.  x in [0, 1]: binarized data (where
    this is a true log-likelihood) or grey levels (the usual relaxation).

    Shapes: logits and x (N, ...) equal -> (N,).
    """
    op = "bernoulli_log_likelihood"
    x = _check_decoder(logits, x, "logits", op)
    _check_unit_interval(x, op)
    return _per_sample(x * logits - _sp(logits))


def gaussian_log_likelihood(mean: Tensor, x: Tensor, logvar: Tensor | float = 0.0) -> Tensor:
    """log p(x|z) of a Gaussian decoder N(mean, diag exp(logvar)), one value per sample::

        log p(x|z) = -1/2 sum_j (log 2 pi + logvar_j + (x_j - mean_j)^2 exp(-logvar_j))

    With a fixed variance (logvar a number) this is a scaled squared error plus a
    constant; a learned logvar (a Tensor) lets the model choose how much
    reconstruction error to expect -- and the value is then a true density in nats.

    Shapes: mean and x (N, ...) equal; logvar a number or a Tensor that broadcasts to
    x's shape (e.g. (1,) one shared variance, (1, C, H, W) one per pixel) -> (N,).
    """
    op = "gaussian_log_likelihood"
    x = _check_decoder(mean, x, "mean", op)
    _check_logvar(logvar, tuple(x.shape), "logvar", op)
    return _per_sample(_log_density(x - mean, logvar))


def _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op: str):
    """(log p(x|z), KL), both (N,), with every argument checked in the name of ``op``."""
    log_px = _decoder_term(x, decoder_out, likelihood, decoder_logvar, op)
    _check_posterior(mu, logvar, op, n=x.shape[0])
    kl = 0.5 * _per_sample(exp(logvar) + mu * mu - 1.0 - logvar)
    return log_px, kl


def elbo(x: Tensor, decoder_out: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli",
         decoder_logvar: Tensor | float = 0.0, beta: float = 1.0) -> Tensor:
    """The evidence lower bound, one value per sample (Kingma & Welling 2014, eq. 3)::

        ELBO(x) = log p(x|z) - beta * KL(q(z|x) || N(0, I)),    z ~ q(z|x)

    a one-sample estimate of ``E_q log p(x|z)`` (decoder_out is the decoder's output at
    z = ``reparameterize(mu, logvar)``) minus the analytic KL.  With beta = 1 it is a
    lower bound on log p(x) in nats; beta > 1 is the beta-VAE objective (Higgins et
    al. 2017, eq. 4), which trades reconstruction for a more factorized code.

    Args:
        x: (N, ...) the data; in [0, 1] for the Bernoulli likelihood.
        decoder_out: (N, ...) x's shape: logits ("bernoulli") or the mean ("gaussian").
        mu, logvar: (N, D...) the encoder's q(z|x).
        likelihood: "bernoulli" or "gaussian".
        decoder_logvar: the Gaussian decoder's log-variance: a number (fixed) or a Tensor
            broadcastable to x (learned); not used by "bernoulli".
        beta: the KL weight, >= 0.
    Returns: (N,).
    """
    op = "elbo"
    beta = _check_number(beta, "beta", op, minimum=0.0)
    log_px, kl = _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op)
    return log_px - kl if beta == 1.0 else log_px - beta * kl


def vae_loss(x: Tensor, decoder_out: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli",
             decoder_logvar: Tensor | float = 0.0, beta: float = 1.0, capacity: float | None = None,
             gamma: float = 1000.0) -> tuple[Tensor, dict]:
    """The loss a VAE minimizes, as a batch mean, and its parts as floats for logging.

    capacity None: the negative (beta-)ELBO, ``mean(-log p(x|z) + beta * KL)``
    (Kingma & Welling 2014, eq. 3; Higgins et al. 2017, eq. 4).

    capacity C (nats): the capacity-annealed objective of Burgess et al. 2018, eq. 8::

        loss = mean(-log p(x|z)) + gamma * |mean(KL) - C|

    which holds the KL near a target C that ``capacity_schedule`` ramps up during
    training, so the code gains information gradually.  gamma takes beta's place
    there: beta is checked but not used.

    Args: as ``elbo``; capacity >= 0 or None; gamma >= 0.
    Returns: (loss, stats): loss a 0-d tensor; stats plain floats
        ``{"loss", "neg_elbo" (the beta = 1 -ELBO, nats, batch mean), "recon"
        (mean -log p(x|z)), "kl" (mean KL)}``.
    """
    op = "vae_loss"
    beta = _check_number(beta, "beta", op, minimum=0.0)
    gamma = _check_number(gamma, "gamma", op, minimum=0.0)
    if capacity is not None:
        capacity = _check_number(capacity, "capacity", op, minimum=0.0)
    log_px, kl = _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op)
    recon = -log_px
    if capacity is None:
        loss = (recon + kl if beta == 1.0 else recon + beta * kl).mean()
    else:
        loss = recon.mean() + gamma * _abs(kl.mean() - capacity)
    r, k = recon.detach().mean().item(), kl.detach().mean().item()
    stats = {"loss": loss.item(), "neg_elbo": r + k, "recon": r, "kl": k}
    return loss, stats


def capacity_schedule(step: int, c_max: float = 25.0, ramp_steps: int = 100_000) -> float:
    """The capacity C at a training step: linear from 0 to c_max over ramp_steps, then held.

    Burgess et al. 2018, Sec. 4 ("C is gradually increased from zero to a value large
    enough to produce good quality reconstructions").  ramp_steps = 0 holds c_max from
    the start.
    """
    op = "capacity_schedule"
    step = _check_number(step, "step", op, minimum=0.0)
    c_max = _check_number(c_max, "c_max", op, minimum=0.0)
    ramp_steps = _check_number(ramp_steps, "ramp_steps", op, minimum=0.0)
    if ramp_steps == 0:
        return c_max
    return c_max * min(step / ramp_steps, 1.0)


def _repeat(t: Tensor, c: int) -> Tensor:
    """(N, ...) -> (c*N, ...): the batch c times over, copy i in rows i*N .. (i+1)*N - 1."""
    if c == 1:
        return t
    return t.unsqueeze(0).expand(c, *t.shape).reshape(c * t.shape[0], *t.shape[1:])


def iwae_bound(encode: Callable, decode: Callable, x: Tensor, k: int, likelihood: str = "bernoulli",
               decoder_logvar: Tensor | float = 0.0, chunk: int | None = None) -> Tensor:
    """The importance-weighted bound L_k on log p(x), one value per sample (Burda et al. 2016, eq. 8)::

        L_k(x) = log 1/k sum_i w_i,   w_i = p(x|z_i) p(z_i) / q(z_i|x),   z_1..z_k ~ q(z|x)
               = logsumexp_i(log w_i) - log k

    L_1 is the ELBO estimated with a one-sample KL (``log q(z|x) - log p(z)`` at the
    drawn z; its mean is ``elbo``'s analytic-KL value), L_k <= L_{k+1} <= log p(x) in
    expectation (Theorem 1), and L_k -> log p(x) as k -> infinity.  The log-weights never
    leave log space, so a bound of -1000 nats does not underflow.

    The k samples are drawn by repeating the batch: sample i of data point n is row
    i*N + n of a (k*N, ...) batch, so one ``decode`` call handles them all.  ``chunk``
    bounds how many of the k samples go through one call (memory); the noise is drawn
    chunk by chunk in the same row order, so on the CPU (whose generator yields the
    same stream however the draws are split) the result does not depend on ``chunk``.

    Evaluate under ``tinygan.no_grad()``; with gradients on, L_k is differentiable in the
    encoder's and decoder's parameters (the IWAE training objective).

    Args:
        encode: ``encode(x) -> (mu, logvar)``, each (N, D...).
        decode: ``decode(z) -> decoder_out`` of x's shape, for z of shape (M, D...).
        x: (N, ...) the data; in [0, 1] for the Bernoulli likelihood.
        k: the number of importance samples, an integer >= 1.
        likelihood, decoder_logvar: as ``elbo``.  A decoder_logvar Tensor with x's batch
            size N (> 1) in its first dim is repeated with x.
        chunk: at most this many of the k samples per ``decode`` call, or None for all k.
    Returns: (N,), in nats.
    """
    op = "iwae_bound"
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{op}: k must be an integer >= 1, got {k!r}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral)
                              or chunk < 1):
        raise ValueError(f"{op}: chunk must be None or an integer >= 1, got {chunk!r}")
    k = int(k)
    chunk = k if chunk is None else min(int(chunk), k)
    _check_likelihood(likelihood, op)
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{op}: the data x must be a batch Tensor (N, ...) with N >= 1, got {got}")
    n = x.shape[0]
    if likelihood == "bernoulli":
        _check_unit_interval(x, op)
    else:
        _check_logvar(decoder_logvar, tuple(x.shape), "decoder_logvar", op)
    per_sample_logvar = (isinstance(decoder_logvar, Tensor) and decoder_logvar.ndim == x.ndim
                         and decoder_logvar.shape[0] == n and n > 1)

    enc = encode(x)
    if not isinstance(enc, (tuple, list)) or len(enc) != 2:
        raise TypeError(f"{op}: encode(x) must return (mu, logvar), got {type(enc).__name__}")
    mu, logvar = enc
    _check_posterior(mu, logvar, op, n=n)

    log_ws = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        mu_c, logvar_c, x_c = _repeat(mu, c), _repeat(logvar, c), _repeat(x, c)
        z = reparameterize(mu_c, logvar_c)          # (c*N, D...): randn_like, in row order
        out = decode(z)
        x_c = _check_decoder(out, x_c, "decoder output", op)
        lv = _repeat(decoder_logvar, c) if per_sample_logvar else decoder_logvar
        # log w = log p(x|z) + log p(z) - log q(z|x), all (c*N,)
        log_w = (_log_likelihood(x_c, out, likelihood, lv)
                 + _per_sample(_log_density(z, 0.0))
                 - _per_sample(_log_density(z - mu_c, logvar_c)))
        log_ws.append(log_w.reshape(c, n))
    log_w = log_ws[0] if len(log_ws) == 1 else cat(log_ws, 0)      # (k, N)
    return logsumexp(log_w, 0) - math.log(k)
