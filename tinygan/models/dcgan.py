"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks"), sized for 28x28 digits.

The objective is the GAN's (Goodfellow et al. 2014, eq. 1 for D, the
non-saturating loss of Sec. 3 for G; see gan.py).  What DCGAN adds is the
architecture guidelines of its Sec. 3 -- strided convolutions instead of
pooling, transposed convolutions to upsample, BatchNorm in both networks but
not on G's output or D's input, ReLU in G with tanh out, LeakyReLU(0.2) in D --
and the training details of its Sec. 4: weights from N(0, 0.02), Adam with lr
2e-4 and beta1 0.5.  Exactly this network::

    G: z (N, 100) ~ N(0, I)
       -> Linear(100, 128*7*7) -> reshape (N, 128, 7, 7) -> BatchNorm2d(128) -> ReLU
       -> ConvTranspose2d(128, 64, 4, 2, 1)   (N, 64, 14, 14) -> BatchNorm2d(64) -> ReLU
       -> ConvTranspose2d(64, 1, 4, 2, 1)     (N, 1, 28, 28)  -> Tanh
    D: x (N, 1, 28, 28)
       -> Conv2d(1, 64, 4, 2, 1)              (N, 64, 14, 14) -> LeakyReLU(0.2)
       -> Conv2d(64, 128, 4, 2, 1)            (N, 128, 7, 7)  -> BatchNorm2d(128) -> LeakyReLU(0.2)
       -> Flatten -> Linear(128*7*7, 1)       (N, 1) logits

Initialization (Sec. 4): every Conv, ConvTranspose and Linear weight from
N(0, 0.02) with zero bias; every BatchNorm gain from N(1, 0.02) with zero bias
(the convention of the reference PyTorch example).  Batch 64 (the paper used
128; 64 is the batch of tinygan's benchmark against PyTorch).  z is N(0, I)
rather than the paper's uniform noise, as in the PyTorch example.
"""
from __future__ import annotations

from .. import nn
from ..nn import init
from .gan import GAN

FEATURES = 128 * 7 * 7          # D's flattened features, and G's first layer


def generator(latent_dim: int = 100) -> nn.Sequential:
    """z (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(latent_dim, FEATURES), nn.Unflatten(1, (128, 7, 7)),
        nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )


def discriminator_body(batchnorm: bool = True) -> nn.Sequential:
    """D up to its last layer: images (N, 1, 28, 28) -> features (N, 128*7*7).

    ``batchnorm=False`` leaves out the BatchNorm: the WGAN critics use that
    (a gradient penalty needs each sample's output to depend on that sample only).
    """
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), *([nn.BatchNorm2d(128)] if batchnorm else []),
        nn.LeakyReLU(0.2), nn.Flatten(),
    )


def discriminator(batchnorm: bool = True) -> nn.Sequential:
    """images (N, 1, 28, 28) -> logits (N, 1): the body and Linear(128*7*7, 1), as one list."""
    return nn.Sequential(*discriminator_body(batchnorm), nn.Linear(FEATURES, 1))


def init_weights_(module: nn.Module) -> nn.Module:
    """DCGAN's initialization (Sec. 4), in place, for every layer inside ``module``.

    Conv2d / ConvTranspose2d / Linear: weight ~ N(0, 0.02^2), bias = 0.
    BatchNorm: gain ~ N(1, 0.02^2), bias = 0.  Other layers are left as they are.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.weight is not None:
            init.normal_(m.weight, 1.0, 0.02)
            init.zeros_(m.bias)
    return module


class DCGAN(GAN):
    """Radford et al. 2016: the convolutional networks above, trained with the GAN losses of
    Goodfellow et al. 2014 (eq. 1 for D, Sec. 3's non-saturating loss for G).

    ``G`` and ``D`` default to DCGAN's networks (the conditional GAN, InfoGAN and the
    WGANs pass their own); every layer of both is given DCGAN's initialization.
    """

    name = "dcgan"
    latent_dim = 100
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def __init__(self, G: nn.Module | None = None, D: nn.Module | None = None):
        super().__init__(G if G is not None else generator(self.latent_dim),
                         D if D is not None else discriminator())
        init_weights_(self.G)
        init_weights_(self.D)
