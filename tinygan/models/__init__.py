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
"""
from .base import GANFamily
from .cgan import ConditionalGAN
from .classifier import Classifier, pretrained_classifier
from .dcgan import DCGAN
from .gan import GAN
from .infogan import InfoGAN
from .wgan import WGAN, WGANGP

FAMILIES = {cls.name: cls for cls in (GAN, DCGAN, ConditionalGAN, InfoGAN, WGAN, WGANGP)}

__all__ = ["FAMILIES", "GANFamily", "GAN", "DCGAN", "ConditionalGAN", "InfoGAN", "WGAN", "WGANGP",
           "Classifier", "pretrained_classifier"]
