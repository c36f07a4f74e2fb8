"""The VAE objectives: the ELBO and its parts, beta and capacity weighting, the IWAE bound.

A VAE's encoder gives ``q(z|x) = N(mu, diag exp(logvar))``, its decoder
``p(x|z)``, the prior is ``p(z) = N(0, I)``.  Everything here is per sample:
shape ``(N,)``, summed over every non-batch dimension, in nats.

    ELBO(x)   = E_q log p(x|z) - KL(q(z|x) || p(z))  <=  log p(x)   (Kingma & Welling 2014, eq. 3)
    z         = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)          (the reparameterization, eq. 10)
    KL        = 1/2 sum(exp(logvar) + mu^2 - 1 - logvar)            (analytic, appendix B)

``log p(x|z)`` is ``bernoulli_log_likelihood`` on the decoder's logits (binarized
data; ``x * l - softplus(l)``, the stable softplus of gan.py) or
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
from typing import Callable

from .. import backend
from ..autograd import Tensor
from ..creation import randn_like
from ..ops.math import abs as _abs, exp
from ..ops.reduce import logsumexp
from ..ops.shape import cat
from .checks import (broadcasts_to, check_batch, check_count, check_decoder, check_likelihood,
                     check_logvar, check_number, check_posterior, check_shape, check_unit_interval,
                     describe)
from .gan import _sp        # softplus without a linear shortcut: exact for any logit

_LOG_2PI = math.log(2.0 * math.pi)


def _per_sample(t: Tensor) -> Tensor:
    """(N, ...) -> (N,): the sum over every non-batch dim (an (N,) tensor passes through)."""
    return t.reshape(t.shape[0], -1).sum(1)


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
    check_likelihood(likelihood, op)
    x = check_decoder(decoder_out, x, "decoder output", op)
    if likelihood == "bernoulli":
        check_unit_interval(x, op)
    else:
        check_logvar(decoder_logvar, tuple(x.shape), "decoder_logvar", op)
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
    check_posterior(mu, logvar, op)
    if eps is None:
        eps = randn_like(mu)
    else:
        check_shape(eps, (tuple(mu.shape),), "eps", op, f"mu's shape {tuple(mu.shape)}")
        eps = eps.detach()
    return mu + exp(0.5 * logvar) * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in closed form, one value per sample.

    Kingma & Welling 2014, appendix B (there as -KL, with sigma^2 = exp(logvar))::

        KL = 1/2 sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j)

    Each term is >= 0, and 0 exactly where mu_j = 0 and logvar_j = 0.
    Shapes: mu, logvar (N, ...) equal -> (N,), summed over every non-batch dim.
    """
    check_posterior(mu, logvar, "gaussian_kl")
    return 0.5 * _per_sample(exp(logvar) + mu * mu - 1.0 - logvar)


def log_normal(z: Tensor, mu: Tensor | float | None = None,
               logvar: Tensor | float | None = None) -> Tensor:
    """log N(z; mu, diag exp(logvar)), summed over every non-batch dim::

        log N(z; mu, diag s^2) = -1/2 sum_j (log 2 pi + logvar_j + (z_j - mu_j)^2 exp(-logvar_j))

    Shapes: z (N, ...); mu and logvar None (the standard normal: mean 0, logvar 0), a
    number, or a Tensor that broadcasts to z's shape -> (N,).
    """
    op = "log_normal"
    check_batch(z, "z", op)
    d = z
    if mu is not None:
        if isinstance(mu, Tensor):
            if not broadcasts_to(tuple(mu.shape), tuple(z.shape)):
                raise ValueError(f"{op}: mu has shape {tuple(mu.shape)}, which does not broadcast "
                                 f"to z's shape {tuple(z.shape)}")
        else:
            check_number(mu, "mu", op)
        d = z - mu
    if logvar is None:
        logvar = 0.0
    check_logvar(logvar, tuple(z.shape), "logvar", op)
    return _per_sample(_log_density(d, logvar))


def bernoulli_log_likelihood(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) of a Bernoulli decoder given its logits l, one value per sample::

        log p(x|z) = sum_j x_j log sigmoid(l_j) + (1 - x_j) log(1 - sigmoid(l_j))
                   = sum_j x_j l_j - softplus(l_j)

    (the negative of binary cross-entropy with logits), finite and exact for any logit
    for the reason given in losses/gan.py.  x in [0, 1]: binarized data (where
    this is a true log-likelihood) or grey levels (the usual relaxation).

    Shapes: logits and x (N, ...) equal -> (N,).
    """
    op = "bernoulli_log_likelihood"
    x = check_decoder(logits, x, "logits", op)
    check_unit_interval(x, op)
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
    x = check_decoder(mean, x, "mean", op)
    check_logvar(logvar, tuple(x.shape), "logvar", op)
    return _per_sample(_log_density(x - mean, logvar))


def _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op: str):
    """(log p(x|z), KL), both (N,), with every argument checked in the name of ``op``."""
    log_px = _decoder_term(x, decoder_out, likelihood, decoder_logvar, op)
    check_posterior(mu, logvar, op, n=x.shape[0])
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
    beta = check_number(beta, "beta", op, minimum=0.0)
    log_px, kl = _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op)
    return log_px - kl if beta == 1.0 else log_px - beta * kl


def vae_loss(x: Tensor, decoder_out: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli",
             decoder_logvar: Tensor | float = 0.0, beta: float = 1.0, capacity: float | None = None,
             gamma: float = 1000.0) -> tuple[Tensor, dict]:
    """The loss a VAE minimizes, as a batch mean, and its parts for logging.

    capacity None: the negative (beta-)ELBO, ``mean(-log p(x|z) + beta * KL)``
    (Kingma & Welling 2014, eq. 3; Higgins et al. 2017, eq. 4).

    capacity C (nats): the capacity-annealed objective of Burgess et al. 2018, eq. 8::

        loss = mean(-log p(x|z)) + gamma * |mean(KL) - C|

    which holds the KL near a target C that ``capacity_schedule`` ramps up during
    training, so the code gains information gradually.  gamma takes beta's place
    there: beta is checked but not used.

    Args: as ``elbo``; capacity >= 0 or None; gamma >= 0.
    Returns: (loss, stats): loss a 0-d tensor; stats 0-d arrays on x's device (``float(v)``
        reads one) ``{"loss", "neg_elbo" (the beta = 1 -ELBO, nats, batch mean), "recon"
        (mean -log p(x|z)), "kl" (mean KL)}``.
    """
    op = "vae_loss"
    beta = check_number(beta, "beta", op, minimum=0.0)
    gamma = check_number(gamma, "gamma", op, minimum=0.0)
    if capacity is not None:
        capacity = check_number(capacity, "capacity", op, minimum=0.0)
    log_px, kl = _elbo_terms(x, decoder_out, mu, logvar, likelihood, decoder_logvar, op)
    recon = -log_px
    if capacity is None:
        loss = (recon + kl if beta == 1.0 else recon + beta * kl).mean()
    else:
        loss = recon.mean() + gamma * _abs(kl.mean() - capacity)
    # The logged values stay on the device (0-d arrays; on a GPU a read here would wait for
    # it): the training loop reads them in bulk (tinygan/train/loss_buffer.py).  neg_elbo is
    # summed in float64, the sum of the two parts read as Python floats.
    r, k = recon.detach().mean().data, kl.detach().mean().data
    xp = backend.get_array_module(r)
    stats = {"loss": loss.data, "neg_elbo": xp.asarray(r, dtype=xp.float64) + xp.asarray(k, dtype=xp.float64),
             "recon": r, "kl": k}
    return loss, stats


def capacity_schedule(step: int, c_max: float = 25.0, ramp_steps: int = 100_000) -> float:
    """The capacity C at a training step: linear from 0 to c_max over ramp_steps, then held.

    Burgess et al. 2018, Sec. 4 ("C is gradually increased from zero to a value large
    enough to produce good quality reconstructions").  ramp_steps = 0 holds c_max from
    the start.
    """
    op = "capacity_schedule"
    step = check_number(step, "step", op, minimum=0.0)
    c_max = check_number(c_max, "c_max", op, minimum=0.0)
    ramp_steps = check_number(ramp_steps, "ramp_steps", op, minimum=0.0)
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
    k = check_count(k, "k", op)
    chunk = check_count(chunk, "chunk", op, optional=True)
    chunk = k if chunk is None else min(chunk, k)
    check_likelihood(likelihood, op)
    if not isinstance(x, Tensor) or x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{op}: the data x must be a batch Tensor (N, ...) with N >= 1, "
                         f"got {describe(x)}")
    n = x.shape[0]
    if likelihood == "bernoulli":
        check_unit_interval(x, op)
    else:
        check_logvar(decoder_logvar, tuple(x.shape), "decoder_logvar", op)
    per_sample_logvar = (isinstance(decoder_logvar, Tensor) and decoder_logvar.ndim == x.ndim
                         and decoder_logvar.shape[0] == n and n > 1)

    enc = encode(x)
    if not isinstance(enc, (tuple, list)) or len(enc) != 2:
        raise TypeError(f"{op}: encode(x) must return (mu, logvar), got {type(enc).__name__}")
    mu, logvar = enc
    check_posterior(mu, logvar, op, n=n)

    log_ws = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        mu_c, logvar_c, x_c = _repeat(mu, c), _repeat(logvar, c), _repeat(x, c)
        z = reparameterize(mu_c, logvar_c)          # (c*N, D...): randn_like, in row order
        out = decode(z)
        x_c = check_decoder(out, x_c, "decoder output", op)
        lv = _repeat(decoder_logvar, c) if per_sample_logvar else decoder_logvar
        # log w = log p(x|z) + log p(z) - log q(z|x), all (c*N,)
        log_w = (_log_likelihood(x_c, out, likelihood, lv)
                 + _per_sample(_log_density(z, 0.0))
                 - _per_sample(_log_density(z - mu_c, logvar_c)))
        log_ws.append(log_w.reshape(c, n))
    log_w = log_ws[0] if len(log_ws) == 1 else cat(log_ws, 0)      # (k, N)
    return logsumexp(log_w, 0) - math.log(k)
