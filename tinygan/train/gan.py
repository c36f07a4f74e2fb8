"""Training every GAN family: ``tinygan train gan|dcgan|cgan|infogan|wgan|wgan_gp``.

The loop itself -- run folder, progress bar, logs, checkpoints, resume, NaN stop, Ctrl-C,
EMA -- is shared with the VAEs (tinygan/train/loop.py); what is a GAN's is ``GANStepper``
here.  It knows a family only through ``tinygan.models.base.GANFamily``: for every real
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
  logged losses, so the weights and logged losses equal those of an unbroken run (on a GPU
  too: its generator's state is the same (seed, offset), see tinygan.random).
- The losses stay on the device (0-d arrays) and are read to the host at the loop's read
  points (tinygan/train/loop.py); a NaN or inf in a loss stops the run at the read that finds
  it, with an error naming the first bad step and the loss; nothing is saved, so the last
  checkpoint stays good.
- Ctrl-C: the current batch is finished, a checkpoint written, then ``KeyboardInterrupt``
  raised (the CLI exits with 130).  A second Ctrl-C stops at once without saving.
"""
from __future__ import annotations

from pathlib import Path

from .. import backend, random
from ..data import Compose, ToShape, normalize, to_float
from ..models import registry
from .loop import Stepper, training_loader, build_family, check_settings, family_entry, fit, fixed_inputs, make_optimizer
from .run import Run
from .settings import FAST_LOG_EVERY, LOG_EVERY, fast_mode


EPOCHS = 5          # when the family's recipe names none


class GANStepper(Stepper):
    """A D (critic) step on every real batch; a G step after every ``n_critic``-th D step."""

    curve_keys = ("d_loss", "g_loss")
    summary_keys = ("d_loss", "g_loss")

    def __init__(self, family, cfg: dict):
        super().__init__(family, cfg)
        d = family_entry(family).recipe
        self.opt_g = make_optimizer(family.g_parameters(), cfg["optimizer"], cfg["lr_g"], d)
        self.opt_d = make_optimizer(family.d_parameters(), cfg["optimizer"], cfg["lr_d"], d)
        self.d_steps = 0

    def step(self, x, y, check) -> tuple:
        family = self.family
        lab = y if getattr(family, "conditional", False) else None
        # D (critic) step on this real batch.
        loss_d, stats_d = family.d_loss(x, lab)
        value = loss_d.data                  # a 0-d array on the device: read by the loop, later
        check(value, "d")
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        family.after_d_step()
        self.d_steps += 1
        logged = {**stats_d, "d_loss": value}
        if self.d_steps % self.cfg["n_critic"] != 0:
            return logged, False
        # G step after every n_critic-th D step.
        loss_g, stats_g = self.generator_loss(x.shape[0], lab)
        value = loss_g.data
        check(value, "g")
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        logged.update(stats_g, g_loss=value)
        return logged, True

    def generator_loss(self, n: int, labels) -> tuple:
        """The loss of the G step: the family's ``g_loss``.  A kind that adds a regularizer
        to G's objective (BigGAN's orthogonal regularization, tinygan/train/biggan.py)
        overrides this and nothing else of the step."""
        return self.family.g_loss(n, labels)

    def postfix(self, last: dict) -> dict:
        return {"d": f"{last['d_loss']:.3f}",
                "g": f"{last['g_loss']:.3f}" if "g_loss" in last else "-"}

    def state_dict(self) -> dict:
        return dict(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(), d_steps=self.d_steps)

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.d_steps = state["d_steps"]


def train_gan(model_name: str, dataset: str = "mnist", out=None, epochs: int | None = None,
              batch_size: int | None = None, seed: int = 0, device="cpu", resume: bool = False,
              ema: float | None = None, lr_g: float | None = None, lr_d: float | None = None,
              n_critic: int | None = None, progress: bool = True, max_steps: int | None = None,
              log_every: int | None = None, force: bool = False,
              read_every: int | None = None) -> dict:
    """Train the GAN family ``model_name`` and write its run folder (see the module docstring).

    Args:
        model_name: a GAN of ``tinygan.models.registry.REGISTRY`` (``tinygan.models.FAMILIES``).
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        out: the run folder (default ``runs/<model>-<dataset>``).
        epochs: passes over the data (default the registry entry's recipe).
        batch_size, lr_g, lr_d, n_critic: override the entry's recipe.
        seed: seeds tinygan's generator (initial weights, noise) and the data order.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        resume: continue the run in ``out`` from its latest checkpoint.
        ema: keep an EMA of G's weights with this beta and sample from it.
        progress: the tqdm bar and a line per epoch.
        max_steps: stop after this many generator steps in total (a checkpoint is written).
        log_every: a metrics.jsonl line every this many generator steps (default 50; 2 with
            TINYGAN_FAST=1).
        force: start afresh in ``out`` even if it holds a run's files (they are removed);
            without it such a folder is refused (FileExistsError).
        read_every: read the losses to the host every this many batches (``fit``; default
            every batch on the CPU, ``DEVICE_READ_EVERY`` on a GPU); it changes no number.

    Every setting is checked, and the data set read, before the run folder is written: a run
    that can't start leaves nothing behind.

    Returns:
        ``{"run", "epochs", "step", "images", "seconds", "d_loss", "g_loss", "samples",
        "losses", "checkpoint"}`` (the losses: means over the last epoch, or the last window).
    """
    entry = registry.REGISTRY.get(model_name)
    if entry is not None and entry.kind != "gan":
        raise ValueError(f"train_gan: {model_name!r} is a {entry.kind.upper()}; train it with "
                         f"tinygan.train.kinds.KINDS[{entry.kind!r}].train (or the command "
                         "tinygan train)")
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    family = build_family(model_name).to(dev)
    d = dict(family_entry(family).recipe)
    fast = fast_mode()
    counts = dict(epochs=epochs if epochs is not None else d.get("epochs", EPOCHS),
                  batch_size=batch_size if batch_size is not None else d.get("batch_size", 64),
                  n_critic=n_critic if n_critic is not None else d.get("n_critic", 1))
    check_settings(**counts, max_steps=max_steps, read_every=read_every, ema=ema)
    cfg = dict(model=model_name, dataset=dataset, seed=int(seed), device=dev, fast=fast,
               epochs=int(counts["epochs"]), batch_size=int(counts["batch_size"]),
               optimizer=d.get("optimizer", "adam"),
               lr_g=float(lr_g if lr_g is not None else d["lr_g"]),
               lr_d=float(lr_d if lr_d is not None else d["lr_d"]),
               betas=None if d.get("betas") is None else list(d["betas"]),
               n_critic=int(counts["n_critic"]),
               ema=None if ema is None else float(ema))
    log_every = int(log_every or (FAST_LOG_EVERY if fast else LOG_EVERY))
    out = Path(out or f"runs/{model_name}-{dataset}")

    # Everything that draws random numbers is made in the same order on a fresh start and on a
    # resume (the family above, the fixed noise here); a resume then overwrites it all.
    fixed = fixed_inputs(family, dev)
    # Served in the shape of the family's registry entry: 28x28 digits padded with the black
    # background (-1 after normalize) to a larger entry, gray repeated for 3 channels.
    shape = ToShape(family_entry(family).data_shape, fill=-1.0)
    loader = training_loader(dataset, cfg, Compose([to_float, normalize, shape]))
    stepper = GANStepper(family, cfg)                  # its optimizers check the learning rates
    run = Run(out, cfg, resume=resume, force=force)     # only now: nothing is left of a failed start
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=cfg["ema"], resume=resume, progress=progress,
               max_steps=max_steps, log_every=log_every, read_every=read_every)


__all__ = ["train_gan", "GANStepper"]
