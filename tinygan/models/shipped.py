"""Trained models shipped with tinygan: ``tinygan.models.pretrained(name)``.

Training a GAN until it draws recognisable digits takes half an hour on a busy 2-core CPU, so
tinygan ships a few small trained models in ``tinygan/weights/`` beside the frozen
classifiers, and every place that takes a run folder takes ``pretrained:NAME`` too (and
the path of a file ``tinygan export`` wrote from a run of your own)::

    tinygan sample pretrained:dcgan --n 64 --out s.npz
    tinygan eval pretrained:cgan
    tinygan.train.sample_run("pretrained:dcgan", n=64)    # {"images": (64, 1, 28, 28), ...}
    vae = tinygan.models.pretrained("vae")                 # the family, in eval mode
    tinygan translate pretrained:cyclegan --direction AB --in a.npz --out b.npz

``tinygan/weights/README.md`` gives, for each file, the command that trained it, the
command that exported it, how long that took and the quality it reaches.

What a file holds (written by ``tinygan.train.export.export_run``, read by ``load_pretrained``; an ordinary
tinygan checkpoint, so it is read with ``allow_pickle=False`` and checked like one):

- ``model``, ``model_options``: what the registry entry's ``build`` needs to rebuild
  the family; ``config``: the run's config.json; ``source``: the checkpoint's file name,
  epoch, step, images seen and EMA beta (None when the run kept no EMA);
- ``part``: which module the weights fill, the registry entry's ``sampler`` -- ``"G"`` for a
  GAN, ``""`` (the whole family) for a VAE and for CycleGAN -- and ``weights``: that module's ``state_dict()``, the EMA's weights when the run
  kept one (what ``tinygan sample RUN`` would use), floating-point arrays in ``dtype``
  (float16 halves the file; they are loaded back as float32).

Why a GAN ships its generator only: sampling and ``tinygan eval`` never run D, and with D
the cgan file would pass 2 MB in float16 (its D, projection embedding included, has
200,000 weights).  CycleGAN is the exception: its sampler is the whole family, since both
generators translate (G_AB one way, G_BA the other), and its two small PatchGANs ship with
them (68,802 of its 607,556 weights), trained.  The loader still builds the whole family -- so ``family.generate``,
``sample_noise`` and the class conventions are the trainer's -- and loads G's part
strictly (every key, every shape); **D stays at its random initialization**: a pretrained
GAN family is for sampling, not for resuming its training.  A VAE ships everything,
encoder included, because ``tinygan eval`` bounds the likelihood of test digits with it.

A GAN generator's BatchNorm buffers are shipped too (so G's state loads strictly), but the
samplers (``tinygan.train.loop.generate``, used by ``sample_run`` and the evaluations)
normalize with each generated batch's own statistics, as during training; calling
``family.generate`` directly in eval mode would use the running averages instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .classifier import WEIGHTS

FORMAT = "tinygan-pretrained"
VERSION = 1
PREFIX = "pretrained:"

# name -> (file in tinygan/weights/, one line for ``tinygan models``).  The files are made by
# the commands in tinygan/weights/README.md.
PRETRAINED = {
    "dcgan": ("dcgan_mnist.npz", "DCGAN generator, 3 epochs of MNIST"),
    "cgan": ("cgan_mnist.npz", "conditional GAN generator (labels 0-9), 2 epochs of MNIST"),
    "vae": ("vae_mnist.npz", "MLP VAE 784-400-20, encoder and decoder, 10 epochs of MNIST"),
    "biggan": ("biggan_mnist.npz", "BigGAN-lite generator (cpu preset, labels 0-9, EMA weights), "
                                   "3 epochs of MNIST"),
    "stylegan": ("stylegan_mnist.npz", "StyleGAN-lite generator (cpu preset, EMA weights), 30 minutes "
                                       "of `tinygan train stylegan` on a 2-core CPU"),
    "cyclegan": ("cyclegan_mnist_thick.npz", "CycleGAN-lite (cpu preset), both generators and both "
                                             "PatchGANs, MNIST <-> thick inverted digits (mnist-thick); "
                                             "translates, draws no samples"),
}


def pretrained_names() -> list:
    """The names ``pretrained`` and ``pretrained:NAME`` accept, sorted."""
    return sorted(PRETRAINED)


def pretrained_name(run) -> str | None:
    """``NAME`` when ``run`` is the string ``"pretrained:NAME"``, else None."""
    if isinstance(run, str) and run.startswith(PREFIX):
        return run[len(PREFIX):]
    return None


def model_file(run) -> Path | None:
    """The pretrained model file ``run`` names, or None when it names a run folder.

    ``"pretrained:NAME"`` is a shipped model (an unknown NAME raises); a path to an existing
    ``.npz`` file is a file written by ``tinygan export`` (tinygan/train/export.py); so is a path
    ending in ``.npz`` that does not exist (loading it then says so).
    """
    name = pretrained_name(run)
    if name is not None:
        return pretrained_path(name)
    if isinstance(run, (str, Path)) and str(run).endswith(".npz") and not Path(run).is_dir():
        return Path(run)
    return None


def pretrained_path(name: str) -> Path:
    """The shipped file of ``name``; a one-line ValueError listing the names if it is unknown."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; available: "
                         f"{', '.join(pretrained_names())}")
    path = WEIGHTS / PRETRAINED[name][0]
    if not path.exists():
        raise FileNotFoundError(f"the weights of pretrained model {name!r} are missing: {path} "
                                "(tinygan/weights/README.md gives the commands that make them)")
    return path


# ----------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------
def _refuse(path, why: str):
    from ..checkpoint import CheckpointError   # noqa: PLC0415 - keeps importing models light
    return CheckpointError(f"{path}: not a usable pretrained model file: {why}")


def load_pretrained(path, device="cpu") -> tuple:
    """``(family, config, info)`` from a file written by ``tinygan export``.

    ``family``: the rebuilt family on ``device``, in eval mode, its shipped part loaded
    strictly and in float32 (for a GAN, D keeps its random initialization: see the module
    docstring); ``config``: the run's config.json; ``info``: ``{"epoch", "step", "images",
    "ema_beta", "path"}``: the checkpoint it came from, its EMA's beta (None: no EMA) and the
    file.  Building the family leaves tinygan's random generator as it was.

    A file that is not a tinygan checkpoint, is corrupt, or does not fit the family it names
    raises ``CheckpointError`` (a ValueError) with one line naming the file.
    """
    from .. import checkpoint, random              # noqa: PLC0415
    from . import registry                          # noqa: PLC0415 - registry imports every model
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such pretrained model file")
    state = checkpoint.load(path)                  # CheckpointError: corrupt, truncated, pickled
    if state.get("format") != FORMAT:
        raise _refuse(path, f"it is a tinygan checkpoint, but not of format {FORMAT!r} "
                            "(a run's checkpoint is used through its run folder)")
    if state.get("version") != VERSION:
        raise _refuse(path, f"version {state.get('version')!r} (this tinygan reads {VERSION})")
    weights = state.get("weights")
    if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray) for v in weights.values()):
        raise _refuse(path, "its 'weights' entry is not a dict of arrays")
    model, options = state.get("model"), state.get("model_options") or {}
    # Building a family draws its initial weights from tinygan's generator; put the generator
    # back, so that loading a model leaves the caller's random stream where it was.
    rng = random.get_rng_state()
    try:
        family = registry.get(model).build(**options)
    except (KeyError, TypeError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise _refuse(path, f"can't build its family {model!r}: {message}") from None
    finally:
        random.set_rng_state(rng)
    part = state.get("part")
    if part != registry.entry_of(family).sampler:
        raise _refuse(path, f"its part {part!r} is not what a {model} ships "
                            f"({registry.entry_of(family).sampler!r})")
    try:        # (load_state_dict casts float16 arrays to the float32 of the fresh family)
        registry.sampling_module(family).load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        # load_state_dict lists every problem on its own line: one line here.
        problems = "; ".join(line.strip() for line in str(exc).splitlines()[1:])
        raise _refuse(path, f"its weights don't fit {model}'s "
                            f"{'generator' if part == 'G' else 'model'}: {problems}") from None
    source = state.get("source") or {}
    info = {k: source.get(k) for k in ("epoch", "step", "images", "ema_beta")}
    info["path"] = str(path)
    return family.to(device).eval(), dict(state.get("config") or {"model": model}), info


def pretrained(name: str, device="cpu"):
    """The shipped trained family ``name`` (one of ``pretrained_names()``) on ``device``, in
    eval mode: ``pretrained("dcgan")``, ``pretrained("cgan")``, ``pretrained("vae")``,
    ``pretrained("biggan")``, ``pretrained("cyclegan")``.

    A GAN's generator is trained and its D is not (only G is shipped); a VAE is whole, and
    so is CycleGAN (both generators and both discriminators; it translates images with
    ``family.translate(x, "AB" | "BA")`` or ``tinygan translate pretrained:cyclegan``, and
    draws no samples).
    Sample it as a run is sampled (``tinygan.train.sample_run("pretrained:NAME", n)``) or with
    ``tinygan.train.loop.generate(family, *family.sample_noise(n))``.
    """
    return load_pretrained(pretrained_path(name), device)[0]


__all__ = ["PRETRAINED", "PREFIX", "pretrained", "pretrained_names", "pretrained_name",
           "pretrained_path", "model_file", "load_pretrained", "FORMAT", "VERSION"]
