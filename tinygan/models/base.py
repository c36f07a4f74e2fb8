"""What every GAN family gives the shared trainer: ``GANFamily``.

A family (gan.py, dcgan.py, cgan.py, infogan.py, wgan.py) is a Module holding a
generator ``G`` and a discriminator (or critic) ``D``, plus the two objectives of
its paper.  The trainer (tinygan/train/gan.py) knows nothing else about it: it
calls ``d_loss`` ``n_critic`` times, then ``g_loss`` once, steps two optimizers
built from ``defaults``, and draws samples with ``sample_noise`` + ``generate``.

Shapes: images are (N, 1, 28, 28) float32 in [-1, 1]; labels (N,) int64.
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor


class GANFamily(nn.Module):
    """Base class: set ``G`` and ``D`` in ``__init__`` and implement the four methods below."""

    name = "gan"
    conditional = False          # True: G and D take class labels (cgan)
    latent_dim = 100
    # Training settings of the paper; the CLI may override lr_g, lr_d, batch_size.
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def sample_noise(self, n: int, device=None) -> tuple:
        """``(z, labels)``: the generator's input for n samples (labels None if unconditional).

        Draws from tinygan's seeded generator, so a seeded run is reproducible.
        """
        raise NotImplementedError

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """``G(z)`` -> images (N, 1, 28, 28) in [-1, 1]."""
        raise NotImplementedError

    def d_loss(self, real: Tensor, labels: Tensor | None) -> tuple:
        """The discriminator's loss on a real batch and fresh fakes: ``(loss, {name: float})``.

        Fakes are made under ``no_grad`` (or detached): this step must not reach G's weights.
        """
        raise NotImplementedError

    def g_loss(self, n: int, labels: Tensor | None) -> tuple:
        """The generator's loss on n fresh fakes: ``(loss, {name: float})``."""
        raise NotImplementedError

    def d_parameters(self) -> list:
        """What the D optimizer updates (InfoGAN adds its Q head's own layers here)."""
        return list(self.D.parameters())

    def g_parameters(self) -> list:
        """What the G optimizer updates."""
        return list(self.G.parameters())

    def after_d_step(self) -> None:
        """Called after every D update (WGAN clips the critic's weights here)."""
