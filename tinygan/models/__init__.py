"""Model families, one file per paper (see each file's docstring for the paper and equations).

``FAMILIES`` maps the names ``tinygan train`` accepts to the ``GANFamily``
classes the shared trainer (tinygan/train/gan.py) drives:

=========  ==================  ==============================================================
name       class               paper
=========  ==================  ==============================================================
gan        ``GAN``             Goodfellow et al. 2014 (MLPs)
dcgan      ``DCGAN``           Radford et al. 2016
cgan       ``ConditionalGAN``  Mirza & Osindero 2014, projection D of Miyato & Koyama 2018
infogan    ``InfoGAN``         Chen et al. 2016
wgan       ``WGAN``            Arjovsky et al. 2017 (weight clipping)
wgan_gp    ``WGANGP``          Gulrajani et al. 2017 (gradient penalty)
=========  ==================  ==============================================================

``VAE_FAMILIES`` does the same for the variational autoencoders of vae.py
(``VAEFamily`` classes, trained by the same loop through tinygan/train/vae.py):

=========  ==================  ==============================================================
vae        ``VAE``             Kingma & Welling 2014 (MLP 784-400-20, Bernoulli decoder)
conv_vae   ``ConvVAE``         the same objective with convolutional encoder and decoder
beta_vae   ``BetaVAE``         Higgins et al. 2017; capacity annealing of Burgess et al. 2018
cvae       ``CVAE``            Sohn et al. 2015 (label-conditioned encoder and decoder)
=========  ==================  ==============================================================

``pretrained(name)`` gives a family trained by tinygan's own commands and shipped in
tinygan/weights/ (``"dcgan"``, ``"cgan"``, ``"vae"``; shipped.py, tinygan/weights/README.md),
as ``pretrained_classifier`` gives the frozen classifier.

``FAMILIES`` holds only ``GANFamily`` classes (the GAN tests and lessons iterate over it as
such); ``tinygan.train.loop.family_registry()`` is the union that ``tinygan train`` and
``tinygan models`` use.
"""
from .base import GANFamily
from .cgan import ConditionalGAN
from .classifier import Classifier, pretrained_classifier
from .dcgan import DCGAN
from .gan import GAN
from .infogan import InfoGAN
from .shipped import PRETRAINED, pretrained, pretrained_names
from .vae import CVAE, VAE, VAE_FAMILIES, BetaVAE, ConvVAE, VAEFamily
from .wgan import WGAN, WGANGP

FAMILIES = {cls.name: cls for cls in (GAN, DCGAN, ConditionalGAN, InfoGAN, WGAN, WGANGP)}

__all__ = ["FAMILIES", "GANFamily", "GAN", "DCGAN", "ConditionalGAN", "InfoGAN", "WGAN", "WGANGP",
           "Classifier", "pretrained_classifier", "PRETRAINED", "pretrained", "pretrained_names",
           "VAE_FAMILIES", "VAEFamily", "VAE", "ConvVAE", "BetaVAE", "CVAE"]
