"""Model families, one file per paper (see each file's docstring for the paper and equations).

The contract: registry.py
-------------------------
``tinygan.models.registry.REGISTRY`` is the one table of every model tinygan trains:
name -> ``Family(name, cls, kind, data_shape, num_classes, grid, recipe, sampler)``.
``tinygan models``, ``train``, ``sample`` and ``eval`` (and tinygan/train/) read it and
nothing else:

- ``kind``: the kind of training step that trains it, a key of
  ``tinygan.train.kinds.KINDS``: ``"gan"`` (a ``GANFamily``, tinygan/train/gan.py's
  Stepper) or ``"vae"`` (a ``VAEFamily``, tinygan/train/vae.py; its ``tinygan eval`` adds
  the -ELBO and IWAE bounds).  The kind brings the training step, the command-line options
  and the extra figures; the registry only names it (models do not import train/);
- ``data_shape``: (C, H, W) of the images it draws and trains on (its class's
  ``image_shape``); the trainers serve the data in this shape;
- ``num_classes``: the classes of the labels its ``sample_noise`` draws (conditional models,
  InfoGAN's categorical code), 0 if none -- the sample grids give each class a row and the
  evaluations score the classes;
- ``recipe``: its training defaults (batch size, optimizer, learning rates, epochs where
  its paper names them): the class's ``defaults``;
- ``grid``: sample grids are ``grid`` x ``grid``;
- ``sampler``: the attribute holding the network that draws its samples (``"G"``; ``""``:
  the whole model) -- what ``--ema`` averages and ``tinygan export`` ships.

What a family must provide (its class): a Module with ``name``, ``image_shape``,
``latent_dim``, ``sampler`` and ``defaults``; built as ``cls(**options)`` and, if it has
options, ``options()`` returning them (a run's config.json keeps them, so ``sample`` and
``eval`` rebuild the same model); ``sample_noise(n, device) -> (z, labels or None)`` and
``generate(z, labels) -> (N, *image_shape)`` images in [-1, 1] -- what sampling, the
pictures and the evaluations use -- and whatever its kind's Stepper calls (a GAN's
``d_loss``, ``g_loss``, ``g_parameters``, ``d_parameters``, ``after_d_step``: base.py;
a VAE's ``loss``, ``encode``, ``decode``...: vae.py).

What a kind must provide is written in tinygan/train/kinds.py (``Kind``): its Stepper, its
``train``, its options, its evaluation figures.

Adding a family = one model file + one registry entry (``register(cls, kind, ...)`` in
registry.py); adding a kind of training = one Stepper module + one Kind entry
(tinygan/train/kinds.py).  tests/train/test_any_image_shape.py adds a family, and
tests/train/test_new_kind.py a kind, as test fixtures.

``FAMILIES`` (the GANs, whichever kind trains them) and ``VAE_FAMILIES`` (the VAEs) are
name -> class tables of the families tinygan registers itself, taken from the registry on
import:

=========  ==================  ==============================================================
name       class               paper
=========  ==================  ==============================================================
gan        ``GAN``             Goodfellow et al. 2014 (MLPs)
dcgan      ``DCGAN``           Radford et al. 2016
cgan       ``ConditionalGAN``  Mirza & Osindero 2014, projection D of Miyato & Koyama 2018
infogan    ``InfoGAN``         Chen et al. 2016
wgan       ``WGAN``            Arjovsky et al. 2017 (weight clipping)
wgan_gp    ``WGANGP``          Gulrajani et al. 2017 (gradient penalty)
stylegan   ``StyleGAN``        Karras et al. 2020, StyleGAN2 at 32x32 (kind ``stylegan``)
biggan     ``BigGAN``          Brock et al. 2019, BigGAN at 32x32 (kind ``biggan``)
=========  ==================  ==============================================================

``cyclegan`` (``CycleGAN``, Zhu et al. 2017: two generators translating between two
domains of digits, kind ``cyclegan``) is in neither table: it is not a GAN of noise nor a VAE
(``classes_of("cyclegan")``).

and ``VAE_FAMILIES``, the variational autoencoders of vae.py:

=========  ==================  ==============================================================
vae        ``VAE``             Kingma & Welling 2014 (MLP 784-400-20, Bernoulli decoder)
conv_vae   ``ConvVAE``         the same objective with convolutional encoder and decoder
beta_vae   ``BetaVAE``         Higgins et al. 2017; capacity annealing of Burgess et al. 2018
cvae       ``CVAE``            Sohn et al. 2015 (label-conditioned encoder and decoder)
=========  ==================  ==============================================================

``pretrained(name)`` gives a family trained by tinygan's own commands and shipped in
tinygan/weights/ (``"dcgan"``, ``"cgan"``, ``"vae"``; shipped.py, tinygan/weights/README.md),
as ``pretrained_classifier`` gives the frozen classifier (``"mnist"``, ``"fashion-mnist"``, and
``"mnist-thick-b"`` for the restyled digits of tinygan.data.domains) and
``pretrained_domain_classifier("mnist-thick")`` the frozen classifier of domains A and B.
"""
from .base import GANFamily
from .biggan import BigGAN
from .cgan import ConditionalGAN
from .classifier import Classifier, pretrained_classifier
from .cyclegan import CycleGAN
from .dcgan import DCGAN
from .domain_classifier import DomainClassifier, pretrained_domain_classifier
from .gan import GAN
from .infogan import InfoGAN
from .shipped import PRETRAINED, pretrained, pretrained_names
from .registry import REGISTRY, Family, classes_of
from .vae import CVAE, VAE, BetaVAE, ConvVAE, VAEFamily
from .wgan import WGAN, WGANGP

# The GAN families, whichever kind of training step trains them (a GAN's, StyleGAN's).
FAMILIES = {name: f.cls for name, f in REGISTRY.items() if issubclass(f.cls, GANFamily)}
VAE_FAMILIES = classes_of("vae")

__all__ = ["REGISTRY", "Family", "FAMILIES", "GANFamily", "GAN", "DCGAN", "ConditionalGAN", "InfoGAN", "WGAN", "WGANGP", "BigGAN",
           "CycleGAN",
           "Classifier", "pretrained_classifier", "DomainClassifier", "pretrained_domain_classifier",
           "PRETRAINED", "pretrained", "pretrained_names",
           "VAE_FAMILIES", "VAEFamily", "VAE", "ConvVAE", "BetaVAE", "CVAE"]
