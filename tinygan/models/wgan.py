"""Wasserstein GANs: WGAN (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN") and WGAN-GP
(Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Both train a *critic* f (no sigmoid: its output is a score, not a probability)
to estimate the Wasserstein-1 distance through the Kantorovich-Rubinstein
duality (Arjovsky et al., eq. 2)::

    W(P_r, P_g) = sup_{||f||_L <= 1}  E_{x ~ P_r} f(x) - E_{z} f(G(z))

so the critic minimizes ``E f(G(z)) - E f(x)`` and G minimizes ``-E f(G(z))``
(``losses.wasserstein_d_loss`` / ``wasserstein_g_loss``).  The two papers differ
in how they keep f (roughly) 1-Lipschitz:

* WGAN clips every critic weight to [-c, c] after each critic step (Alg. 1 line 7,
  c = 0.01) -- crude: it limits capacity and, as Gulrajani et al. show, pushes
  the weights to +-c.
* WGAN-GP adds ``lambda * E (||grad f(x_hat)||_2 - 1)^2`` on random interpolates
  x_hat between real and fake samples (eq. 3, lambda = 10;
  ``losses.gradient_penalty``) -- a second derivative that tinygan's
  higher-order autograd handles.

Networks: G is DCGAN's generator (with BatchNorm, as in both papers).  The
critic is DCGAN's D without BatchNorm, the same for both, so the comparison is
clipping versus penalty alone::

    f: x (N, 1, 28, 28) -> Conv2d(1, 64, 4, 2, 1), LeakyReLU(0.2)
       -> Conv2d(64, 128, 4, 2, 1), LeakyReLU(0.2) -> Flatten -> Linear(128*7*7, 1)   (N, 1)

No BatchNorm: a gradient penalty is per sample, and BatchNorm makes each
output depend on the whole batch (Gulrajani et al., Sec. 4, which suggest layer
normalization instead; their MNIST code uses no normalization in the critic, as
here).  Initialization is DCGAN's N(0, 0.02), which after the first clip leaves
most WGAN weights inside [-0.01, 0.01] already.
"""
from __future__ import annotations

from .. import backend, losses, nn
from ..autograd import Tensor, no_grad
from .base import frozen
from .dcgan import DCGAN, discriminator


def critic() -> nn.Sequential:
    """images (N, 1, 28, 28) -> scores (N, 1): DCGAN's D without BatchNorm, no sigmoid."""
    return discriminator(batchnorm=False)


def _difference(r, f):
    """``r - f`` of two 0-d float32 arrays, in float64 on their device: the number the log
    has always shown (the difference of the two values read as Python floats), without
    reading them to the host here."""
    xp = backend.get_array_module(r)
    return xp.asarray(r, dtype=xp.float64) - xp.asarray(f, dtype=xp.float64)


class WGAN(DCGAN):
    """Arjovsky et al. 2017, Algorithm 1: critic loss E f(G(z)) - E f(x) (eq. 3), weight
    clipping to [-0.01, 0.01], n_critic = 5 critic steps per G step, RMSprop with lr 5e-5.

    (The authors' code also runs 100 critic steps for the first 25 G steps and every
    500th; that schedule is not part of Alg. 1 and is left out.)
    """

    name = "wgan"
    clip_value = 0.01
    defaults = dict(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, betas=None, n_critic=5,
                    batch_size=64)

    def __init__(self):
        super().__init__(D=critic())

    def _critic_terms(self, real: Tensor, labels: Tensor | None) -> tuple:
        """Fresh fakes (under no_grad) and the critic's scores of real and fake."""
        self._check_real(real, labels)
        with no_grad():
            fake, _ = self._fakes(real.shape[0], None, real.device)
        return fake, self.D(real), self.D(fake)

    def d_loss(self, real: Tensor, labels: Tensor | None = None) -> tuple:
        """L_D = E f(G(z)) - E f(x)  (Alg. 1 line 5, as a loss to minimize)."""
        _, real_out, fake_out = self._critic_terms(real, labels)
        loss = losses.wasserstein_d_loss(real_out, fake_out)
        r, f = real_out.mean().data, fake_out.mean().data
        return loss, {"d_loss": loss.data, "d_real": r, "d_fake": f, "wasserstein": _difference(r, f)}

    def g_loss(self, n: int, labels: Tensor | None = None) -> tuple:
        """L_G = -E f(G(z))  (Alg. 1 line 10); the critic's weights are constants here."""
        with frozen(self.D):
            fake, _ = self._fakes(n, None, None)
            loss = losses.wasserstein_g_loss(self.D(fake))
        return loss, {"g_loss": loss.data}

    def after_d_step(self) -> None:
        """w <- clip(w, -c, c) for every critic parameter, biases included (Alg. 1 line 7)."""
        c = self.clip_value
        with no_grad():
            for p in self.D.parameters():
                p.data.clip(-c, c, out=p.data)


class WGANGP(WGAN):
    """Gulrajani et al. 2017, Algorithm 1: the critic loss of eq. 3,

        L_D = E f(G(z)) - E f(x) + lambda * E (||grad f(x_hat)||_2 - 1)^2,   lambda = 10,

    no weight clipping, n_critic = 5, Adam with lr 1e-4.

    Adam's betas are (0.5, 0.9), not Alg. 1's defaults (0, 0.9): (0.5, 0.9), with lr 1e-4,
    is what the authors' own MNIST script (gan_mnist.py in igul222/improved_wgan_training)
    uses for both networks, and MNIST is what tinygan trains.  For Alg. 1 verbatim,
    override betas with (0.0, 0.9).  (That script also drops BatchNorm from G in its
    WGAN-GP mode; tinygan keeps DCGAN's G so the families differ only in the critic's
    objective.)
    """

    name = "wgan_gp"
    lambda_gp = 10.0
    defaults = dict(optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), n_critic=5,
                    batch_size=64)

    def d_loss(self, real: Tensor, labels: Tensor | None = None) -> tuple:
        """Eq. 3: the Wasserstein critic loss plus the gradient penalty on interpolates."""
        fake, real_out, fake_out = self._critic_terms(real, labels)
        w_loss = losses.wasserstein_d_loss(real_out, fake_out)
        gp = losses.gradient_penalty(self.D, real, fake, self.lambda_gp)
        loss = w_loss + gp
        r, f = real_out.mean().data, fake_out.mean().data
        return loss, {"d_loss": loss.data, "d_real": r, "d_fake": f, "wasserstein": _difference(r, f),
                      "gp": gp.data}

    def after_d_step(self) -> None:
        """No clipping: the penalty does the Lipschitz constraint's work."""
