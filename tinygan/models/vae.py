"""Variational autoencoders: ``vae``, ``conv_vae``, ``beta_vae``, ``cvae``.

A VAE (Kingma & Welling 2014, "Auto-Encoding Variational Bayes") is a latent-variable
model p(x, z) = p(x|z) p(z) with the prior p(z) = N(0, I) and a decoder p(x|z), fitted
together with an encoder q(z|x) = N(mu(x), diag exp(logvar(x))) by maximizing the
evidence lower bound (their eq. 3)::

    log p(x) >= ELBO(x) = E_q(z|x) log p(x|z) - KL(q(z|x) || p(z))

The expectation is estimated with one sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)
(the reparameterization trick, eq. 10), so its gradient is plain backpropagation; the KL
of two Gaussians is in closed form (appendix B).  The objectives themselves live in
``tinygan.losses`` (``reparameterize``, ``vae_loss``, ``elbo``, ``iwae_bound``); a family
here is the networks plus the choices of its paper:

=========  ===========  ==================================================================
name       class        paper
=========  ===========  ==================================================================
vae        ``VAE``      Kingma & Welling 2014: MLP 784-400-20 with ReLU (appendix C's
                        architecture, ReLU in place of tanh), Bernoulli decoder on logits
conv_vae   ``ConvVAE``  the same objective with a convolutional encoder and a
                        transposed-convolution decoder (DCGAN-style 28 -> 14 -> 7 -> 14 -> 28)
beta_vae   ``BetaVAE``  Higgins et al. 2017 (beta-VAE, eq. 4: the KL weighted by beta > 1),
                        optionally Burgess et al. 2018's capacity annealing (eq. 8)
cvae       ``CVAE``     Sohn et al. 2015 (conditional VAE, eq. 4): encoder, decoder and a
                        learned prior p(z|y) all see the digit's label; 10 latents, 20 epochs
=========  ===========  ==================================================================

Data.  Images are (N, 1, 28, 28) in [0, 1] (not the GANs' [-1, 1]).  With the default
``likelihood="bernoulli"`` the decoder outputs one logit per pixel and the data are
*dynamically binarized* digits -- a fresh Bernoulli draw per batch (``tinygan.data.binarize``),
as in the likelihood literature (e.g. Burda et al. 2016), so the ELBO is in nats of a
discrete distribution and comparable with published figures.  ``likelihood="gaussian"``
models the grey levels themselves: the decoder gives a mean in [0, 1] (a sigmoid) and the
variance is one learned scalar ``decoder_logvar`` shared by all pixels (a "calibrated
decoder", Rybkin et al. 2021), so the balance between reconstruction and KL is fitted
rather than tuned (it starts at sigma = 0.1); its nats are those of a density and not
comparable with the Bernoulli's.

Sampling: ``sample_noise(n)`` draws z from the prior, ``generate(z)`` gives the decoder's
*mean* (``sigmoid(logits)`` for Bernoulli) mapped to [-1, 1] -- the range every sampler and
metric of tinygan expects.  The shared trainer (tinygan/train/vae.py) makes one Adam step
(lr 1e-3, batch 128) per batch on ``loss``.
"""
from __future__ import annotations

import math
import numbers

from .. import backend, losses, nn
from ..autograd import Tensor
from ..creation import eye, randn, zeros
from ..losses.range_check import check_range
from ..nn import functional as F
from ..ops.shape import cat
from .base import cycling_labels, parameter_device

LIKELIHOODS = ("bernoulli", "gaussian")
HIDDEN = 400                 # the hidden layer of the 784-400-20 recipe (Kingma & Welling 2014, Sec. 5, used 500 units)
PIXELS = 28 * 28
DECODER_LOGVAR = 2 * math.log(0.1)  # the Gaussian decoder's initial log-variance: sigma = 0.1


def _check_option(value, what: str, where: str, *, minimum: float, integer: bool = False):
    """A number >= minimum (an int if ``integer``), or a ValueError naming the family and value."""
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok or not value >= minimum:            # also refuses nan
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{where}: {what} must be {kind} >= {minimum:g}, got {value!r}")
    return int(value) if integer else float(value)


class VAEFamily(nn.Module):
    """What every VAE gives the shared trainer (tinygan/train/vae.py).

    Subclasses set ``encoder`` and ``decoder`` modules:

    - ``encoder``: x (N, 1, 28, 28) [, labels] -> (N, 2 * latent_dim): mu and logvar, side by side;
    - ``decoder``: z (N, latent_dim) [, labels] -> (N, 1, 28, 28): logits (Bernoulli) or
      pre-sigmoid means (Gaussian).

    The trainer calls ``loss(x, labels, step)`` once per batch and steps one optimizer over
    ``parameters()``; pictures and evaluation use ``encode``, ``decode``, ``reconstruct``,
    ``neg_elbo``, ``iwae``, ``sample_noise`` and ``generate``.

    Args (every family):
        latent_dim: z's size (2 gives the latent scatter plot).
        likelihood: ``"bernoulli"`` (binarized data, logits out) or ``"gaussian"`` (grey levels,
            a sigmoid mean and a learned shared variance).
        beta: the KL weight (Higgins et al. 2017, eq. 4), >= 0; 1 is the ELBO.
        capacity: None, or C_max in nats: train on ``recon + gamma |KL - C|`` with C ramped
            linearly from 0 to C_max over ``capacity_steps`` steps (Burgess et al. 2018, eq. 8).
        capacity_steps: the ramp's length in optimizer steps, >= 0.
        gamma: the weight of ``|KL - C|``, >= 0.
        encoder, decoder: networks to use instead of the family's own.
    """

    kind = "vae"                 # what the trainer dispatches on (GANFamily has no kind: "gan")
    sampler = ""                 # the whole model draws samples (an --ema averages it; export ships it)
    name = "vae"
    conditional = False          # True: encoder and decoder see the class labels (cvae)
    num_classes = 10
    image_shape = (1, 28, 28)
    latent_dim = 20
    beta = 1.0
    # Kingma & Welling used Adagrad; Adam (lr 1e-3, batch 128) is today's usual setting and
    # the one of the PyTorch VAE example.  ``epochs``: what ``tinygan train`` runs by default.
    defaults = dict(optimizer="adam", lr=1e-3, betas=(0.9, 0.999), batch_size=128, epochs=10)

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int | None = None,
                 likelihood: str = "bernoulli", beta: float | None = None,
                 capacity: float | None = None, capacity_steps: int = 5000, gamma: float = 1000.0):
        super().__init__()
        where = type(self).__name__
        self.latent_dim = _check_option(latent_dim if latent_dim is not None else type(self).latent_dim,
                                        "latent_dim", where, minimum=1, integer=True)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"{where}: unknown likelihood {likelihood!r}; expected one of "
                             f"{', '.join(map(repr, LIKELIHOODS))}")
        self.likelihood = likelihood
        self.beta = _check_option(beta if beta is not None else type(self).beta, "beta", where, minimum=0)
        self.capacity = None if capacity is None else _check_option(capacity, "capacity", where, minimum=0)
        self.capacity_steps = _check_option(capacity_steps, "capacity_steps", where, minimum=0,
                                            integer=True)
        self.gamma = _check_option(gamma, "gamma", where, minimum=0)
        self.encoder = encoder
        self.decoder = decoder
        # The Gaussian decoder's log-variance: one learned scalar for every pixel.  It starts at
        # log(0.1^2), about the squared error of a good reconstruction of MNIST's grey levels:
        # Adam moves it by about lr = 1e-3 a step, so from 0 (sigma = 1, where the KL outweighs
        # the reconstruction and the code collapses) it would take thousands of steps to get there.
        self.decoder_logvar = nn.Parameter(zeros(1) + DECODER_LOGVAR) if likelihood == "gaussian" else None

    # -- what the run's config.json records to rebuild the family ------------------------------
    def options(self) -> dict:
        """The constructor's arguments that ``build_family(name, **options)`` needs."""
        return dict(latent_dim=self.latent_dim, likelihood=self.likelihood, beta=self.beta,
                    capacity=self.capacity, capacity_steps=self.capacity_steps, gamma=self.gamma)

    # -- the networks --------------------------------------------------------------------------
    def encode(self, x: Tensor, labels: Tensor | None = None) -> tuple:
        """q(z|x): ``(mu, logvar)``, each (N, latent_dim), for x (N, 1, 28, 28) in [0, 1]."""
        h = self.encoder(x, self._one_hot(labels, x)) if self.conditional else self.encoder(x)
        n, d = x.shape[0], self.latent_dim
        if tuple(h.shape) != (n, 2 * d):
            raise ValueError(f"{type(self).__name__}.encode: the encoder's output has shape "
                             f"{tuple(h.shape)}, expected ({n}, {2 * d}): mu and logvar of the "
                             f"{d} latents side by side")
        mu, logvar = h.chunk(2, 1)
        return mu, logvar

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's output for z (N, latent_dim): logits (Bernoulli) or the mean in [0, 1]
        (Gaussian), (N, 1, 28, 28) -- the ``decoder_out`` of ``tinygan.losses.elbo``."""
        h = self.decoder(z, self._one_hot(labels, z)) if self.conditional else self.decoder(z)
        expected = (z.shape[0], *self.image_shape)
        if tuple(h.shape) != expected:
            raise ValueError(f"{type(self).__name__}.decode: the decoder's output has shape "
                             f"{tuple(h.shape)} but the data have shape {expected}: a "
                             f"{self.likelihood} decoder must give one value per pixel")
        return h.sigmoid() if self.likelihood == "gaussian" else h

    def mean(self, decoder_out: Tensor) -> Tensor:
        """E[x|z] in [0, 1] from the decoder's output: sigmoid(logits), or the Gaussian mean."""
        return decoder_out.sigmoid() if self.likelihood == "bernoulli" else decoder_out

    def forward(self, x: Tensor, labels: Tensor | None = None, eps: Tensor | None = None) -> tuple:
        """``(decoder_out, mu, logvar)`` for one reparameterized sample z ~ q(z|x) (eq. 10);
        eps (N, latent_dim) fixes the noise, else it comes from tinygan's seeded generator."""
        mu, logvar = self.encode(x, labels)
        z = losses.reparameterize(mu, logvar, eps)
        return self.decode(z, labels), mu, logvar

    # -- the objective -------------------------------------------------------------------------
    def loss(self, x: Tensor, labels: Tensor | None = None, step: int = 0) -> tuple:
        """The training loss on a batch, ``(loss 0-d, {"loss", "neg_elbo", "recon", "kl"})``.

        ``mean(-log p(x|z) + beta KL)``, or with a capacity ``mean(-log p(x|z)) + gamma |KL - C|``
        where C = ``capacity_schedule(step, capacity, capacity_steps)`` (logged as
        ``"capacity"``).  ``neg_elbo`` is always the beta = 1 bound, in nats per image.
        """
        self._check_batch(x, labels, "loss")
        out, mu, logvar = self(x, labels)
        c = None if self.capacity is None else \
            losses.capacity_schedule(step, self.capacity, self.capacity_steps)
        loss, stats = losses.vae_loss(x, out, mu, logvar, likelihood=self.likelihood,
                                      decoder_logvar=self._decoder_logvar(), beta=self.beta,
                                      capacity=c, gamma=self.gamma)
        if c is not None:
            stats["capacity"] = c
        return loss, stats

    def neg_elbo(self, x: Tensor, labels: Tensor | None = None, eps: Tensor | None = None) -> Tensor:
        """-ELBO(x) per image, (N,), in nats, with beta = 1 whatever the family's beta (eq. 3)."""
        self._check_batch(x, labels, "neg_elbo")
        out, mu, logvar = self(x, labels, eps)
        return -losses.elbo(x, out, mu, logvar, likelihood=self.likelihood,
                            decoder_logvar=self._decoder_logvar())

    def iwae(self, x: Tensor, labels: Tensor | None = None, k: int = 100,
             chunk: int | None = None) -> Tensor:
        """The importance-weighted bound L_k(x) (Burda et al. 2016, eq. 8), (N,), in nats:
        -L_k is an upper bound on -log p(x) that tightens as k grows.  Run it under no_grad."""
        self._check_batch(x, labels, "iwae")
        n = x.shape[0]

        def decode(z):                        # z: (c*N, D), row i*N + m belongs to x[m]
            lab = labels
            if labels is not None and z.shape[0] != n:
                xp = backend.get_array_module(labels.data)
                lab = Tensor(xp.concatenate([labels.data] * (z.shape[0] // n)))
            return self.decode(z, lab)

        return losses.iwae_bound(lambda v: self.encode(v, labels), decode, x, k,
                                 likelihood=self.likelihood, decoder_logvar=self._decoder_logvar(),
                                 chunk=chunk)

    # -- sampling --------------------------------------------------------------------------------
    def sample_noise(self, n: int, device=None) -> tuple:
        """``(z, labels)``: z ~ p(z) = N(0, I) (n, latent_dim); labels cycling 0..9 for cvae, else None."""
        device = self._device(device)
        z = randn(n, self.latent_dim, device=device)
        return z, (cycling_labels(n, self.num_classes, device) if self.conditional else None)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's mean at z, mapped to [-1, 1]: images (N, 1, 28, 28)."""
        if self.conditional and labels is None:
            labels = cycling_labels(z.shape[0], self.num_classes, z.device)
        return self.mean(self.decode(z, labels)) * 2.0 - 1.0

    def reconstruct(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder's mean at the posterior mean mu(x): (N, 1, 28, 28) in [0, 1]."""
        mu, _ = self.encode(x, labels)
        return self.mean(self.decode(mu, labels))

    # -- helpers -----------------------------------------------------------------------------------
    def _decoder_logvar(self):
        return self.decoder_logvar if self.decoder_logvar is not None else 0.0

    def _one_hot(self, labels, like: Tensor):
        """(N,) int labels -> (N, num_classes) one-hot rows; (N, num_classes) floats (a mix of
        classes, for interpolations) pass through.  None for an unconditional family."""
        if not self.conditional:
            return None
        where = f"{type(self).__name__}"
        n = like.shape[0]
        if labels is None:
            raise ValueError(f"{where}: {self.name} is conditional: pass the images' labels")
        if not isinstance(labels, Tensor):
            raise ValueError(f"{where}: labels must be a Tensor of shape ({n},), got {type(labels).__name__}")
        if labels.ndim == 2 and labels.dtype.kind == "f" and tuple(labels.shape) == (n, self.num_classes):
            return labels.type_as(like)
        if tuple(labels.shape) != (n,) or labels.dtype.kind not in "iu":
            raise ValueError(f"{where}: labels must be int64 of shape ({n},), got {labels.dtype} "
                             f"{tuple(labels.shape)}")
        return F.embedding(labels, eye(self.num_classes, dtype=like.dtype, device=like.device))

    def _check_batch(self, x, labels, op: str) -> None:
        """A clear error for a batch that is not (N, 1, 28, 28) in [0, 1]."""
        where = f"{type(self).__name__}.{op}"
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] == 0 \
                or tuple(x.shape[1:]) != self.image_shape:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            expected = ", ".join(map(str, self.image_shape))
            raise ValueError(f"{where}: expected images of shape (N, {expected}) with N >= 1, got {got}")
        # Read now on the CPU; on a GPU in a training step at the loop's next read point.
        check_range(x, 0.0, 1.0, lambda lo, hi: (
            f"{where}: a VAE models pixels in [0, 1], got values in [{lo:.4g}, "
            f"{hi:.4g}] (images in [-1, 1] map to [0, 1] by (x + 1) / 2)"))
        if self.conditional and labels is None:
            raise ValueError(f"{where}: {self.name} is conditional: pass the images' labels")

    def _device(self, device=None):
        return parameter_device(self, device)


# ----------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------
def mlp_encoder(latent_dim: int, extra: int = 0) -> nn.Sequential:
    """x (N, 1, 28, 28) -> Flatten -> Linear(784 [+ extra], 400) -> ReLU -> Linear(400, 2 * latent_dim)."""
    return nn.Sequential(nn.Linear(PIXELS + extra, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * latent_dim))


def mlp_decoder(latent_dim: int, extra: int = 0) -> nn.Sequential:
    """z (N, latent_dim [+ extra]) -> Linear(., 400) -> ReLU -> Linear(400, 784) -> (N, 1, 28, 28)."""
    return nn.Sequential(nn.Linear(latent_dim + extra, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS),
                         nn.Unflatten(1, (1, 28, 28)))


class VAE(VAEFamily):
    """Kingma & Welling 2014 (eq. 3 and 10, appendix B's KL): an MLP 784-400-20 with ReLU,
    Bernoulli decoder on logits, z ~ N(0, I) in 20 dimensions.

    Encoder: Flatten -> Linear(784, 400) -> ReLU -> Linear(400, 2 * 20) = (mu, logvar);
    decoder: Linear(20, 400) -> ReLU -> Linear(400, 784) -> (N, 1, 28, 28) logits.
    (The paper's appendix C used tanh; ReLU is the PyTorch example's choice, and tinygan's.)
    """

    name = "vae"

    def __init__(self, latent_dim: int | None = None, likelihood: str = "bernoulli", **kwargs):
        d = latent_dim if latent_dim is not None else type(self).latent_dim
        enc, dec = kwargs.pop("encoder", None), kwargs.pop("decoder", None)
        ok = isinstance(d, numbers.Integral) and d >= 1          # else the base class says why
        super().__init__(
            enc if enc is not None else (nn.Sequential(nn.Flatten(), *mlp_encoder(d)) if ok else None),
            dec if dec is not None else (mlp_decoder(d) if ok else None),
            latent_dim=d, likelihood=likelihood, **kwargs)


class ConvVAE(VAEFamily):
    """Kingma & Welling 2014's objective (eq. 3, 10) with a convolutional encoder and a
    transposed-convolution decoder (28 -> 14 -> 7 -> 14 -> 28), Bernoulli decoder on logits.

    Encoder: Conv2d(1, 32, 4, 2, 1) (N, 32, 14, 14) -> ReLU -> Conv2d(32, 64, 4, 2, 1)
    (N, 64, 7, 7) -> ReLU -> Flatten -> Linear(64*7*7, 2 * 20) = (mu, logvar).
    Decoder: Linear(20, 64*7*7) -> ReLU -> (N, 64, 7, 7) -> ConvTranspose2d(64, 32, 4, 2, 1)
    (N, 32, 14, 14) -> ReLU -> ConvTranspose2d(32, 1, 4, 2, 1) (N, 1, 28, 28) logits.

    Strided convolutions down and transposed convolutions up, as in DCGAN (Radford et al.
    2016), without BatchNorm (a per-sample bound must not depend on the rest of the batch).
    Small on purpose: it trains on a laptop CPU.
    """

    name = "conv_vae"

    def __init__(self, latent_dim: int | None = None, likelihood: str = "bernoulli", **kwargs):
        d = latent_dim if latent_dim is not None else type(self).latent_dim
        enc, dec = kwargs.pop("encoder", None), kwargs.pop("decoder", None)
        ok = isinstance(d, numbers.Integral) and d >= 1
        if ok and enc is None:
            enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * d))
        if ok and dec is None:
            dec = nn.Sequential(nn.Linear(d, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                                nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                                nn.ConvTranspose2d(32, 1, 4, 2, 1))
        super().__init__(enc, dec, latent_dim=d, likelihood=likelihood, **kwargs)


class BetaVAE(VAE):
    """Higgins et al. 2017 (beta-VAE, eq. 4): the VAE's MLP with the KL weighted by beta = 4;
    Burgess et al. 2018's capacity annealing (eq. 8) with ``capacity``.

    The objective is ``-E log p(x|z) + beta KL(q(z|x) || p(z))``: beta > 1 presses q(z|x)
    towards the factorized prior, so fewer latents carry information and those that do tend
    to change one factor of the digit each (the traversals picture shows this).  ``capacity=C_max`` switches to Burgess et al. 2018
    ("Understanding disentangling in beta-VAE", eq. 8): ``-E log p(x|z) + gamma |KL - C|``
    with C growing linearly from 0 to C_max nats over ``capacity_steps`` steps (Sec. 4), so
    information enters the code gradually.  The same network as ``vae``, so the two differ
    only in the objective.
    """

    name = "beta_vae"
    beta = 4.0
    traversals = True            # the trainer draws traversals.png for this family


class CVAE(VAEFamily):
    """Sohn et al. 2015 (eq. 4): a conditional VAE whose encoder, decoder and prior all see the
    digit's label (MLP 784-400-10 with a one-hot label at each input, a learned prior per digit).

    "Learning Structured Output Representation using Deep Conditional Generative Models",
    eq. 4, with their conditioning input being here the label y and their output the image x::

        log p(x|y) >= E_q(z|x,y) log p(x|z,y) - KL(q(z|x,y) || p(z|y))

    Encoder: [Flatten(x) | one_hot(y)] (N, 794) -> Linear(794, 400) -> ReLU -> Linear(400, 2*10)
    = q(z|x,y); decoder: [z | one_hot(y)] (N, 20) -> Linear(20, 400) -> ReLU -> Linear(400, 784)
    logits (10 latents by default, see ``latent_dim`` below); prior: p(z|y) = N(m_y, diag exp(l_y)), one learned mean and log-variance per digit
    (Sohn et al.'s "prior network" p(z|x), Sec. 4, reduced to a table since y is a class),
    starting at N(0, I).  Why learn it: with a fixed N(0, I) the encoder also codes the digit
    in z (it costs it only about log 10 nats), so z drawn from N(0, I) often points at another
    digit than the label asks for; a prior per digit draws z from that digit's own region.

    The trainer, the IWAE bound and the samplers all assume the prior N(0, I), so the latent
    the family shows them is the standardized ``u = (z - m_y) / exp(l_y / 2)``:  ``encode``
    gives q(u|x,y) (mean ``(mu - m_y) exp(-l_y/2)``, log-variance ``logvar - l_y``),
    ``decode(u, y)`` decodes z = m_y + exp(l_y / 2) u, and ``sample_noise`` draws u ~ N(0, I).
    The map is affine and the same for q and p, so KL(q(u) || N(0, I)) = KL(q(z) || p(z|y))
    and the IWAE weights are unchanged: ``tinygan.losses`` computes eq. 4 exactly.
    """

    name = "cvae"
    conditional = True
    # Fewer latents than the VAE's 20: the label already says which digit, z codes only the
    # style, and a smaller code leaves fewer regions of N(0, I) that no training digit maps
    # to (where prior samples decode to no clear digit).  Measured with the frozen classifier,
    # 2,000 prior samples: label accuracy 86% (20 latents) vs 92% (10) after 10 epochs; 94%
    # (10 latents) after 15 -- hence 20 epochs by default (95.0% on 10,000 samples with
    # ``tinygan eval``, seed 0; -ELBO 99.3 nats of log p(x|y)).
    latent_dim = 10
    defaults = dict(VAEFamily.defaults, epochs=20)

    def __init__(self, latent_dim: int | None = None, likelihood: str = "bernoulli", **kwargs):
        d = latent_dim if latent_dim is not None else type(self).latent_dim
        enc, dec = kwargs.pop("encoder", None), kwargs.pop("decoder", None)
        ok = isinstance(d, numbers.Integral) and d >= 1
        k = self.num_classes
        super().__init__(enc if enc is not None else (LabelledInput(mlp_encoder(d, k), flatten=True) if ok else None),
                         dec if dec is not None else (LabelledInput(mlp_decoder(d, k)) if ok else None),
                         latent_dim=d, likelihood=likelihood, **kwargs)
        # p(z|y): row y holds [m_y | l_y]; zeros: N(0, I) for every digit at the start.
        self.prior = nn.Parameter(zeros(k, 2 * self.latent_dim))

    def prior_of(self, labels: Tensor, like: Tensor) -> tuple:
        """``(m_y, l_y)`` of p(z|y) = N(m_y, diag exp(l_y)), each (N, latent_dim); labels (N,)
        int, or (N, 10) class weights (a mix of digits' priors, for interpolations)."""
        return (self._one_hot(labels, like) @ self.prior).chunk(2, 1)

    def encode(self, x: Tensor, labels: Tensor | None = None) -> tuple:
        """q(u|x,y) in the prior's standardized coordinates: ``(mean, logvar)``, (N, latent_dim)."""
        mu, logvar = super().encode(x, labels)                 # q(z|x,y)
        m, lp = self.prior_of(labels, x)
        return (mu - m) * (lp * -0.5).exp(), logvar - lp

    def decode(self, u: Tensor, labels: Tensor | None = None) -> Tensor:
        """The decoder at z = m_y + exp(l_y / 2) u: logits (N, 1, 28, 28)."""
        if labels is None:
            raise ValueError(f"{type(self).__name__}.decode: cvae is conditional: pass the labels")
        m, lp = self.prior_of(labels, u)
        return super().decode(m + (lp * 0.5).exp() * u, labels)


class LabelledInput(nn.Module):
    """``net([flatten(x) | one_hot])``: a network fed its input with the label's one-hot row
    concatenated (Sohn et al. 2015's conditioning, Sec. 4)."""

    def __init__(self, net: nn.Module, flatten: bool = False):
        super().__init__()
        self.net = net
        self.flatten = flatten

    def forward(self, x: Tensor, one_hot: Tensor) -> Tensor:
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        return self.net(cat([x, one_hot], dim=1))



__all__ = ["VAEFamily", "VAE", "ConvVAE", "BetaVAE", "CVAE", "LabelledInput",
           "LIKELIHOODS", "mlp_encoder", "mlp_decoder"]
