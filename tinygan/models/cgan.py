"""A conditional GAN: the DCGAN networks told which digit to draw (Mirza & Osindero 2014),
with a projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator").

The game is the GAN's, conditioned on the class y (Mirza & Osindero 2014, eq. 2)::

    min_G max_D  E_{x,y} log D(x, y) + E_{z,y} log(1 - D(G(z, y), y))

trained, as everywhere in tinygan, with the cross-entropy for D and the
non-saturating loss for G (Goodfellow et al. 2014, Sec. 3), on logits.

Generator: the class enters as its one-hot vector, concatenated with z (Mirza &
Osindero's "y is fed as an additional input layer")::

    [z (N, 100) ~ N(0, I) | one_hot(y) (N, 10)]
        -> DCGAN's G, its first layer Linear(110, 128*7*7)          -> (N, 1, 28, 28)

Why one-hot and not a learned 100-dim embedding of y: with an N(0, 1) embedding
as large as z, G learned to draw one fixed digit per class and ignore z (every
column of the sample grid the same; FID 418 after 5 epochs), while the one-hot
input gives varied digits of the right class (FID 19, label accuracy 99.4%;
benchmarks/cgan_conditioning.py and benchmarks/README.md have both runs).  The
one-hot's 10 coordinates are a small, fixed part of the input that z dominates,
and G's first layer learns the class vectors itself (its weights for one_hot(y)
*are* a learned embedding, added after the layer instead of concatenated before).

Discriminator: projection (Miyato & Koyama 2018, eq. 3 with one-hot y)::

    D(x, y) = psi(phi(x)) + <embed_D(y), phi(x)>

phi is DCGAN's D body (convolutions to the (N, 128*7*7) features), psi a
Linear(128*7*7, 1), and embed_D an Embedding(10, 128*7*7): the inner product
asks "do these features look like a y?", which the paper shows is the form the
optimal D's log-density ratio takes for a categorical y (Sec. 3).  Projection
was chosen over concatenating the label to D's input because it conditions D
without blurring the class signal through the first convolution (the paper
reports better class fidelity, intra-class FID, than concatenation).  All of D,
embed_D included, and all of G get DCGAN's N(0, 0.02) initialization.

``sample_noise(n)`` gives labels cycling 0, 1, ..., 9, 0, 1, ... so any n
samples are as class-balanced as possible and a sample grid shows every digit.
Optimizer settings are DCGAN's (Adam 2e-4, betas (0.5, 0.999), batch 64).
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor
from ..creation import eye, randn
from ..nn import init
from ..ops.shape import cat
from .base import cycling_labels
from .dcgan import FEATURES, DCGAN, discriminator_body, generator


def one_hot(labels: Tensor, num_classes: int, dtype=None) -> Tensor:
    """labels (N,) int64 -> (N, num_classes) rows of the identity matrix (a constant: no gradient)."""
    return eye(num_classes, dtype=dtype, device=labels.device)[labels]


class ConditionalGenerator(nn.Module):
    """G(z, y): z (N, latent_dim), y (N,) int64 -> images (N, 1, 28, 28) in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.net = generator(latent_dim + num_classes)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        return self.net(cat([z, one_hot(labels, self.num_classes, z.dtype)], dim=1))


class ProjectionDiscriminator(nn.Module):
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>: x (N, 1, 28, 28), y (N,) -> logits (N, 1)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = discriminator_body(batchnorm=True)       # phi
        self.linear = nn.Linear(FEATURES, 1)                 # psi
        self.embed = nn.Embedding(num_classes, FEATURES)     # the projection vectors, one per class

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = self.body(x)
        return self.linear(h) + (self.embed(labels) * h).sum(1, keepdim=True)


class ConditionalGAN(DCGAN):
    """Mirza & Osindero 2014 (eq. 2) with Miyato & Koyama 2018's projection D (eq. 3), on DCGAN's
    networks and losses (Goodfellow et al. 2014, eq. 1 and Sec. 3)."""

    name = "cgan"
    conditional = True
    latent_dim = 100
    num_classes = 10
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def __init__(self):
        super().__init__(ConditionalGenerator(self.latent_dim, self.num_classes),
                         ProjectionDiscriminator(self.num_classes))
        init.normal_(self.D.embed.weight, 0.0, 0.02)       # like psi's weights

    def sample_noise(self, n: int, device=None) -> tuple:
        """z ~ N(0, I) (n, latent_dim) and labels 0, 1, ..., 9, 0, 1, ... (n,) int64."""
        device = self._device(device)
        return randn(n, self.latent_dim, device=device), cycling_labels(n, self.num_classes, device)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G(z, y) -> (N, 1, 28, 28); without labels, y cycles through the classes."""
        if labels is None:
            labels = cycling_labels(z.shape[0], self.num_classes, z.device)
        if tuple(labels.shape) != (z.shape[0],):
            raise ValueError(f"ConditionalGAN.generate: labels must have shape ({z.shape[0]},), "
                             f"got {tuple(labels.shape)}")
        return self.G(z, labels)
