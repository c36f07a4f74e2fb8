"""Training BigGAN-lite: ``tinygan train biggan`` (Brock et al. 2019).

The step is a GAN's (tinygan/train/gan.py, ``GANStepper``): a hinge-loss D step on every real
batch, a G step after every second one (``n_critic = 2``, BigGAN's two D steps per G step),
Adam G 1e-4, D 4e-4, betas (0, 0.999) from the family's recipe.  What BigGAN adds is a kind of
its own, because it needs what the plain GAN trainer has no place for -- a model option (the
preset), a default generator EMA, a regularizer on G's loss and a picture:

- ``ortho_reg`` beta (``--ortho-reg B``): BigGAN's orthogonal regularization (sec. 3.1, eq. 3,
  ``tinygan.losses.orthogonal_regularization``) added to G's loss, over G's weights without the
  shared embedding (``BigGAN.ortho_parameters``); the paper's beta is 1e-4.  Off (0) by
  default: at 32x32 and with spectral norm on every layer it is not needed to train, and it
  costs a pass over every weight matrix per G step.  Logged as ``ortho_reg`` (the term added).
- The generator EMA is on by default (BigGAN samples only from it).  The paper keeps
  0.9999 per G step, started after 20k steps; a CPU run of a few epochs makes only a few
  hundred G steps per epoch, so that average would still be mostly the random start.  Here it
  is a half-life in real images (``tinygan.optim.EMAHalfLife``, per update of
  ``n_critic * batch_size`` images): ``ema_kimg`` = 10 thousand images (a sixth of an MNIST
  epoch, some 80 G steps at batch 64), and in place of the paper's start a ramp-up: the
  half-life is at most ``EMA_RAMPUP`` = 0.1 times the images seen, so the average forgets the
  random start quickly and reaches its full memory after 100k images.  ``--ema-kimg 0`` turns
  it off; ``--ema BETA`` fixes beta instead.
- With every sample grid (tinygan/train/biggan_pictures.py): truncation.png, the same z's
  at t = 2, 1, 0.5, 0.25, one row per class; interpolation_within_class.png (slerp between
  two z's, one row per class) and interpolation_between_classes.png (the shared embedding
  from one class to another at a fixed z); attention.png (where G's self-attention looks).
  ``tinygan eval RUN --truncation-sweep`` adds the quality-diversity curve
  (tinygan/train/truncation_tradeoff.py).

Everything of the run -- spectral norm's u and v buffers included (they are module buffers,
so in the weights) -- is in the checkpoint, and a resumed run is bit-exact, as every kind's.
"""
from __future__ import annotations

from pathlib import Path

from .. import backend, random
from ..data import Compose, ToShape, normalize, to_float
from ..losses import orthogonal_regularization
from ..models import registry
from ..optim import EMAHalfLife
from .biggan_pictures import biggan_pictures
from .gan import GANStepper
from .loop import build_family, check_settings, family_entry, fit, fixed_inputs, training_loader
from .run import Run
from .settings import FAST_LOG_EVERY, LOG_EVERY, fast_mode

EPOCHS = 5
EMA_KIMG = 10.0          # the generator EMA's half-life, thousands of real images
EMA_RAMPUP = 0.1         # ... at most this times the images seen (in place of BigGAN's start)


class BigGANStepper(GANStepper):
    """GANStepper with orthogonal regularization on G (cfg ``ortho_reg``) and BigGAN's
    pictures."""

    def generator_loss(self, n: int, labels) -> tuple:
        """The family's hinge G loss, plus beta * R(G's weights) (eq. 3) when ``ortho_reg`` > 0."""
        loss, stats = self.family.g_loss(n, labels)
        beta = self.cfg.get("ortho_reg") or 0.0
        if beta > 0:
            reg = orthogonal_regularization(self.family.ortho_parameters(), beta)
            loss = loss + reg
            stats = {**stats, "ortho_reg": reg.data}
        return loss, stats

    def pictures(self, out: Path, name: str, title: str) -> None:
        """The truncation sweep, the two interpolations and the attention map in the run
        folder, the latest ones (tinygan/train/biggan_pictures.py)."""
        biggan_pictures(self.family, out, seed=self.cfg["seed"], title=title)


def _ema_schedule(cfg: dict):
    """The EMA of the config: None, a fixed beta (``ema``) or a half-life schedule."""
    if cfg["ema"] is not None:
        return cfg["ema"]
    if not cfg["ema_kimg"]:
        return None
    return EMAHalfLife(cfg["batch_size"] * cfg["n_critic"], cfg["ema_kimg"], EMA_RAMPUP)


def train_biggan(model_name: str = "biggan", *, dataset: str = "mnist", out=None,
                 epochs: int | None = None, batch_size: int | None = None, seed: int = 0,
                 device="cpu", resume: bool = False, force: bool = False,
                 ema: float | None = None, progress: bool = True, max_steps: int | None = None,
                 preset: str | None = None, lr_g: float | None = None, lr_d: float | None = None,
                 n_critic: int | None = None, ortho_reg: float | None = None,
                 ema_kimg: float | None = None, no_spectral_norm: bool | None = None,
                 no_attention: bool | None = None, log_every: int | None = None,
                 read_every: int | None = None) -> dict:
    """Train BigGAN-lite and write its run folder (as ``tinygan.train.gan.train_gan`` does).

    Args beyond train_gan's: preset ``"cpu"`` / ``"gpu"`` (tinygan.models.biggan.PRESETS),
    ortho_reg (orthogonal regularization's beta; 0 or None: off), ema_kimg (the generator EMA's
    half-life in thousands of real images, default 10; 0: no EMA), no_spectral_norm and
    no_attention (the ablations: the model built with ``spectral_norm=False`` /
    ``attention=False``, kept in the run's config); ``ema`` (a fixed beta)
    replaces ema_kimg, and giving both is refused.  Every setting is checked before the run
    folder is written.  Returns fit's dict.
    """
    entry = registry.get(model_name)
    if entry.kind != "biggan":
        raise ValueError(f"train_biggan: {model_name!r} is of kind {entry.kind!r}; train it "
                         f"with tinygan.train.kinds.KINDS[{entry.kind!r}].train")
    d = dict(entry.recipe)
    counts = dict(epochs=epochs if epochs is not None else d.get("epochs", EPOCHS),
                  batch_size=batch_size if batch_size is not None else d["batch_size"],
                  n_critic=n_critic if n_critic is not None else d["n_critic"])
    check_settings(**counts, max_steps=max_steps, read_every=read_every, ema=ema)
    if ema is not None and ema_kimg is not None:
        raise ValueError("train_biggan: ema (--ema BETA, a fixed beta) and ema_kimg "
                         "(--ema-kimg, the half-life in images) both set the generator EMA; "
                         "give one")
    for name, value in (("ortho_reg", ortho_reg), ("ema_kimg", ema_kimg)):
        if value is not None and not (float(value) >= 0 and float(value) < float("inf")):
            raise ValueError(f"train_biggan: {name} must be a finite number >= 0, got {value!r}")
    model_options = dict(preset=preset or "cpu")
    # The ablations enter the config only when asked for, so the config of a full BigGAN run
    # stays as it was.
    if no_spectral_norm:
        model_options["spectral_norm"] = False
    if no_attention:
        model_options["attention"] = False
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    family = build_family(model_name, **model_options).to(dev)     # checks the preset
    fast = fast_mode()
    cfg = dict(model=model_name, dataset=dataset, seed=int(seed), device=dev, fast=fast,
               epochs=int(counts["epochs"]), batch_size=int(counts["batch_size"]),
               model_options=model_options, optimizer=d["optimizer"],
               lr_g=float(d["lr_g"] if lr_g is None else lr_g),
               lr_d=float(d["lr_d"] if lr_d is None else lr_d),
               betas=list(d["betas"]), n_critic=int(counts["n_critic"]),
               ortho_reg=float(ortho_reg or 0.0),
               ema=None if ema is None else float(ema),
               ema_kimg=None if ema is not None else float(EMA_KIMG if ema_kimg is None
                                                            else ema_kimg))
    log_every = int(log_every or (FAST_LOG_EVERY if fast else LOG_EVERY))
    out = Path(out or f"runs/{model_name}-{dataset}")

    fixed = fixed_inputs(family, dev)
    shape = ToShape(family_entry(family).data_shape, fill=-1.0)      # 28x28 padded to 32x32
    loader = training_loader(dataset, cfg, Compose([to_float, normalize, shape]))
    stepper = BigGANStepper(family, cfg)                # its optimizers check the learning rates
    run = Run(out, cfg, resume=resume, force=force)
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=_ema_schedule(cfg), resume=resume, progress=progress,
               max_steps=max_steps, log_every=log_every, read_every=read_every)


__all__ = ["BigGANStepper", "train_biggan", "EMA_KIMG", "EMA_RAMPUP"]
