"""One training loop for every GAN family: ``tinygan train gan|dcgan|cgan|infogan|wgan|wgan_gp``.

The loop knows a family only through ``tinygan.models.base.GANFamily``: for every real
batch it takes one discriminator (critic) step with ``d_loss``, and after every
``n_critic``-th D step one generator step with ``g_loss`` (WGAN, Arjovsky et al. 2017,
Algorithm 1; ``n_critic = 1`` is the alternating update of Goodfellow et al. 2014,
Algorithm 1).  Each D step sees its own real batch, so an epoch is one pass over the data
for D, and ``len(loader) / n_critic`` generator steps.

- Two optimizers from ``family.defaults`` (``"adam"`` with its betas, or ``"rmsprop"``)
  with separate learning rates for G and D (TTUR, Heusel et al. 2017); the command line
  can override them, ``n_critic`` and the batch size.
- ``--ema BETA``: an exponential moving average of G's weights (``tinygan.optim.EMA``),
  which the sample grids, ``tinygan sample`` and ``tinygan eval`` use.
- The run folder (``tinygan.train.run.Run``)::

      config.json, metrics.jsonl, losses.png, samples.png (the latest grid),
      samples/epoch_NNN.png       the same fixed noise after every epoch (10 x 10; one row
                                  per class for conditional models and InfoGAN's code)
      checkpoints/epoch_NNN.npz   after every epoch; epoch_NNN_step_SSSSSS.npz on Ctrl-C or
                                  at ``max_steps`` in the middle of an epoch

- Step counting: ``step`` is the number of generator updates (the papers' "iterations"),
  ``images`` the number of real images the discriminator has seen; metrics.jsonl has both.
- ``resume=True`` continues from the latest checkpoint bit for bit: it restores the weights
  and buffers, both optimizers, the EMA, the DataLoader's position (also inside an epoch),
  tinygan's random generator, the fixed noise, the counters and the running means of the
  logged losses, so the weights and logged losses equal those of an unbroken run.
  (On the CPU.  On a GPU, CuPy's generator state is not saved: a resumed GPU run draws
  different noise from the one it would have drawn.)
- A NaN or inf in a loss stops the run *before* the update that would spread it, with an
  error naming the step and the loss; nothing is saved, so the last checkpoint stays good.
- Ctrl-C: the current batch is finished, a checkpoint written, then ``KeyboardInterrupt``
  raised (the CLI exits with 130).  A second Ctrl-C stops at once without saving.
"""
from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np

from .. import backend, checkpoint, optim, random
from ..autograd import Tensor, no_grad
from ..data import Compose, DataLoader, get_dataset, normalize, to_float
from ..viz import plot_curves, save_image_grid
from .classifier import fast_mode
from .progress import progress_bar
from .run import Run

DEFAULT_EPOCHS = 5
FAST_IMAGES = 512          # TINYGAN_FAST=1: train on this many images
GRID = 10                  # sample grids are GRID x GRID
NUM_CLASSES = 10
TIMING_KEYS = ("seconds", "images_per_s")    # the only logged values that differ between runs


# ----------------------------------------------------------------------------
# families
# ----------------------------------------------------------------------------
def family_registry() -> dict:
    """``tinygan.models.FAMILIES``: name -> GANFamily class ({} until the families exist)."""
    from .. import models
    return dict(getattr(models, "FAMILIES", {}))


def build_family(name: str):
    families = family_registry()
    if name not in families:
        raise KeyError(f"unknown GAN family {name!r}; known: {', '.join(families) or 'none'}")
    return families[name]()


def make_optimizer(params, kind: str, lr: float, defaults: dict):
    """``"adam"`` (with ``defaults["betas"]``) or ``"rmsprop"`` over ``params``."""
    if kind == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(defaults.get("betas") or (0.9, 0.999)))
    if kind == "rmsprop":
        extra = {k: defaults[k] for k in ("alpha", "eps") if k in defaults}
        return optim.RMSprop(params, lr=lr, **extra)
    raise ValueError(f"unknown optimizer {kind!r} in the family's defaults (adam or rmsprop)")


def num_classes(family) -> int:
    return int(getattr(family, "num_classes", getattr(family, "n_cat", NUM_CLASSES)))


def class_noise(family, n: int, device) -> tuple:
    """``(z, classes)``: the generator's input for n samples whose class is known, or
    ``(z, None)`` for an unconditional family.

    A family whose ``sample_noise`` gives labels draws one sample per class from them: cgan's
    class labels, InfoGAN's categorical code (the convention of tinygan.models: ``labels`` is
    the categorical code there, with ``conditional = False`` since D never sees data labels).
    The classes are set to 0, 1, ..., K-1, 0, 1, ... (int64 (n,), on the CPU), so every class
    gets n/K samples.
    """
    z, labels = family.sample_noise(n, device=device)
    if labels is None:
        return z, None
    return z, np.arange(n, dtype=np.int64) % num_classes(family)


def fixed_inputs(family, device) -> dict:
    """The fixed noise of the sample grids, drawn once: ``{"z": Tensor, "labels": Tensor|None}``.

    GRID x GRID samples; for conditional models and InfoGAN's categorical code, row r holds
    class (code) r.
    """
    z, classes = class_noise(family, GRID * GRID, device)
    if classes is None:
        return {"z": z, "labels": None}
    rows = np.repeat(np.arange(GRID), GRID) % num_classes(family)
    return {"z": z, "labels": Tensor(backend.to_device(rows, device))}


def generate(family, z, labels=None, batch_size: int = 500) -> np.ndarray:
    """``family.generate`` under no_grad, in batches: float32 (N, 1, 28, 28) on the CPU.

    BatchNorm layers normalize with the statistics of the batch being generated (train mode),
    as in the PyTorch DCGAN example, not with their running averages: those lag behind a
    generator that is still changing (early in training they give washed-out grey samples) and
    belong to G's live weights, not to the EMA's averaged ones.  The running averages, the
    random generator and the module's mode are restored afterwards, so sampling has no effect
    on training (and a resumed run stays bit-exact).
    """
    was_training = family.training
    buffers = [(b, b.data.copy()) for _, b in family.named_buffers()]
    rng = random.get_rng_state()
    family.train()
    out = []
    try:
        with no_grad():
            for a in range(0, z.shape[0], batch_size):
                lab = None if labels is None else labels[a:a + batch_size]
                x = family.generate(z[a:a + batch_size], lab)
                out.append(np.asarray(backend.to_device(x.data, "cpu"), dtype=np.float32))
    finally:
        for b, saved in buffers:
            b.data[...] = saved
        random.set_rng_state(rng)
        family.train(was_training)
    return np.concatenate(out)


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


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; the run stopped without saving the state that produced it."""


# ----------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------
def train_gan(model_name: str, dataset: str = "mnist", out=None, epochs: int | None = None,
              batch_size: int | None = None, seed: int = 0, device="cpu", resume: bool = False,
              ema: float | None = None, lr_g: float | None = None, lr_d: float | None = None,
              n_critic: int | None = None, progress: bool = True, max_steps: int | None = None,
              log_every: int | None = None) -> dict:
    """Train the GAN family ``model_name`` and write its run folder (see the module docstring).

    Args:
        model_name: a key of ``tinygan.models.FAMILIES``.
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        out: the run folder (default ``runs/<model>-<dataset>``).
        epochs: passes over the data (default the family's, else 5).
        batch_size, lr_g, lr_d, n_critic: override ``family.defaults``.
        seed: seeds tinygan's generator (initial weights, noise) and the data order.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        resume: continue the run in ``out`` from its latest checkpoint.
        ema: keep an EMA of G's weights with this beta and sample from it.
        progress: the tqdm bar and a line per epoch.
        max_steps: stop after this many generator steps in total (a checkpoint is written).
        log_every: a metrics.jsonl line every this many generator steps (default 50; 2 with
            TINYGAN_FAST=1).

    Returns:
        ``{"run", "epochs", "step", "images", "seconds", "d_loss", "g_loss", "samples",
        "losses", "checkpoint"}`` (the losses: means over the last epoch, or the last window).
    """
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    family = build_family(model_name).to(dev)
    d = dict(family.defaults)
    fast = fast_mode()
    cfg = dict(model=model_name, dataset=dataset, seed=int(seed), device=dev, fast=fast,
               epochs=int(epochs if epochs is not None else d.get("epochs", DEFAULT_EPOCHS)),
               batch_size=int(batch_size or d.get("batch_size", 64)),
               optimizer=d.get("optimizer", "adam"),
               lr_g=float(lr_g if lr_g is not None else d["lr_g"]),
               lr_d=float(lr_d if lr_d is not None else d["lr_d"]),
               betas=None if d.get("betas") is None else list(d["betas"]),
               n_critic=int(n_critic or d.get("n_critic", 1)),
               ema=None if ema is None else float(ema))
    log_every = int(log_every or (2 if fast else 50))
    out = Path(out or f"runs/{model_name}-{dataset}")
    run = Run(out, cfg, resume=resume, exist_ok=False)

    # Everything that draws random numbers is made in the same order on a fresh start and on a
    # resume (the family above, the fixed noise here); a resume then overwrites it all.
    fixed = fixed_inputs(family, dev)
    train_set = get_dataset(dataset, train=True)
    images, labels = train_set.data, train_set.targets
    if fast:
        images, labels = images[:FAST_IMAGES], labels[:FAST_IMAGES]
    loader = DataLoader((images, labels), batch_size=cfg["batch_size"], shuffle=True, drop_last=True,
                        seed=cfg["seed"], device=dev, transform=Compose([to_float, normalize]))
    if len(loader) == 0:
        raise ValueError(f"batch size {cfg['batch_size']} is larger than the {len(images)} images")
    opt_g = make_optimizer(family.g_parameters(), cfg["optimizer"], cfg["lr_g"], d)
    opt_d = make_optimizer(family.d_parameters(), cfg["optimizer"], cfg["lr_d"], d)
    g_ema = optim.EMA(family.G, beta=cfg["ema"]) if cfg["ema"] is not None else None

    step = d_steps = images_seen = 0
    seconds = 0.0
    window, epoch_means = _Means(), _Means()
    last_ckpt = None
    if resume:
        state = run.latest()
        last_ckpt = run.latest_path()
        if state is not None:
            family.load_state_dict(state["model"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            if g_ema is not None:
                g_ema.load_state_dict(state["ema"])
            loader.load_state_dict(state["loader"])
            fixed = {"z": Tensor(backend.to_device(state["fixed"]["z"], dev)),
                     "labels": None if state["fixed"]["labels"] is None
                     else Tensor(backend.to_device(state["fixed"]["labels"], dev))}
            step, d_steps, images_seen = state["step"], state["d_steps"], state["images"]
            seconds = state["seconds"]
            window.load_state_dict(state["window"])
            epoch_means.load_state_dict(state["epoch_means"])
            random.set_rng_state(state["rng"])
        run.truncate(images_seen, key="images")

    def snapshot(loader_state) -> dict:
        return dict(model=family.state_dict(), opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(),
                    ema=None if g_ema is None else g_ema.state_dict(), loader=loader_state,
                    rng=random.get_rng_state(),
                    fixed={k: None if v is None else v.data for k, v in fixed.items()},
                    step=step, d_steps=d_steps, images=images_seen, seconds=seconds,
                    window=window.state_dict(), epoch_means=epoch_means.state_dict(), config=cfg)

    def save(epochs_done: int, loader_state: dict, mid_epoch: bool) -> Path:
        path = run.checkpoint_path(epochs_done, step if mid_epoch else None)
        return checkpoint.save(path, epoch=epochs_done, **snapshot(loader_state))

    def pictures(name: str, title: str) -> Path:
        z, lab = fixed["z"], fixed["labels"]
        if g_ema is not None:
            with g_ema.average_parameters(family.G):
                grid = generate(family, z, lab)
        else:
            grid = generate(family, z, lab)
        path = save_image_grid(grid, out / "samples" / f"{name}.png", nrow=GRID, title=title)
        shutil.copyfile(path, out / "samples.png")
        records = [r for r in run.records() if r.get("type") == "train"] or \
            [r for r in run.records() if r.get("type") == "epoch"] or [{"step": step, **window.means()}]
        plot_curves(records, ["d_loss", "g_loss"], out / "losses.png",
                    title=f"{model_name} on {dataset}")
        return path

    def check(value: float, which: str, epoch: int, batch: int) -> None:
        if not math.isfinite(value):
            kept = f"the last good checkpoint, {last_ckpt}, is kept (--resume continues from it)" \
                if last_ckpt is not None else "no checkpoint had been written yet"
            raise NonFiniteLossError(
                f"{model_name}: the {which} loss is {value} at step {step + 1} "
                f"(epoch {epoch}, batch {batch + 1}); stopped without saving this state; {kept}")

    n_crit = cfg["n_critic"]
    last = {}
    samples_path = None
    family.train()
    with _Interrupt() as interrupt:
        while loader.epoch < cfg["epochs"] and not (max_steps is not None and step >= max_steps):
            epoch = loader.epoch + 1                     # 1-based, the epoch under way
            start = loader.state_dict()["batch"]
            batches = iter(loader)
            bar = progress_bar(batches, desc=f"{model_name} epoch {epoch}/{cfg['epochs']}",
                               enabled=progress, total=len(loader), initial=start)
            t0, seen0, finished = time.perf_counter(), images_seen, True
            for b, (x, y) in enumerate(bar, start):
                lab = y if getattr(family, "conditional", False) else None
                # D (critic) step on this real batch.
                loss_d, stats_d = family.d_loss(x, lab)
                value = loss_d.item()
                check(value, "d", epoch, b)
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                family.after_d_step()
                d_steps += 1
                images_seen += x.shape[0]
                logged = {**stats_d, "d_loss": value}
                # G step after every n_critic-th D step.
                if d_steps % n_crit == 0:
                    loss_g, stats_g = family.g_loss(x.shape[0], lab)
                    value = loss_g.item()
                    check(value, "g", epoch, b)
                    opt_g.zero_grad()
                    loss_g.backward()
                    opt_g.step()
                    if g_ema is not None:
                        g_ema.update()
                    step += 1
                    logged.update(stats_g, g_loss=value)
                window.add(logged)
                epoch_means.add(logged)
                last.update(logged)
                bar.set_postfix(refresh=False, d=f"{last['d_loss']:.3f}",
                                g=f"{last['g_loss']:.3f}" if "g_loss" in last else "-",
                                img_s=f"{(images_seen - seen0) / max(time.perf_counter() - t0, 1e-9):.0f}")
                if "g_loss" in logged and step % log_every == 0:
                    run.log({"type": "train", "epoch": epoch, "step": step, "images": images_seen,
                             **window.means()})
                    window.reset()
                stop = max_steps is not None and step >= max_steps
                if (interrupt.requested or stop) and b + 1 < len(loader):
                    # Stop in the middle of the epoch: the loader's position is read while the
                    # iteration is still under way (it forgets it once the loop is left).
                    seconds += time.perf_counter() - t0
                    last_ckpt = save(epoch - 1, loader.state_dict(), mid_epoch=True)
                    if interrupt.requested:
                        raise KeyboardInterrupt(f"interrupted at step {step}; saved {last_ckpt}")
                    samples_path = pictures(f"epoch_{epoch - 1:03d}_step_{step:06d}",
                                            f"{model_name}, step {step}")
                    finished = False
                    if hasattr(bar, "n"):             # tqdm counts an item when the next is asked for
                        bar.n = b + 1
                        bar.refresh()
                    break
            bar.close()
            if not finished:
                break
            # End of the epoch: log, checkpoint, pictures.
            dt = time.perf_counter() - t0
            seconds += dt
            means = epoch_means.means()
            epoch_means.reset()
            run.log({"type": "epoch", "epoch": epoch, "step": step, "images": images_seen, **means,
                     "seconds": round(seconds, 2),
                     "images_per_s": round((images_seen - seen0) / max(dt, 1e-9), 1)})
            last_ckpt = save(epoch, loader.state_dict(), mid_epoch=False)
            samples_path = pictures(f"epoch_{epoch:03d}", f"{model_name}, epoch {epoch}")
            last = dict(means)
            if progress:
                losses = ", ".join(f"{k} {means[k]:.3f}" for k in ("d_loss", "g_loss") if k in means)
                print(f"epoch {epoch}: {losses}; {seconds:.0f} s; samples in {samples_path}", flush=True)
            if interrupt.requested:
                raise KeyboardInterrupt(f"interrupted after epoch {epoch}; saved {last_ckpt}")

    if samples_path is None and last_ckpt is not None:    # a resumed run that had nothing left to do
        samples_path = out / "samples.png"
    return {"run": str(out), "epochs": loader.epoch, "step": step, "images": images_seen,
            "seconds": round(seconds, 2), "d_loss": last.get("d_loss"), "g_loss": last.get("g_loss"),
            "samples": None if samples_path is None else str(samples_path),
            "losses": str(out / "losses.png"), "checkpoint": None if last_ckpt is None else str(last_ckpt)}


# ----------------------------------------------------------------------------
# using a trained run: tinygan sample, tinygan eval
# ----------------------------------------------------------------------------
def load_run(folder, device="cpu") -> tuple:
    """``(family, config, state)`` of a run's latest checkpoint; the family in eval mode, holding
    the EMA generator's weights when the run kept one."""
    run = Run.open(folder)
    cfg = run.config
    path = run.latest_path()
    if path is None:
        raise FileNotFoundError(f"{run.folder} has no checkpoint yet")
    state = checkpoint.load(path)
    family = build_family(cfg["model"]).to(device)
    family.load_state_dict(state["model"])
    if state.get("ema") is not None:
        g_ema = optim.EMA(family.G, beta=float(state["ema"]["beta"]))
        g_ema.load_state_dict(state["ema"])
        g_ema.copy_to(family.G)
    state["path"] = str(path)
    return family.eval(), cfg, state


def sample_run(folder, n: int, seed: int = 0, device="cpu", batch_size: int = 500) -> dict:
    """``n`` samples of a run: ``{"images": float32 (n, 1, 28, 28) in [-1, 1]}`` plus
    ``"labels"`` int64 (n,) for conditional models (the classes 0..9 in turn), or ``"codes"``
    for InfoGAN (its categorical code, 0..9 in turn)."""
    family, cfg, _ = load_run(folder, device)
    random.manual_seed(seed)
    z, classes = class_noise(family, n, device)
    lab = None if classes is None else Tensor(backend.to_device(classes, device))
    out = {"images": np.clip(generate(family, z, lab, batch_size), -1, 1)}
    if classes is not None:
        out["labels" if getattr(family, "conditional", False) else "codes"] = classes
    return out


def evaluate_run(folder, n: int = 10_000, seed: int = 0, device="cpu", classifier=None,
                 log: bool = True, reference: bool = False) -> dict:
    """FID against the real test images, classifier score, and where they apply cgan's label
    accuracy and InfoGAN's code accuracy, of ``n`` samples of a run's latest checkpoint.

    Appends ``{"type": "eval", ...}`` to the run's metrics.jsonl when ``log``.  With
    ``reference``, also ``"reference"``: the same figures for real training images (FID of
    ``n`` training images against the test set, classifier score of the test images).
    """
    from .. import metrics
    if n < metrics.FEATURE_DIM:
        metrics._check_enough(n, metrics.FEATURE_DIM)        # the error names both numbers
    family, cfg, state = load_run(folder, device)
    dataset = cfg["dataset"]
    clf = classifier if classifier is not None else metrics.load_classifier(dataset)
    test = metrics.real_images(dataset, train=False, n=1000 if fast_mode() else None)
    test_feats, test_probs = metrics.classifier_outputs(test, clf)
    test_stats = metrics.feature_statistics(test_feats)

    random.manual_seed(seed)
    result: dict = {}
    z, classes = class_noise(family, n, device)
    images = generate(family, z, None if classes is None else Tensor(backend.to_device(classes, device)))
    feats, probs = metrics.classifier_outputs(images, clf)
    result["fid"] = metrics.frechet_distance(*metrics.feature_statistics(feats), *test_stats)
    result["classifier_score"] = metrics.classifier_score_from_probs(probs)
    result["n_samples"] = int(n)
    if getattr(family, "conditional", False):
        result["label_accuracy"] = float((probs.argmax(1) == classes).mean())
    elif classes is not None:
        result["code_accuracy"] = metrics.best_mapping_accuracy(classes, probs.argmax(1),
                                                                 num_classes(family))[0]
    if log:
        with open(Path(folder) / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"type": "eval", "epoch": state["epoch"], "step": state["step"],
                                "images": state["images"], **result}) + "\n")
    if reference:
        train = metrics.real_images(dataset, train=True, n=n)
        result["reference"] = {
            "fid": metrics.fid(train, test_stats, clf),
            "classifier_score": metrics.classifier_score_from_probs(test_probs),
            "n_samples": int(min(n, len(train)))}
    return result


__all__ = ["train_gan", "build_family", "family_registry", "make_optimizer", "fixed_inputs",
           "class_noise", "num_classes", "generate", "load_run", "sample_run", "evaluate_run",
           "NonFiniteLossError"]
