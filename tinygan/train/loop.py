"""The training loop every family shares, of every kind (tinygan/train/kinds.py: GANs in
train/gan.py, VAEs in train/vae.py).

What differs between kinds of model is a ``Stepper`` -- its optimizers and what one
update does (a GAN: a D step, and every ``n_critic``-th time a G step; a VAE: one step on
the negative ELBO).  Everything else is here, once:

- the run folder (``tinygan.train.run.Run``): config.json, metrics.jsonl, losses.png,
  samples.png (the latest grid), samples/epoch_NNN.png (the same fixed noise after every
  epoch), checkpoints/epoch_NNN.npz after every epoch and epoch_NNN_step_SSSSSS.npz on
  Ctrl-C or at ``max_steps`` in the middle of an epoch;
- the tqdm bar, a metrics.jsonl line every ``log_every`` steps and one per epoch;
- an optional EMA of the weights the pictures, ``tinygan sample`` and ``tinygan eval`` use,
  with a fixed beta or a schedule that gives each update's beta from the images seen
  (``tinygan.optim.EMAHalfLife``, StyleGAN2's half-life in images);
- bit-exact resume: weights and buffers, the optimizers, the EMA, the DataLoader's position
  (also inside an epoch), tinygan's random generator, the fixed noise, the counters and the
  running means of the logged values are all in the checkpoint (tinygan.random's state is
  (seed, offset) for every device, so this holds on a GPU too);
- the losses stay on the device: a Stepper returns them as 0-d arrays, the loop keeps them in
  a ``LossBuffer`` (tinygan/train/loss_buffer.py) and reads them to the host only at its read
  points -- every ``read_every`` batches (the progress bar's refresh: every batch on the CPU,
  where a read is free, every ``DEVICE_READ_EVERY`` on a GPU, where it waits for the device),
  when a metrics.jsonl line is written, at an epoch's end and before every checkpoint;
- a NaN or inf loss stops the run at the read that finds it, with an error naming the first
  step whose loss was not finite and the loss; nothing is saved, and a checkpoint is written
  only after every earlier step's losses were read and found finite, so the last checkpoint
  stays good.  The price on a GPU: the NaN is found up to one read interval late, and the
  weights updated after it are thrown away with the run;
- the data checks a step on a GPU leaves on the device (pixels in [0, 1] for a VAE:
  tinygan/losses/range_check.py) are read at the same read points, and raise there;
- Ctrl-C: the batch under way is finished, a checkpoint written, then ``KeyboardInterrupt``
  raised (the CLI exits with 130).  A second Ctrl-C stops at once without saving.

``step`` counts the updates a kind calls its steps (a GAN's generator updates, the papers'
"iterations"; a VAE's optimizer steps); ``images`` the real images seen.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import backend, checkpoint, optim, random
from ..autograd import Tensor, no_grad
from ..kernels import threads
from ..kernels.host_memory import keep_freed_memory
from ..losses import range_check
from ..viz import plot_curves, save_image_grid
from .loss_buffer import LossBuffer
from .progress import progress_bar
from .run import warn_if_threads_differ
from .settings import DEVICE_READ_EVERY, FAST_IMAGES

TIMING_KEYS = ("seconds", "images_per_s")    # the only logged values that differ between runs


# ----------------------------------------------------------------------------
# families: what the loop reads of tinygan.models.registry
# ----------------------------------------------------------------------------
def family_registry() -> dict:
    """Every trainable family, name -> class (``tinygan.models.registry.REGISTRY``)."""
    from ..models.registry import REGISTRY
    return {name: entry.cls for name, entry in REGISTRY.items()}


def build_family(name: str, **options):
    """A fresh family ``name`` (its constructor's ``options``: a VAE's latent size, likelihood...)."""
    from ..models import registry
    return registry.get(name).build(**options)


def family_entry(family_or_class):
    """The registry entry of a family, given as a built model or as its class."""
    from ..models import registry
    return registry.entry_of(family_or_class)


def is_vae(family_or_class) -> bool:
    """Whether a family (or its class) is registered as a VAE; False for None."""
    return family_or_class is not None and family_entry(family_or_class).kind == "vae"


def ema_module(family):
    """The part of a family an EMA averages, the one that draws its samples (its registry
    entry's ``sampler``): a GAN's generator ``G``, a whole VAE."""
    from ..models import registry
    return registry.sampling_module(family)


def check_settings(ema: float | None = None, **counts) -> None:
    """Refuse (ValueError) a count of training that is not a whole number >= 1 -- epochs,
    batch_size, n_critic, max_steps... (None: not given) -- and an EMA beta outside [0, 1).
    Called before the run folder is made: ``epochs=0`` would write a run that trained nothing,
    and ``batch_size=0`` used to fall back silently to the default."""
    for name, value in counts.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if ema is not None and not 0 <= ema < 1:
        raise ValueError(f"ema must be in [0, 1), got {ema!r}")


def training_loader(dataset: str, cfg: dict, transform):
    """The shuffled training batches of a run, for every kind: ``dataset``'s training split
    (its first FAST_IMAGES in fast mode, ``cfg["fast"]``), cut into ``cfg["batch_size"]``
    batches on ``cfg["device"]`` (the last short batch dropped), ``transform`` applied to each
    batch there; each epoch's order is drawn from ``cfg["seed"]``, so a resume finds it again."""
    from ..data import DataLoader, get_dataset
    train_set = get_dataset(dataset, train=True)
    images, labels = train_set.data, train_set.targets
    if cfg["fast"]:
        images, labels = images[:FAST_IMAGES], labels[:FAST_IMAGES]
    loader = DataLoader((images, labels), batch_size=cfg["batch_size"], shuffle=True,
                        drop_last=True, seed=cfg["seed"], device=cfg["device"],
                        transform=transform)
    if len(loader) == 0:
        raise ValueError(f"batch size {cfg['batch_size']} is larger than the {len(images)} "
                         f"training images{' of TINYGAN_FAST=1' if cfg['fast'] else ''}")
    return loader


def make_optimizer(params, kind: str, lr: float, defaults: dict):
    """``"adam"`` (with ``defaults["betas"]``) or ``"rmsprop"`` over ``params``."""
    if kind == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(defaults.get("betas") or (0.9, 0.999)))
    if kind == "rmsprop":
        extra = {k: defaults[k] for k in ("alpha", "eps") if k in defaults}
        return optim.RMSprop(params, lr=lr, **extra)
    raise ValueError(f"unknown optimizer {kind!r} in the family's defaults (adam or rmsprop)")


def num_classes(family) -> int:
    """The classes of the labels ``family.sample_noise`` draws (its registry entry; 0: none)."""
    return family_entry(family).num_classes


def class_noise(family, n: int, device) -> tuple:
    """``(z, classes)``: the generator's input for n samples whose class is known, or
    ``(z, None)`` for an unconditional family.

    A family whose ``sample_noise`` gives labels draws one sample per class from them: cgan's
    and cvae's class labels, InfoGAN's categorical code (the convention of tinygan.models:
    ``labels`` is the categorical code there, with ``conditional = False`` since D never sees
    data labels).  The classes are set to 0, 1, ..., K-1, 0, 1, ... (int64 (n,), on the CPU),
    so every class gets n/K samples.
    """
    z, labels = family.sample_noise(n, device=device)
    if labels is None:
        return z, None
    return z, np.arange(n, dtype=np.int64) % num_classes(family)


def fixed_inputs(family, device) -> dict:
    """The fixed noise of the sample grids, drawn once: ``{"z": Tensor, "labels": Tensor|None}``.

    grid x grid samples (the registry entry's ``grid``); for conditional models and InfoGAN's
    categorical code, row r holds class (code) r.
    """
    grid = family_entry(family).grid
    z, classes = class_noise(family, grid * grid, device)
    if classes is None:
        return {"z": z, "labels": None}
    rows = np.repeat(np.arange(grid), grid) % num_classes(family)
    return {"z": z, "labels": Tensor(backend.to_device(rows, device))}


@contextlib.contextmanager
def sampling(family):
    """How tinygan draws samples: under no_grad, in train mode, so that BatchNorm layers
    normalize with the statistics of the batch being generated, as in the PyTorch DCGAN
    example, not with their running averages: those lag behind a generator that is still
    changing (early in training they give washed-out grey samples) and belong to G's live
    weights, not to the EMA's averaged ones.  On exit the running averages, the random
    generator and the module's mode are put back, so sampling has no effect on training (and a
    resumed run stays bit-exact).  (A VAE's decoder has no BatchNorm: for it the mode makes no
    difference.)"""
    was_training = family.training
    buffers = [(b, b.data.copy()) for _, b in family.named_buffers()]
    rng = random.get_rng_state()
    family.train()
    try:
        with no_grad():
            yield family
    finally:
        for b, saved in buffers:
            b.data[...] = saved
        random.set_rng_state(rng)
        family.train(was_training)


def generate(family, z, labels=None, batch_size: int = 500, **options) -> np.ndarray:
    """``family.generate`` under ``sampling`` (batch statistics; buffers, random generator and
    mode restored), in batches: float32 (N, C, H, W) on the CPU.  ``options`` go to every call
    of ``family.generate`` (StyleGAN's ``truncation_psi``)."""
    n = z.shape[0]
    # One array filled batch by batch: a list of batches joined at the end would hold every
    # image twice (tinygan sample's memory check counts on once).
    out = None       # allocated at the first batch, when the images' shape is known
    with sampling(family):
        for a in range(0, n, batch_size):
            lab = None if labels is None else labels[a:a + batch_size]
            x = family.generate(z[a:a + batch_size], lab, **options)
            batch = np.asarray(backend.to_device(x.data, "cpu"), dtype=np.float32)
            if out is None:
                out = np.empty((n, *batch.shape[1:]), dtype=np.float32)
            out[a:a + batch_size] = batch
    return out


def is_pretrained(folder) -> bool:
    """Whether ``folder`` names a pretrained model file rather than a run folder: a shipped
    model ``"pretrained:NAME"`` or an ``.npz`` written by ``tinygan export``."""
    from ..models.shipped import model_file
    return model_file(folder) is not None


def run_config(folder) -> dict:
    """The config of a run folder (its config.json), or of the run a pretrained model
    (``"pretrained:NAME"``, an exported ``.npz``; see ``load_run``) came from."""
    if is_pretrained(folder):
        return load_run(folder)[1]
    from .run import Run
    return Run.open(folder).config


def load_run(folder, device="cpu") -> tuple:
    """``(family, config, state)`` of a run's latest checkpoint; the family in eval mode, holding
    the EMA's weights (a GAN's generator, a whole VAE) when the run kept one.

    ``folder`` may also be ``"pretrained:NAME"``, a model shipped in tinygan/weights/
    (``tinygan.models.pretrained``), or the path of an ``.npz`` that ``tinygan export`` wrote:
    then ``state`` holds only ``epoch``, ``step``, ``images`` and ``ema_beta`` of the
    checkpoint it was exported from (None: no EMA) and ``path`` (the file); the EMA's
    weights, if the run kept one, are the ones in the file.
    """
    from ..models.shipped import load_pretrained, model_file
    path = model_file(folder)
    if path is not None:
        return load_pretrained(path, device)
    from .run import Run
    run = Run.open(folder)
    cfg = run.config
    path = run.latest_path()
    if path is None:
        raise FileNotFoundError(f"{run.folder} has no checkpoint yet")
    state = checkpoint.load(path)
    family = build_family(cfg["model"], **dict(cfg.get("model_options") or {})).to(device)
    load_weights(family, state, path, cfg["model"])
    if state.get("ema") is not None:
        target = ema_module(family)
        with restoring_from(path, f"its EMA does not fit the {cfg['model']} model"):
            ema = optim.EMA(target, beta=float(state["ema"]["beta"]))
            ema.load_state_dict(state["ema"])
        ema.copy_to(target)
    state["path"] = str(path)
    return family.eval(), cfg, state


@contextlib.contextmanager
def restoring_from(path, what: str):
    """Turn the errors of restoring state read from the checkpoint ``path`` (a key it lacks, a
    value of the wrong kind or shape) into one CheckpointError naming the file and ``what``
    could not be done: a file that loads is trusted only as to its format (tinygan.checkpoint)."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, checkpoint.CheckpointError):
            raise
        detail = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else \
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise checkpoint.CheckpointError(f"{path}: {what} ({detail})") from None


def load_weights(module, state: dict, path, model: str) -> None:
    """Load ``state["model"]`` (a checkpoint read from ``path``) into ``module``, the model
    ``model`` -- or raise CheckpointError naming the file, the model, the first key that does
    not fit and, for a wrong shape, both shapes.  Nothing is loaded unless everything fits.

    A checkpoint of another family (its ``config`` says which), or of the same family built
    with other options (a VAE's latent size), is refused here, before ``load_state_dict`` would
    list every key in a message many lines long."""
    weights, config = state.get("model"), state.get("config")
    written_by = config.get("model") if isinstance(config, dict) else None
    family = f"the {model} model" + (f" (it is a {written_by} checkpoint)"
                                     if written_by and written_by != model else "")
    if not isinstance(weights, dict):
        raise checkpoint.CheckpointError(f"{path} does not fit {family}: it holds no model weights")
    own = module.state_dict()
    for key, target in own.items():
        if key not in weights:
            raise checkpoint.CheckpointError(
                f"{path} does not fit {family}: it has no {key} (shape {tuple(target.shape)} in "
                f"the model{_and_more(sum(k not in weights for k in own) - 1, 'missing')})")
        shape = getattr(weights[key], "shape", None)
        if shape is None or tuple(shape) != tuple(target.shape):
            raise checkpoint.CheckpointError(
                f"{path} does not fit {family}: {key} has shape "
                f"{'(none: not an array)' if shape is None else tuple(shape)} in the file, "
                f"{tuple(target.shape)} in the model")
    extra = [k for k in weights if k not in own]
    if extra:
        raise checkpoint.CheckpointError(f"{path} does not fit {family}: it has {extra[0]}, "
                                         "which the model has not"
                                         + _and_more(len(extra) - 1, "not the model's"))
    with restoring_from(path, f"its weights do not fit the {model} model"):
        module.load_state_dict(weights)


def _and_more(count: int, what: str) -> str:
    """``; 3 more keys are missing`` -- how many keys besides the one a message names."""
    if count <= 0:
        return ""
    return f"; {count} more key{'s are' if count != 1 else ' is'} {what}"


# At most this much memory for the images (and noise) of ``sample_run`` and an evaluation: the
# same 4 GiB that tinygan.checkpoint lets a file make ``load`` allocate (it fits in a laptop's
# memory), and never more than the system says is available.  A limit checked before anything
# is drawn, rather than samples streamed to disk in pieces: the noise of n samples is drawn in
# one call, so that n samples of a seed are the first n of any larger number (and those of
# ``tinygan eval`` with that seed); drawing it piecewise would change them.
SAMPLE_MEMORY_LIMIT = 4 << 30
# What an evaluation keeps per sample besides the image and noise: the frozen classifier's
# features (float64, tinygan.metrics.FEATURE_DIM = 128 of them) and its 10 class probabilities.
EVAL_BYTES_PER_SAMPLE = 8 * (128 + 10)


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_sample_memory(family, n: int, extra_per_sample: int = 0) -> None:
    """Refuse (ValueError, with the figures) ``n`` samples of ``family`` whose images and noise
    would take more memory than ``SAMPLE_MEMORY_LIMIT`` or than is available now."""
    shape = family_entry(family).data_shape
    per_sample = 4 * (int(np.prod(shape)) + int(family.latent_dim)) + 8 \
        + extra_per_sample
    need = n * per_sample
    available = _available_memory()
    limit = SAMPLE_MEMORY_LIMIT if available is None else min(SAMPLE_MEMORY_LIMIT, available)
    if need > limit:
        which = f"the {limit / 1e9:.1f} GB available now" if limit < SAMPLE_MEMORY_LIMIT else \
            f"tinygan's limit of {limit / 1e9:.1f} GB"
        raise ValueError(f"n = {n:,} samples would need {need / 1e9:.1f} GB of memory "
                         f"({per_sample:,} bytes each), more than {which}; ask for at most "
                         f"{limit // per_sample:,} at a time")


# What ``--truncation`` means, per family (its class's ``truncation`` attribute), and the
# keyword of its ``generate`` that takes the value.
TRUNCATION_KEYWORDS = {"psi": "truncation_psi", "threshold": "truncation"}


def truncation_kind(family) -> str | None:
    """What ``tinygan sample --truncation T`` means for ``family`` (its ``truncation``):

    - ``"psi"``: StyleGAN's truncation trick in W, w = w_avg + T (w - w_avg) (any finite T; 1
      none, 0 the average w), its generate's ``truncation_psi``;
    - ``"threshold"``: BigGAN's, the entries of z with |z_i| > T resampled (T > 0), its
      generate's ``truncation``;
    - None: the family has no truncation.
    """
    kind = getattr(family, "truncation", None)
    return kind if kind in TRUNCATION_KEYWORDS else None


def takes_truncation(family) -> bool:
    """Whether ``family`` has a truncation trick (``truncation_kind``)."""
    return truncation_kind(family) is not None


def _check_sampling(family, model: str, truncation, truncation_cutoff, label) -> None:
    """Refuse (ValueError) sampling options ``family`` (the model ``model``) has no use for,
    and values out of range -- before anything is drawn."""
    kind = truncation_kind(family)
    if truncation is not None or truncation_cutoff is not None:
        if kind is None:
            flag = "--truncation" if truncation is not None else "--truncation-cutoff"
            raise ValueError(f"{flag}: {model} has no truncation (a model that has: stylegan, "
                             "whose T is psi towards w_avg, and biggan, whose T is a threshold "
                             "on |z|)")
    if truncation is not None and not (isinstance(truncation, (int, float, np.number))
                                       and math.isfinite(truncation)):
        raise ValueError(f"--truncation: {'psi' if kind == 'psi' else 'the threshold'} must be "
                         f"a finite number, got {truncation!r}")
    if kind == "threshold" and truncation is not None and not truncation > 0:
        raise ValueError(f"--truncation: {model}'s truncation is a threshold on |z_i|, which "
                         f"must be > 0, got {truncation!r}")
    if truncation_cutoff is not None:
        if kind == "threshold":
            raise ValueError(f"--truncation-cutoff: {model}'s truncation resamples every entry "
                             "of z beyond the threshold; the cutoff (which ws psi truncates) "
                             "is StyleGAN's")
        if truncation is None:
            raise ValueError(f"--truncation-cutoff {truncation_cutoff}: give --truncation PSI "
                             "too (the cutoff says which ws psi truncates)")
        num_ws = getattr(getattr(getattr(family, "G", None), "mapping", None), "num_ws", None)
        if isinstance(truncation_cutoff, bool) or int(truncation_cutoff) != truncation_cutoff \
                or truncation_cutoff < 0 or (num_ws is not None and truncation_cutoff > num_ws):
            raise ValueError(f"--truncation-cutoff: must be a whole number in [0, "
                             f"{'num_ws' if num_ws is None else num_ws}] (the ws of {model}), "
                             f"got {truncation_cutoff!r}")
    if label is not None:
        if not getattr(family, "conditional", False):
            raise ValueError(f"--label: {model} is not conditional; only a model trained on "
                             "the class labels (cgan, cvae, stylegan --conditional, biggan) "
                             "takes one")
        k = num_classes(family)
        if isinstance(label, bool) or int(label) != label or not 0 <= label < k:
            raise ValueError(f"--label: {model} has classes 0..{k - 1}, got {label!r}")


def sample_run(folder, n: int, seed: int = 0, device="cpu", batch_size: int = 500,
               truncation: float | None = None, truncation_cutoff: int | None = None,
               label: int | None = None) -> dict:
    """``n`` samples of a run: ``{"images": float32 (n, C, H, W) in [-1, 1]}`` plus
    ``"labels"`` int64 (n,) for conditional models (the classes 0..K-1 in turn, or all
    ``label``), or ``"codes"`` for InfoGAN (its categorical code, 0..K-1 in turn).  For a VAE
    the images are its decoder's means at z ~ N(0, I) mapped to [-1, 1] (``family.generate``).

    ``truncation``, for a model that has a truncation trick, means what its ``truncation``
    says (``truncation_kind``): StyleGAN's psi, w = w_avg + psi (w - w_avg) (with
    ``truncation_cutoff``, the number of ws it applies to; None: all), recorded as
    ``"truncation_psi"`` (and ``"truncation_cutoff"``); BigGAN's threshold t, the entries of z
    with |z_i| > t resampled, recorded as ``"truncation_threshold"`` (float64 / int64 0-d).
    ``label``: every sample of that class (a conditional model).  Options the model has no
    use for, and values out of range, are refused (ValueError) before anything is drawn.
    The noise is the same as without the options: only what is done with it changes."""
    if n < 1:
        raise ValueError(f"n must be at least 1 sample, got {n}")
    family, cfg, _ = load_run(folder, device)
    _check_sampling(family, cfg.get("model", "the model"), truncation, truncation_cutoff, label)
    check_sample_memory(family, n)
    random.manual_seed(seed)
    z, classes = class_noise(family, n, device)
    if label is not None:
        classes = np.full(n, int(label), dtype=np.int64)
    lab = None if classes is None else Tensor(backend.to_device(classes, device))
    kind = truncation_kind(family)
    options = {}
    if truncation is not None:
        options[TRUNCATION_KEYWORDS[kind]] = float(truncation)
        if kind == "psi":
            options["truncation_cutoff"] = truncation_cutoff
    images = generate(family, z, lab, batch_size, **options)
    out = {"images": np.clip(images, -1, 1, out=images)}
    if classes is not None:
        out["labels" if getattr(family, "conditional", False) else "codes"] = classes
    if truncation is not None:
        out[f"truncation_{kind}"] = np.array(float(truncation), dtype=np.float64)
        if truncation_cutoff is not None:
            out["truncation_cutoff"] = np.array(int(truncation_cutoff), dtype=np.int64)
    return out


# ----------------------------------------------------------------------------
# running means of the logged values (saved in checkpoints, for bit-exact logs)
# ----------------------------------------------------------------------------
class _Means:
    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, values: dict) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}

    def reset(self) -> None:
        self.sums, self.counts = {}, {}

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])


# ----------------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------------
class _Interrupt:
    """While active, the first Ctrl-C only sets ``requested`` (the loop saves at the end of the
    batch, then raises KeyboardInterrupt); the second one interrupts at once.  Only the main
    thread receives signals, so elsewhere this does nothing."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._old)       # a second Ctrl-C: the usual behaviour
        print("\nCtrl-C: saving a checkpoint after this batch (press again to quit without saving)",
              flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            old = signal.getsignal(signal.SIGINT)
            if callable(old) or old == signal.SIG_DFL:
                self._old = old
                signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


@contextlib.contextmanager
def _second_ctrl_c(last_checkpoint):
    """Give the KeyboardInterrupt of a second Ctrl-C (Python's own, with no message) one that
    says what was kept: ``last_checkpoint()``, the path of the last checkpoint on disk (read
    from the disk: the Ctrl-C may come after a checkpoint was renamed into place, before the
    loop learnt its path)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if exc.args:                  # the loop's own, raised after saving: it says what it saved
            raise
        path = last_checkpoint()
        kept = f"the last checkpoint, {path}, is kept (--resume continues from it)" \
            if path is not None else "no checkpoint had been written yet"
        raise KeyboardInterrupt(f"stopped at once by a second Ctrl-C, without saving; {kept}") from None


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; the run stopped without saving the state that produced it."""


# ----------------------------------------------------------------------------
# what a kind of model brings to the loop
# ----------------------------------------------------------------------------
class Stepper:
    """One kind of model's part of the loop (GANStepper in gan.py, VAEStepper in vae.py).

    ``curve_keys``: the logged values drawn in losses.png; ``summary_keys``: those the loop's
    result and its line per epoch report.
    """

    curve_keys: tuple = ()
    summary_keys: tuple = ()

    def __init__(self, family, cfg: dict):
        self.family, self.cfg = family, cfg

    def step(self, x: Tensor, y: Tensor, check) -> tuple:
        """One update on the real batch ``(x, y)``: ``(logged, stepped)``.

        ``logged``: the values for metrics.jsonl, ``{name: 0-d array}`` on the model's device
        (plain numbers are accepted too) -- never read to the host here: the loop reads them
        at its read points (see the module docstring); ``stepped``: whether ``step`` advanced
        (the loop then updates the EMA and may log).  ``check(value, which)`` must be given
        every loss (a 0-d array or Tensor) the step trains on: the loop checks it for NaN or
        inf at its next read, and raises NonFiniteLossError naming this step.
        """
        raise NotImplementedError

    def postfix(self, last: dict) -> dict:
        """The progress bar's postfix from the latest logged values."""
        return {k: f"{last[k]:.3f}" if k in last else "-" for k in self.summary_keys}

    def state_dict(self) -> dict:
        """Top-level checkpoint entries of this kind (optimizers, its own counters)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError

    def epoch_values(self) -> dict:
        """Extra values for the epoch's metrics.jsonl line (a VAE's test -ELBO)."""
        return {}

    def pictures(self, out: Path, name: str, title: str) -> None:
        """Extra pictures, drawn with the weights the samples use (the EMA's, if any)."""

    def sample_grid(self, fixed: dict, grid: int) -> tuple:
        """``(images, nrow)``: the picture of samples/epoch_NNN.png from the fixed inputs --
        by default the family's samples of the fixed noise, ``grid`` to a row.  A kind whose
        model draws from something else than noise overrides it (CycleGAN's rows of fixed real
        images and their translations, tinygan/train/cyclegan.py)."""
        return generate(self.family, fixed["z"], fixed["labels"]), grid


# ----------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------
def fit(stepper: Stepper, run, loader, fixed: dict, *, model_name: str, dataset: str,
        epochs: int, ema: float | Callable[[int], float] | None = None, resume: bool = False, progress: bool = True,
        max_steps: int | None = None, log_every: int = 50, read_every: int | None = None) -> dict:
    """Run ``stepper``'s updates over ``loader`` for ``epochs`` and keep the run folder.

    ``fixed`` is the fixed noise of the sample grids (``fixed_inputs``); ``run`` the Run.  On
    ``resume`` every piece of state is read back from the run's latest checkpoint.

    ``ema``: None (no EMA), the EMA's fixed beta, or a schedule ``beta(images_seen)`` asked
    for the beta of every update with the images seen before that step's batch (e.g.
    ``tinygan.optim.EMAHalfLife``).  A schedule must be a function of its argument alone --
    built from the run's config -- so a resumed run (whose images count is in the
    checkpoint) gets the same betas; the last one used is the checkpoint's EMA ``beta``.

    ``read_every``: read the pending losses to the host (and refresh the progress bar, and
    check them for NaN) every this many batches at least; default 1 on the CPU, where a
    read costs nothing, and ``DEVICE_READ_EVERY`` on a GPU, where each read waits for the
    device.  It changes no number: the logs, checkpoints and a resume are the same for any
    value (the losses are also read at every log line, epoch end and checkpoint).

    Returns ``{"run", "epochs", "step", "images", "seconds", <summary_keys>, "samples",
    "losses", "checkpoint"}`` (the logged values: means over the last epoch, or the last window).
    """
    keep_freed_memory()     # a training process: tune malloc (kernels/host_memory.py), not on import
    family = stepper.family
    cfg = stepper.cfg
    out = Path(run.folder)
    dev = cfg["device"]
    if read_every is None:
        read_every = 1 if backend.device(dev).type == "cpu" else DEVICE_READ_EVERY
    check_settings(read_every=read_every)
    averaged = ema_module(family)
    ema_beta = ema if callable(ema) else None           # a schedule: each update's beta
    g_ema = None if ema is None else optim.EMA(averaged, beta=ema_beta(0) if ema_beta else ema)

    step = images_seen = 0
    seconds = 0.0
    window, epoch_means = _Means(), _Means()
    last_ckpt = None
    if resume:
        last_ckpt = run.latest_path()
        state = None if last_ckpt is None else checkpoint.load(last_ckpt)
        if state is not None:
            load_weights(family, state, last_ckpt, model_name)
            with restoring_from(last_ckpt, f"can't resume the {model_name} run from it"):
                stepper.load_state_dict(state)
                if g_ema is not None:
                    g_ema.load_state_dict(state["ema"])
                loader.load_state_dict(state["loader"])
                fixed = {"z": Tensor(backend.to_device(state["fixed"]["z"], dev)),
                         "labels": None if state["fixed"]["labels"] is None
                         else Tensor(backend.to_device(state["fixed"]["labels"], dev))}
                step, images_seen = state["step"], state["images"]
                seconds = state["seconds"]
                window.load_state_dict(state["window"])
                epoch_means.load_state_dict(state["epoch_means"])
                random.set_rng_state(state["rng"])
            warn_if_threads_differ(state, last_ckpt, dev)
        run.truncate(images_seen, key="images")

    def snapshot(loader_state) -> dict:
        return dict(model=family.state_dict(), **stepper.state_dict(),
                    ema=None if g_ema is None else g_ema.state_dict(), loader=loader_state,
                    rng=random.get_rng_state(),
                    fixed={k: None if v is None else v.data for k, v in fixed.items()},
                    step=step, images=images_seen, seconds=seconds,
                    window=window.state_dict(), epoch_means=epoch_means.state_dict(), config=cfg,
                    num_threads=threads.get_num_threads())     # see warn_if_threads_differ

    def save(epochs_done: int, loader_state: dict, mid_epoch: bool) -> Path:
        path = run.checkpoint_path(epochs_done, step if mid_epoch else None)
        return checkpoint.save(path, epoch=epochs_done, **snapshot(loader_state))

    grid = family_entry(family).grid

    def draw(name: str, title: str) -> Path:
        images, nrow = stepper.sample_grid(fixed, grid)
        path = save_image_grid(images, out / "samples" / f"{name}.png", nrow=nrow, title=title)
        stepper.pictures(out, name, title)
        return path

    def sampled_weights():
        """The weights the pictures and evaluations use: the EMA's, if the run keeps one."""
        return g_ema.average_parameters(averaged) if g_ema is not None else contextlib.nullcontext()

    def pictures(name: str, title: str) -> Path:
        with sampled_weights():
            path = draw(name, title)
        shutil.copyfile(path, out / "samples.png")
        records = [r for r in run.records() if r.get("type") == "train"] or \
            [r for r in run.records() if r.get("type") == "epoch"] or [{"step": step, **window.means()}]
        plot_curves(records, list(stepper.curve_keys), out / "losses.png",
                    title=f"{model_name} on {dataset}")
        return path

    pending = LossBuffer()
    checked = []               # the losses the step under way gave ``check``

    def check(value, which: str | None = None) -> None:
        """Keep a loss for the NaN check of the next read (no read here)."""
        checked.append((which, value))

    def read() -> None:
        """Read every pending step's values: the NaN check in step order, then the means and
        the progress bar's last values.  A checkpoint is written only after this."""
        range_check.raise_pending()          # the data checks a GPU step left on the device
        for row in pending.read():
            for which, value in row.checked:
                if not math.isfinite(value):
                    kept = f"the last good checkpoint, {last_ckpt}, is kept (--resume continues " \
                        "from it)" if last_ckpt is not None else "no checkpoint had been written yet"
                    loss = f"the {which} loss" if which else "the loss"
                    w = row.where
                    raise NonFiniteLossError(
                        f"{model_name}: {loss} is {value} at step {w['step']} (epoch {w['epoch']}, "
                        f"batch {w['batch']}); stopped without saving this state; {kept}")
            window.add(row.logged)
            epoch_means.add(row.logged)
            last.update(row.logged)

    last = {}
    samples_path = None
    family.train()
    with _Interrupt() as interrupt, _second_ctrl_c(run.latest_path):
        while loader.epoch < epochs and not (max_steps is not None and step >= max_steps):
            epoch = loader.epoch + 1                     # 1-based, the epoch under way
            start = loader.state_dict()["batch"]
            batches = iter(loader)
            # A bar moved by hand, one batch at a time: a bar that wraps the iteration counts a
            # batch only when the next one is asked for, and a stop in mid-epoch left it one short.
            bar = progress_bar(None, desc=f"{model_name} epoch {epoch}/{epochs}",
                               enabled=progress, total=len(loader), initial=start)
            t0, seen0, finished = time.perf_counter(), images_seen, True
            for b, (x, y) in enumerate(batches, start):
                checked.clear()
                where = {"step": step + 1, "epoch": epoch, "batch": b + 1}   # for a NaN's message
                logged, stepped = stepper.step(x, y, check)
                pending.add(logged, checked, **where)
                seen_before, images_seen = images_seen, images_seen + x.shape[0]
                if stepped:
                    if g_ema is not None:
                        if ema_beta is not None:
                            # The reference's cur_nimg: the images seen before this step.
                            g_ema.beta = float(ema_beta(seen_before))
                        g_ema.update()
                    step += 1
                bar.update(1)
                log_now = stepped and step % log_every == 0
                stop = max_steps is not None and step >= max_steps
                # The read points: the bar's refresh, a log line, and what comes before a
                # checkpoint (the epoch's last batch, a stop, Ctrl-C).
                if len(pending) >= read_every or log_now or stop or interrupt.requested \
                        or b + 1 == len(loader):
                    read()
                    bar.set_postfix(refresh=False, **stepper.postfix(last),
                                    img_s=f"{(images_seen - seen0) / max(time.perf_counter() - t0, 1e-9):.0f}")
                if log_now:
                    run.log({"type": "train", "epoch": epoch, "step": step, "images": images_seen,
                             **window.means()})
                    window.reset()
                if (interrupt.requested or stop) and b + 1 < len(loader):
                    # Stop in the middle of the epoch: the loader's position is read while the
                    # iteration is still under way (it forgets it once the loop is left).
                    read()      # (a Ctrl-C that came after this batch's read point)
                    seconds += time.perf_counter() - t0
                    last_ckpt = save(epoch - 1, loader.state_dict(), mid_epoch=True)
                    if interrupt.requested:
                        raise KeyboardInterrupt(f"interrupted at step {step}; saved {last_ckpt} "
                                                "(--resume continues from it)")
                    samples_path = pictures(f"epoch_{epoch - 1:03d}_step_{step:06d}",
                                            f"{model_name}, step {step}")
                    finished = False
                    break
            bar.close()
            if not finished:
                break
            read()              # (nothing is pending: the last batch was a read point)
            # End of the epoch: log, checkpoint, pictures.
            dt = time.perf_counter() - t0
            seconds += dt
            means = epoch_means.means()
            epoch_means.reset()
            with sampled_weights():
                extra = stepper.epoch_values()
            run.log({"type": "epoch", "epoch": epoch, "step": step, "images": images_seen, **means,
                     **extra, "seconds": round(seconds, 2),
                     "images_per_s": round((images_seen - seen0) / max(dt, 1e-9), 1)})
            last_ckpt = save(epoch, loader.state_dict(), mid_epoch=False)
            samples_path = pictures(f"epoch_{epoch:03d}", f"{model_name}, epoch {epoch}")
            last = dict(means)
            if progress:
                shown = {**means, **extra}
                values = ", ".join(f"{k} {shown[k]:.3f}" for k in (*stepper.summary_keys, *extra)
                                   if k in shown)
                print(f"epoch {epoch}: {values}; {seconds:.0f} s; samples in {samples_path}", flush=True)
            if interrupt.requested:
                raise KeyboardInterrupt(f"interrupted after epoch {epoch}; saved {last_ckpt} "
                                        "(--resume continues from it)")

    if samples_path is None and last_ckpt is not None:    # a resumed run that had nothing left to do
        samples_path = out / "samples.png"
    return {"run": str(out), "epochs": loader.epoch, "step": step, "images": images_seen,
            "seconds": round(seconds, 2), **{k: last.get(k) for k in stepper.summary_keys},
            "samples": None if samples_path is None else str(samples_path),
            "losses": str(out / "losses.png"), "checkpoint": None if last_ckpt is None else str(last_ckpt)}


__all__ = ["TIMING_KEYS", "NonFiniteLossError", "Stepper", "fit",
           "family_registry", "build_family", "family_entry", "is_vae", "ema_module", "make_optimizer",
           "num_classes", "class_noise", "fixed_inputs", "sampling", "generate", "load_run", "sample_run",
           "load_weights", "restoring_from", "check_settings", "takes_truncation", "truncation_kind", "check_sample_memory",
           "SAMPLE_MEMORY_LIMIT", "EVAL_BYTES_PER_SAMPLE", "is_pretrained", "run_config"]
