"""The original GAN (Goodfellow et al. 2014, "Generative Adversarial Nets") with MLPs.

The game (eq. 1)::

    min_G max_D  V(D, G) = E_x log D(x) + E_z log(1 - D(G(z)))

D is trained on the cross-entropy of eq. 1 (``losses.nonsaturating_d_loss``);
G on the *non-saturating* loss of Sec. 3, ``-E log D(G(z))``
(``losses.nonsaturating_g_loss``): same fixed point, but gradients that do not
vanish while D still rejects every fake.  Both are computed from logits.

Networks (the multilayer perceptrons common in PyTorch reimplementations; the
paper's D was a maxout network with dropout)::

    G: z (N, 100) ~ N(0, I)
       -> Linear 100->128, LeakyReLU(0.2)                    (no BatchNorm on the first layer)
       -> Linear 128->256,   BatchNorm1d, LeakyReLU(0.2)
       -> Linear 256->512,   BatchNorm1d, LeakyReLU(0.2)
       -> Linear 512->1024,  BatchNorm1d, LeakyReLU(0.2)
       -> Linear 1024->784,  Tanh, reshape                   (N, 1, 28, 28) in [-1, 1]
    D: x (N, 1, 28, 28) -> Flatten
       -> Linear 784->512, LeakyReLU(0.2) -> Linear 512->256, LeakyReLU(0.2)
       -> Linear 256->1                                       (N, 1) logits

G's first layer has no BatchNorm, as in the common MLP recipe (PyTorch-GAN's
gan.py): its input z ~ N(0, I) has a fixed distribution, so the features W z + b
do not drift as training goes on -- the shift BatchNorm corrects in deeper
layers.  BatchNorm uses PyTorch's default eps 1e-5 (that recipe passes 0.8 as
BatchNorm1d's second argument, which is eps, not momentum).  Weights keep
PyTorch's default initialization.  Adam, lr 2e-4, betas (0.5, 0.999), batch 64
(Radford et al.'s settings, which also suit the MLP).
"""
from __future__ import annotations

from .. import losses, nn
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..ops.activation import sigmoid
from .base import GANFamily, frozen


def mlp_generator(latent_dim: int = 100) -> nn.Sequential:
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1] (see the module docstring)."""
    def block(n_in, n_out, batchnorm=True):
        return [nn.Linear(n_in, n_out)] + ([nn.BatchNorm1d(n_out)] if batchnorm else []) + \
            [nn.LeakyReLU(0.2)]
    return nn.Sequential(
        *block(latent_dim, 128, batchnorm=False),
        *block(128, 256), *block(256, 512), *block(512, 1024),
        nn.Linear(1024, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)),
    )


def mlp_discriminator() -> nn.Sequential:
    """images (N, 1, 28, 28) -> logits (N, 1) (see the module docstring)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 256), nn.LeakyReLU(0.2),
        nn.Linear(256, 1),
    )


def _mean_prob(logits: Tensor):
    """E sigmoid(logit): D's mean belief that the batch is real (for the progress bar), a 0-d
    array on the logits' device (not read here: see tinygan/models/base.py)."""
    with no_grad():
        return sigmoid(logits.detach()).mean().data


class GAN(GANFamily):
    """Goodfellow et al. 2014, eq. 1 (D) and Sec. 3 (the non-saturating G loss), with MLPs.

    ``G`` and ``D`` may be given (DCGAN and the conditional GAN pass their own);
    by default they are the MLPs above.  ``d_loss``/``g_loss`` work for any
    ``G``/``D`` pair: a conditional family (``conditional = True``) gets the
    labels passed to ``generate`` and ``D``.
    """

    name = "gan"
    latent_dim = 100
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def __init__(self, G: nn.Module | None = None, D: nn.Module | None = None):
        super().__init__()
        self.G = G if G is not None else mlp_generator(self.latent_dim)
        self.D = D if D is not None else mlp_discriminator()

    def sample_noise(self, n: int, device=None) -> tuple:
        """z ~ N(0, I) of shape (n, latent_dim), and no labels."""
        return randn(n, self.latent_dim, device=self._device(device)), None

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G(z): (N, latent_dim) -> (N, 1, 28, 28) in [-1, 1]."""
        return self.G(z)

    def _fakes(self, n: int, labels: Tensor | None, device) -> tuple:
        """n fresh fakes and the labels they were made for (the given ones, if conditional)."""
        z, noise_labels = self.sample_noise(n, device)
        if labels is None or not self.conditional:
            labels = noise_labels
        return self.generate(z, labels), labels

    def d_loss(self, real: Tensor, labels: Tensor | None = None) -> tuple:
        """L_D = E softplus(-D(x)) + E softplus(D(G(z)))  (eq. 1 as a cross-entropy).

        The fakes are made under ``no_grad``: this loss reaches D only.  A
        conditional model makes its fakes for the real batch's labels.
        """
        self._check_real(real, labels)
        with no_grad():
            fake, fake_labels = self._fakes(real.shape[0], labels, real.device)
        real_logits = self.discriminate(real, labels)
        fake_logits = self.discriminate(fake, fake_labels)
        loss = losses.nonsaturating_d_loss(real_logits, fake_logits)
        return loss, {"d_loss": loss.data, "d_real": _mean_prob(real_logits),
                      "d_fake": _mean_prob(fake_logits)}

    def g_loss(self, n: int, labels: Tensor | None = None) -> tuple:
        """L_G = E softplus(-D(G(z))) = -E log D(G(z))  (Sec. 3, non-saturating).

        D's weights are constants here (``frozen``): the G step updates G only,
        so their gradients would be wasted work.
        """
        with frozen(self.D):
            fake, fake_labels = self._fakes(n, labels, None)
            fake_logits = self.discriminate(fake, fake_labels)
            loss = losses.nonsaturating_g_loss(fake_logits)
        return loss, {"g_loss": loss.data}
