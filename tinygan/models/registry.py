"""Every model tinygan trains, in one table: ``REGISTRY``, name -> ``Family``.

A ``Family`` entry says what the rest of tinygan needs to know about a model without
looking inside it:

- ``cls``: the model class (a ``GANFamily``, a ``VAEFamily`` or ``CycleGAN``), built with
  ``cls(**options)``;
- ``kind``: the name of the kind of training step that trains it -- ``"gan"``, ``"vae"`` or
  ``"stylegan"``, ``"biggan"``, ``"cyclegan"`` today, a key of ``tinygan.train.kinds.KINDS`` (its Stepper, its command-line
  options, its extra ``tinygan eval`` figures).  The registry does not check it against that table:
  models do not import train/ (train builds on models); ``tinygan train`` does;
- ``sampler``: the attribute of the model holding the network that draws its samples --
  ``"G"`` for a GAN, ``""`` (the whole model) for a VAE: what an ``--ema`` averages and what
  ``tinygan export`` ships; the class's ``sampler``;
- ``data_shape``: the (C, H, W) of one image it draws and trains on: the class's
  ``image_shape`` (what its networks are built for and its ``d_loss`` checks), so the two
  can't disagree; the trainers serve the data in this shape (tinygan.data.to_shape);
- ``num_classes``: how many classes the labels of its ``sample_noise`` take (a conditional
  model's data labels, InfoGAN's categorical code); 0 when it draws none.  A family built
  conditional or not by an option (StyleGAN's ``conditional``) gives the classes of its
  conditional build: the unconditional one's ``sample_noise`` draws no labels, so nothing
  reads the number there;
- ``recipe``: its training defaults -- batch size, optimizer, learning rates, and epochs
  where the paper names them -- the class's ``defaults`` (its paper's settings); what it
  leaves out, its kind's trainer fills in (5 epochs for a GAN, 10 for a VAE);
- ``grid``: the sample grids are ``grid`` x ``grid`` images, one row per class when it has
  classes.

Adding a family is one model file and one ``register(...)`` line below.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .biggan import BigGAN
from .cgan import ConditionalGAN
from .cyclegan import CycleGAN
from .dcgan import DCGAN
from .gan import GAN
from .infogan import InfoGAN
from .stylegan import StyleGAN
from .vae import CVAE, VAE, BetaVAE, ConvVAE
from .wgan import WGAN, WGANGP

@dataclass(frozen=True)
class Family:
    """One trainable model: what it is and how tinygan trains, samples and evaluates it."""

    name: str
    cls: type
    kind: str
    data_shape: tuple = (1, 28, 28)
    num_classes: int = 0
    grid: int = 10
    recipe: dict = field(default_factory=dict)
    sampler: str = ""

    def build(self, **options):
        """A fresh model with its constructor's ``options`` (a VAE's latent size...)."""
        return self.cls(**options)


REGISTRY: dict = {}


def make_family(cls, kind: str, data_shape=None, num_classes: int = 0, grid: int = 10,
                name: str | None = None) -> Family:
    """The entry of model class ``cls`` (its recipe: ``cls.defaults``; its sampler:
    ``cls.sampler``, the whole model when it names none).

    ``data_shape`` (C, H, W) defaults to ``cls.image_shape``; one given must equal it (the
    model checks its batches against ``image_shape``, the trainer serves ``data_shape``).
    """
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"{cls.__name__}: the kind of training must be a name such as 'gan' "
                         f"or 'vae', got {kind!r}")
    own = tuple(getattr(cls, "image_shape", (1, 28, 28)))
    data_shape = own if data_shape is None else tuple(int(d) for d in data_shape)
    if data_shape != own:
        raise ValueError(f"{cls.__name__}: data_shape {data_shape} differs from its image_shape {own}")
    recipe = dict(getattr(cls, "defaults", {}))
    sampler = str(getattr(cls, "sampler", ""))
    return Family(name or cls.name, cls, kind, tuple(data_shape), int(num_classes), int(grid),
                  recipe, sampler)


def register(cls, kind: str, **entry) -> Family:
    """Add model class ``cls`` to ``REGISTRY`` under ``cls.name`` (see ``make_family``)."""
    family = make_family(cls, kind, **entry)
    REGISTRY[family.name] = family
    return family


def get(name: str) -> Family:
    """The entry of ``name``; KeyError listing the known names if there is none."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(REGISTRY) or 'none'}")
    return REGISTRY[name]


def entry_of(model) -> Family:
    """The entry of a model, given built or as its class (found by its class)."""
    cls = model if isinstance(model, type) else type(model)
    for family in REGISTRY.values():
        if family.cls is cls:
            return family
    raise KeyError(f"{cls.__name__} is not a registered model family "
                   "(tinygan.models.registry.register)")


def sampling_module(model):
    """The module of a built model that draws its samples (its entry's ``sampler``): a GAN's
    generator ``G``, a whole VAE."""
    part = entry_of(model).sampler
    return getattr(model, part) if part else model


def classes_of(kind: str) -> dict:
    """name -> class of the registered families of ``kind``, in registration order."""
    return {name: f.cls for name, f in REGISTRY.items() if f.kind == kind}


# In the order ``tinygan models`` lists them.
register(GAN, "gan")
register(DCGAN, "gan")
register(ConditionalGAN, "gan", num_classes=ConditionalGAN.num_classes)
register(InfoGAN, "gan", num_classes=InfoGAN.n_cat)     # its categorical code c ~ Cat(n_cat)
register(WGAN, "gan")
register(WGANGP, "gan")
register(StyleGAN, "stylegan", num_classes=StyleGAN.num_classes)     # R1, path length, style mixing: tinygan/train/stylegan.py
register(BigGAN, "biggan", num_classes=BigGAN.num_classes)     # hinge, n_critic 2, EMA, ortho reg: tinygan/train/biggan.py
register(CycleGAN, "cyclegan", grid=10)     # two generators, two PatchGANs, image pools: tinygan/train/cyclegan.py
register(VAE, "vae")
register(ConvVAE, "vae")
register(BetaVAE, "vae")
register(CVAE, "vae", num_classes=CVAE.num_classes)

__all__ = ["Family", "REGISTRY", "register", "make_family", "get", "entry_of", "sampling_module",
           "classes_of"]
