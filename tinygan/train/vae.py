"""Training and evaluating the VAEs: ``tinygan train vae|conv_vae|beta_vae|cvae``.

The loop is the one every family shares (tinygan/train/loop.py: run folder, progress bar,
metrics.jsonl, losses.png, sample grids from fixed noise, a checkpoint per epoch and on
Ctrl-C, bit-exact ``--resume``, the NaN stop, ``--ema``); what is a VAE's is ``VAEStepper``:
one Adam step (lr 1e-3, batch 128 by default) per batch on ``family.loss`` -- the negative
ELBO (Kingma & Welling 2014, eq. 3), beta-weighted or capacity-annealed for beta_vae.

Data.  The training images in [0, 1] (``to_float``); for the Bernoulli decoder (the default)
each batch is *dynamically binarized*, a fresh Bernoulli draw per batch from tinygan's seeded
generator (``tinygan.data.binarize``) -- the generator's state is in every checkpoint, so a
resumed run draws the same binarizations as an unbroken one.  ``likelihood="gaussian"`` trains
on the grey levels themselves.  The *test* digits are binarized once, with a fixed seed
(``TEST_BINARIZATION_SEED``), so every evaluation of every run sees the same binary test set.

The run folder holds, besides what every run has (config.json, metrics.jsonl, losses.png,
samples.png and samples/epoch_NNN.png: 10 x 10 prior samples from fixed noise, the decoder's
mean; for cvae row r is digit r; checkpoints/), these pictures, redrawn at the end of every
epoch (they cost a few forward passes; the scatter one pass over the test digits):

    reconstructions.png   test digits (rows 1, 3, 5, 7) above their reconstructions, the
                          decoder's mean at the posterior mean (rows 2, 4, 6, 8)
    interpolation.png     five pairs of test digits, and ten decodings of the straight line
                          between their posterior means (cvae: the one-hot label is
                          interpolated too)
    latent_scatter.png    only when latent_dim == 2: the posterior means of the test digits,
                          coloured by digit (Kingma & Welling 2014, fig. 4's view)
    traversals.png        beta_vae only: each latent, most informative (largest KL) first,
                          swept over [-3, 3] around a test digit's posterior mean

metrics.jsonl's epoch lines add ``test_neg_elbo``: the -ELBO (beta = 1, nats per image) of the
fixed binarized test digits (the first 500 with TINYGAN_FAST=1), with noise drawn from a
generator of its own so training's random stream is untouched.

``evaluate_vae_run`` (``tinygan eval RUN``): -ELBO and the IWAE estimate of -log p(x)
(Burda et al. 2016, eq. 8, k importance samples, default 100) on the test set, and the FID
and classifier score of samples from the prior (tinygan.metrics, as for the GANs).
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor, no_grad
from ..data import Compose, ToShape, binarize, get_dataset, to_float, to_shape
from ..models import registry
from ..viz import plot_latent_scatter, save_image_grid, save_image_rows
from .loop import Stepper, training_loader, build_family, check_settings, family_entry, fit, fixed_inputs, make_optimizer
from .run import Run
from .settings import FAST_EVAL_IMAGES, FAST_LOG_EVERY, LOG_EVERY, fast_mode

EPOCHS = 10                   # when the family's recipe names none
FAST_TEST_IMAGES = 500        # TINYGAN_FAST=1: draw pictures / the per-epoch test -ELBO from this many
TEST_BINARIZATION_SEED = 0    # the fixed binarization of the test set (numpy PCG64 seed)
EPS_SEED = 1                  # the noise of the per-epoch test -ELBO
IWAE_K = 100                  # importance samples of the IWAE estimate (Burda et al. 2016, Table 1)
IWAE_IMAGES = 100             # test digits per IWAE batch
IWAE_ROWS = 2000              # at most this many decoder inputs per call (memory)
TRAVERSAL = (-3.0, 3.0, 11)   # latent traversals: the sweep's range and number of steps


def evaluation_images(dataset: str, likelihood: str, n: int | None = None,
                      shape=(1, 28, 28)) -> tuple:
    """``(x, labels)`` of the test split: float32 (n, *shape) in [0, 1], int64 (n,), on the CPU.

    ``shape`` is the (C, H, W) of the model's registry entry (``to_shape``: padded with the
    black background, 0 here, gray repeated for more channels).

    For the Bernoulli likelihood the digits are binarized once with the fixed seed
    ``TEST_BINARIZATION_SEED`` (so every evaluation sees the same binary test set); for the
    Gaussian one they keep their grey levels.
    """
    test = get_dataset(dataset, train=False)
    images, labels = test.data, test.targets
    if n is not None:
        images, labels = images[:n], labels[:n]
    x = to_shape(to_float(np.asarray(images)), shape, fill=0.0)
    if likelihood == "bernoulli":
        x = binarize(x, np.random.Generator(np.random.PCG64(TEST_BINARIZATION_SEED)))
    return x, np.asarray(labels, dtype=np.int64)


def _batches(family, x, labels, device, size: int):
    """``(x_batch, labels_batch or None)`` Tensors on ``device``, ``size`` images at a time."""
    for a in range(0, len(x), size):
        xb = Tensor(backend.to_device(x[a:a + size], device))
        lb = Tensor(backend.to_device(labels[a:a + size], device)) if family.conditional else None
        yield xb, lb


def _cpu(t) -> np.ndarray:
    return np.asarray(backend.to_device(t.data if isinstance(t, Tensor) else t, "cpu"))


def mean_neg_elbo(family, x, labels, device="cpu", eps_seed: int | None = None,
                  batch_size: int = 500) -> float:
    """The mean -ELBO (beta = 1, nats per image) of images x (N, C, H, W) in [0, 1].

    ``eps_seed``: draw the reparameterization noise from a generator of its own (leaving
    tinygan's untouched); None uses tinygan's seeded generator.
    """
    gen = None if eps_seed is None else random.Generator(eps_seed, device=device)
    total = 0.0
    with no_grad():
        for xb, lb in _batches(family, x, labels, device, batch_size):
            eps = None if gen is None else Tensor(
                gen.standard_normal((xb.shape[0], family.latent_dim), dtype=np.float32))
            total += float(_cpu(family.neg_elbo(xb, lb, eps)).astype(np.float64).sum())
    return total / len(x)


def mean_iwae(family, x, labels, k: int, device="cpu") -> float:
    """The IWAE estimate of -log p(x), ``mean(-L_k(x))`` in nats (Burda et al. 2016, eq. 8),
    over images x, ``IWAE_IMAGES`` at a time with at most ``IWAE_ROWS`` decoder inputs per call."""
    check_k(k, "mean_iwae")
    chunk = max(1, IWAE_ROWS // IWAE_IMAGES)
    total = 0.0
    with no_grad():
        for xb, lb in _batches(family, x, labels, device, IWAE_IMAGES):
            total += float(-_cpu(family.iwae(xb, lb, k=k, chunk=chunk)).astype(np.float64).sum())
    return total / len(x)


def check_k(k, where: str) -> None:
    """Refuse (ValueError naming ``where``) an IWAE sample count that is not a whole number >= 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{where}: the number of importance samples iwae_k must be an integer "
                         f">= 1, got {k!r}")


# ----------------------------------------------------------------------------
# the VAE's part of the shared loop
# ----------------------------------------------------------------------------
class VAEStepper(Stepper):
    """One optimizer over every parameter, one step per batch on ``family.loss``."""

    summary_keys = ("loss", "neg_elbo", "recon", "kl")

    def __init__(self, family, cfg: dict, test: tuple):
        super().__init__(family, cfg)
        self.opt = make_optimizer(family.parameters(), cfg["optimizer"], cfg["lr"],
                                  family_entry(family).recipe)
        self.steps = 0
        self.test_x, self.test_labels = test
        # losses.png: the bound and its two parts, and the loss itself when it is not the bound.
        plain = family.beta == 1.0 and family.capacity is None
        self.curve_keys = ("neg_elbo", "recon", "kl") + (() if plain else ("loss",))

    def step(self, x, y, check) -> tuple:
        lab = y if self.family.conditional else None
        loss, stats = self.family.loss(x, lab, step=self.steps)
        check(loss.data)                     # a 0-d array on the device: read by the loop, later
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps += 1
        return stats, True

    def postfix(self, last: dict) -> dict:
        return {"loss": f"{last['loss']:.2f}", "kl": f"{last['kl']:.2f}"}

    def state_dict(self) -> dict:
        return dict(opt=self.opt.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.steps = int(state["step"])

    def epoch_values(self) -> dict:
        family = self.family
        was_training = family.training
        family.eval()
        try:
            value = mean_neg_elbo(family, self.test_x, self.test_labels, self.cfg["device"],
                                  eps_seed=EPS_SEED)
        finally:
            family.train(was_training)
        return {"test_neg_elbo": value}

    def pictures(self, out: Path, name: str, title: str) -> None:
        was_training = self.family.training
        self.family.eval()
        try:
            with no_grad():
                vae_pictures(self.family, self.test_x, self.test_labels, out, title,
                             device=self.cfg["device"])
        finally:
            self.family.train(was_training)


def vae_pictures(family, x, labels, out, title: str = "", device="cpu") -> list:
    """Write reconstructions.png, interpolation.png, latent_scatter.png (latent_dim 2) and
    traversals.png (families with ``traversals = True``, i.e. beta_vae) into ``out``, from
    test digits x (N, C, H, W) in [0, 1] with their labels (N,).  Deterministic: posterior
    means only, no random draws.  Returns the paths written."""
    out = Path(out)
    cond = family.conditional
    paths = []

    def tensor(a):
        return Tensor(backend.to_device(np.ascontiguousarray(a), device))

    # Reconstructions: 4 pairs of rows, inputs above reconstructions.
    cols = min(10, len(x))
    n = min(40, len(x)) // cols * cols
    recon = _cpu(family.reconstruct(tensor(x[:n]), tensor(labels[:n]) if cond else None))
    rows = []
    for a in range(0, n, cols):
        rows += [x[a:a + cols], recon[a:a + cols]]
    paths.append(save_image_grid(np.concatenate(rows), out / "reconstructions.png", nrow=cols,
                                 title=f"{title}: test digits (odd rows), reconstructions (even rows)",
                                 value_range=(0.0, 1.0)))

    # Interpolation between the posterior means of pairs of test digits (2i, 2i + 1).
    pairs = min(5, len(x) // 2)
    if pairs:
        a_idx, b_idx = np.arange(0, 2 * pairs, 2), np.arange(1, 2 * pairs, 2)
        mu, _ = family.encode(tensor(x[:2 * pairs]), tensor(labels[:2 * pairs]) if cond else None)
        mu = _cpu(mu)
        t = np.linspace(0.0, 1.0, 10, dtype=np.float32)[None, :, None]             # (1, 10, 1)
        z = (1 - t) * mu[a_idx][:, None] + t * mu[b_idx][:, None]                  # (pairs, 10, D)
        soft = None
        if cond:
            eye = np.eye(family.num_classes, dtype=np.float32)
            soft = (1 - t) * eye[labels[a_idx]][:, None] + t * eye[labels[b_idx]][:, None]
            soft = tensor(soft.reshape(pairs * 10, -1))
        dec = _cpu(family.mean(family.decode(tensor(z.reshape(pairs * 10, -1)), soft)))
        grid = np.concatenate([x[a_idx][:, None], dec.reshape(pairs, 10, *dec.shape[1:]),
                               x[b_idx][:, None]], axis=1)                           # (pairs, 12, ...)
        paths.append(save_image_rows(grid, out / "interpolation.png", value_range=(0.0, 1.0),
                                     title=f"{title}: from one test digit (left) to another (right)"))

    # The 2-D latent space: posterior means of the test digits, coloured by digit.
    if family.latent_dim == 2:
        means = []
        for xb, lb in _batches(family, x, labels, device, 500):
            means.append(_cpu(family.encode(xb, lb)[0]))
        paths.append(plot_latent_scatter(np.concatenate(means), labels, out / "latent_scatter.png",
                                         title=f"{title}: posterior means of {len(x)} test digits"))

    # Latent traversals (beta-VAE): one row per latent, most informative first.
    if getattr(family, "traversals", False):
        m = min(500, len(x))
        mu, logvar = family.encode(tensor(x[:m]), tensor(labels[:m]) if cond else None)
        mu, logvar = _cpu(mu).astype(np.float64), _cpu(logvar).astype(np.float64)
        kl = 0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).mean(0)                 # (D,) per latent
        order = np.argsort(-kl, kind="stable")
        lo, hi, steps = TRAVERSAL
        d = family.latent_dim
        sweep = np.linspace(lo, hi, steps, dtype=np.float32)
        z = np.repeat(mu[:1].astype(np.float32), d * steps, 0).reshape(d, steps, d)
        for r, j in enumerate(order):
            z[r, :, j] = sweep
        lab = tensor(np.full(d * steps, labels[0], dtype=np.int64)) if cond else None
        dec = _cpu(family.mean(family.decode(tensor(z.reshape(d * steps, d)), lab)))
        paths.append(save_image_rows(dec.reshape(d, steps, *dec.shape[1:]), out / "traversals.png",
                                     row_labels=[f"z{j} (KL {kl[j]:.2f})" for j in order],
                                     value_range=(0.0, 1.0),
                                     title=f"{title}: each latent swept over [{lo:g}, {hi:g}]"))
    return paths


# ----------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------
def train_vae(model_name: str, dataset: str = "mnist", out=None, epochs: int | None = None,
              batch_size: int | None = None, seed: int = 0, device="cpu", resume: bool = False,
              ema: float | None = None, lr: float | None = None, latent_dim: int | None = None,
              likelihood: str | None = None, beta: float | None = None,
              capacity: float | None = None, capacity_steps: int | None = None,
              gamma: float | None = None, progress: bool = True, max_steps: int | None = None,
              log_every: int | None = None, force: bool = False,
              read_every: int | None = None) -> dict:
    """Train the VAE family ``model_name`` and write its run folder (see the module docstring).

    Args:
        model_name: a VAE of ``tinygan.models.registry.REGISTRY`` (``tinygan.models.VAE_FAMILIES``).
        dataset: ``"mnist"`` or ``"fashion-mnist"``.
        out: the run folder (default ``runs/<model>-<dataset>``).
        epochs: passes over the data (default the registry entry's recipe: 10).
        batch_size, lr: override the entry's recipe (128, Adam 1e-3).
        latent_dim, likelihood, beta, capacity, capacity_steps, gamma: the family's options
            (``tinygan.models.vae.VAEFamily``); None keeps the family's default.
        seed: seeds tinygan's generator (initial weights, noise, binarization) and the data order.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        resume: continue the run in ``out`` from its latest checkpoint, bit for bit.
        ema: keep an EMA of all the weights with this beta; pictures, samples and eval use it.
        progress: the tqdm bar and a line per epoch.
        max_steps: stop after this many optimizer steps in total (a checkpoint is written).
        log_every: a metrics.jsonl line every this many steps (default 50; 2 with TINYGAN_FAST=1).
        force: start afresh in ``out`` even if it holds a run's files (they are removed);
            without it such a folder is refused (FileExistsError).
        read_every: read the losses to the host every this many batches (``fit``; default
            every batch on the CPU, ``DEVICE_READ_EVERY`` on a GPU); it changes no number.

    Every setting is checked, and the data set read, before the run folder is written: a run
    that can't start leaves nothing behind.

    Returns:
        ``{"run", "epochs", "step", "images", "seconds", "loss", "neg_elbo", "recon", "kl",
        "samples", "losses", "checkpoint"}`` (the logged values: means over the last epoch).
    """
    entry = registry.REGISTRY.get(model_name)
    if entry is None or entry.kind != "vae":
        known = ", ".join(n for n, e in registry.REGISTRY.items() if e.kind == "vae")
        raise ValueError(f"train_vae: {model_name!r} is not a VAE family; known: {known}")
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    options = {k: v for k, v in dict(latent_dim=latent_dim, likelihood=likelihood, beta=beta,
                                     capacity=capacity, capacity_steps=capacity_steps,
                                     gamma=gamma).items() if v is not None}
    family = build_family(model_name, **options).to(dev)
    d = dict(entry.recipe)
    fast = fast_mode()
    counts = dict(epochs=epochs if epochs is not None else d.get("epochs", EPOCHS),
                  batch_size=batch_size if batch_size is not None else d.get("batch_size", 128))
    check_settings(**counts, max_steps=max_steps, read_every=read_every, ema=ema)
    cfg = dict(model=model_name, dataset=dataset, seed=int(seed), device=dev, fast=fast,
               epochs=int(counts["epochs"]), batch_size=int(counts["batch_size"]),
               optimizer=d.get("optimizer", "adam"),
               lr=float(lr if lr is not None else d["lr"]),
               betas=None if d.get("betas") is None else list(d["betas"]),
               ema=None if ema is None else float(ema),
               model_options=family.options(),
               binarized=family.likelihood == "bernoulli")
    log_every = int(log_every or (FAST_LOG_EVERY if fast else LOG_EVERY))
    out = Path(out or f"runs/{model_name}-{dataset}")

    # The same order of random draws on a fresh start and on a resume (the family, then the
    # fixed noise); a resume then overwrites it all.
    fixed = fixed_inputs(family, dev)
    # In the entry's shape (padded with the background, 0 in [0, 1]) before binarizing.
    shape = ToShape(family_entry(family).data_shape, fill=0.0)
    transform = Compose([to_float, shape, binarize] if cfg["binarized"] else [to_float, shape])
    loader = training_loader(dataset, cfg, transform)
    test = evaluation_images(dataset, family.likelihood, FAST_TEST_IMAGES if fast else None,
                             shape=family_entry(family).data_shape)
    stepper = VAEStepper(family, cfg, test)            # its optimizer checks the learning rate
    run = Run(out, cfg, resume=resume, force=force)     # only now: nothing is left of a failed start
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=cfg["ema"], resume=resume, progress=progress,
               max_steps=max_steps, log_every=log_every, read_every=read_every)


# ----------------------------------------------------------------------------
# tinygan eval
# ----------------------------------------------------------------------------
def evaluation_figures(family, cfg: dict, device="cpu", iwae_k: int = IWAE_K) -> dict:
    """A VAE's own figures for ``tinygan eval`` (tinygan/train/evaluate.py), on the test set
    (all of it; 1,000 digits with TINYGAN_FAST=1), binarized once with
    ``TEST_BINARIZATION_SEED`` for the Bernoulli likelihood:

    - ``neg_elbo_nats``: the mean -ELBO with beta = 1 (an upper bound on -log p(x)), one
      reparameterized sample per digit;
    - ``iwae_nats``: the mean -L_k, the importance-weighted estimate of -log p(x) with
      ``iwae_k`` samples (Burda et al. 2016, eq. 8; tighter than the -ELBO), and ``iwae_k``.

    All nats are per image; cvae's bound log p(x|y), the likelihood of a digit given its label.
    With the Gaussian likelihood the nats are of a density on grey levels (not comparable with
    binarized figures).
    """
    x, labels = evaluation_images(cfg["dataset"], family.likelihood,
                                  FAST_EVAL_IMAGES if fast_mode() else None,
                                  shape=family_entry(family).data_shape)
    return {"neg_elbo_nats": mean_neg_elbo(family, x, labels, device),
            "iwae_nats": mean_iwae(family, x, labels, int(iwae_k), device),
            "iwae_k": int(iwae_k)}


__all__ = ["train_vae", "evaluation_figures", "VAEStepper", "vae_pictures", "evaluation_images",
           "mean_neg_elbo", "mean_iwae", "TEST_BINARIZATION_SEED", "IWAE_K"]
