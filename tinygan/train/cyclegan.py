"""Training CycleGAN-lite: ``tinygan train cyclegan`` (Zhu et al. 2017).

The model, its networks and its objective are tinygan/models/cyclegan.py; the kind of step
is this file's ``CycleGANStepper``.  One step, on a batch ``a`` of domain A (the loop's
batches) and a batch ``b`` of domain B (drawn here, see below), as the reference's
``optimize_parameters``:

1. the generators: G_AB and G_BA together, on L_G = adversarial (LSGAN) + lambda_cyc cycle
   (eq. 2) + lambda_id identity (sec. 5.2), the discriminators' weights held constant;
2. the discriminators: D_A on real a against G_BA(b), D_B on real b against G_AB(a), each
   generated batch first passed through its image pool (tinygan/train/image_pool.py, 50
   images; ``--no-pool``: none), each loss halved (the model's ``discriminator_loss``).

Settings (the paper's sec. 4 unless said): Adam, lr 2e-4, betas (0.5, 0.999), one optimizer
for both generators and one for both discriminators; the rate constant for the first half of
the epochs and then falling linearly to 0 over the second half (the paper: 100 + 100
epochs).  The reference lowers it once per epoch; a run here has one or a few epochs, so it
is lowered every step: after t of T = epochs x batches-per-epoch steps the factor is 1 while
t < T0 = T // 2, then (T - t) / (T - T0) (``lr_factor``; ``tinygan.optim.LambdaLR`` per
step).  ``--max-steps`` stops a run early without changing its schedule.  lambda_cyc 10 and lambda_id 0.5 x 10 = 5
(``--lambda-cyc``, ``--lambda-id``; 0: no identity loss).

Batch size: the paper's is 1.  With instance norm nothing in the networks mixes the images
of a batch, so a batch of 8 is 8 of the paper's steps averaged into one, which a CPU computes
far faster per image (one large convolution instead of eight small ones); 8 keeps the number
of updates high (3,750 an epoch of 30,000 images).  ``--batch-size 1`` is the paper's.

The data (tinygan/data/domains.py, imported when a run starts): ``load_domain("A" | "B",
split)`` -- A plain MNIST digits from one half of the training set, B the other half
restyled (``PAIR``) -- images float32 (N, 1, 28, 28) in [-1, 1].  The loop iterates over A
(its DataLoader: order, position, resume); the B batches come from an order of B of their
own, a new permutation every pass over B drawn from ``(seed, pass)``, so which b meets which
a changes every epoch and nothing pairs them.  The B position is in the checkpoint.

Pictures (``sample_grid``), every epoch, samples/epoch_NNN.png: six rows of ten fixed test
digits (the first of each class 0-9 of each domain) -- a, G_AB(a), G_BA(G_AB(a)), b,
G_BA(b), G_AB(G_BA(b)).

Everything -- the four networks, both optimizers and schedules, both pools (their images,
counters and seeds), the B order's position, the fixed digits -- is in the checkpoint, and a
resumed run is bit-exact, as every kind's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor
from ..data import DataLoader
from ..models import registry
from ..models.cyclegan import LAMBDA_CYC, LAMBDA_ID
from ..ops.shape import cat
from ..optim import LambdaLR
from .image_pool import POOL_SIZE, ImagePool
from .loop import Stepper, build_family, check_settings, fit, make_optimizer, sampling
from .run import Run
from .settings import FAST_IMAGES, FAST_LOG_EVERY, LOG_EVERY, fast_mode

GRID_DIGITS = 10          # the pictures: one test digit of each class per domain


def domains():
    """tinygan.data.domains, imported on use (the data of the two domains)."""
    from ..data import domains as module
    return module


def lr_factor(t: int, total: int, constant: int) -> float:
    """The learning rate's factor after ``t`` steps of ``total``: 1 for the first
    ``constant`` steps, then falling linearly, reaching 0 at ``total`` (the module docstring)."""
    if t < constant:
        return 1.0
    return max(0.0, (total - t) / max(total - constant, 1))


class CycleGANStepper(Stepper):
    """The generators' step, then both discriminators' on pooled fakes (module docstring).

    Args beyond Stepper's: ``images_b``, domain B's training images (N_B, C, 28, 28) float32
    on the run's device; ``steps_per_epoch``, the loop's batches per epoch (for the
    learning-rate schedule).
    """

    curve_keys = ("g_loss", "d_a", "d_b", "cycle_a", "cycle_b")
    summary_keys = ("g_loss", "d_a", "d_b", "cycle_a", "cycle_b")

    def __init__(self, family, cfg: dict, images_b, steps_per_epoch: int):
        super().__init__(family, cfg)
        defaults = registry.entry_of(family).recipe
        self.opt_g = make_optimizer(family.g_parameters(), "adam", cfg["lr"], defaults)
        self.opt_d = make_optimizer(family.d_parameters(), "adam", cfg["lr"], defaults)
        total = cfg["epochs"] * steps_per_epoch
        constant = total // 2
        factor = (lambda t: lr_factor(t, total, constant))
        self.sched_g, self.sched_d = LambdaLR(self.opt_g, factor), LambdaLR(self.opt_d, factor)
        pool = 0 if cfg["no_pool"] else POOL_SIZE
        self.pool_a = ImagePool(pool, seed=cfg["seed"] * 2 + 1)     # fakes of domain A (for D_A)
        self.pool_b = ImagePool(pool, seed=cfg["seed"] * 2 + 2)     # fakes of domain B (for D_B)
        self.images_b = images_b
        self.b_pass = self.b_batch = 0           # the pass over B under way and its next batch
        self._b_order = None                     # that pass's order, on the device

    # -- domain B's batches ----------------------------------------------------------------
    def _b_batches_per_pass(self) -> int:
        return len(self.images_b) // self.cfg["batch_size"]

    def next_b(self) -> Tensor:
        """The next batch of domain B (a fresh permutation of B for every pass)."""
        bs = self.cfg["batch_size"]
        if self.b_batch >= self._b_batches_per_pass():
            self.b_pass, self.b_batch, self._b_order = self.b_pass + 1, 0, None
        if self._b_order is None:
            order = np.random.default_rng([self.cfg["seed"], 1, self.b_pass]).permutation(
                len(self.images_b))
            self._b_order = backend.to_device(order, self.cfg["device"])  # once per pass
        idx = self._b_order[self.b_batch * bs:(self.b_batch + 1) * bs]
        self.b_batch += 1
        return Tensor(self.images_b[idx])

    # -- the step --------------------------------------------------------------------------
    def step(self, x: Tensor, y: Tensor, check) -> tuple:
        family, cfg = self.family, self.cfg
        a, b = x, self.next_b()
        # 1. G_AB and G_BA on L_G (D's weights constant inside generator_loss).
        loss_g, stats, fake_b, fake_a = family.generator_loss(a, b, cfg["lambda_cyc"],
                                                              cfg["lambda_id"])
        check(loss_g.data, "generator")
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        # 2. D_A and D_B on real batches against pooled fakes, each loss halved.
        loss_da = family.discriminator_loss(family.D_A, a, self.pool_a.query(fake_a))
        loss_db = family.discriminator_loss(family.D_B, b, self.pool_b.query(fake_b))
        check(loss_da.data, "D_A")
        check(loss_db.data, "D_B")
        self.opt_d.zero_grad()
        (loss_da + loss_db).backward()          # the two Ds share no weight: two steps in one
        self.opt_d.step()
        lr = self.opt_g.param_groups[0]["lr"]
        self.sched_g.step()
        self.sched_d.step()
        return {**stats, "g_loss": loss_g.data, "d_a": loss_da.data, "d_b": loss_db.data,
                "lr": lr}, True

    def postfix(self, last: dict) -> dict:
        return {k: f"{last[k]:.3f}" if k in last else "-"
                for k in ("g_loss", "d_a", "d_b", "cycle_a")}

    # -- the pictures ----------------------------------------------------------------------
    def sample_grid(self, fixed: dict, grid: int) -> tuple:
        """Rows a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b)) of the fixed test digits
        (``fixed["z"]``: the A digits, then the B digits)."""
        x = fixed["z"]
        k = x.shape[0] // 2
        a, b = x[:k], x[k:]
        family = self.family
        with sampling(family):
            fake_b, fake_a = family.G_AB(a), family.G_BA(b)
            rows = [a, fake_b, family.G_BA(fake_b), b, fake_a, family.G_AB(fake_a)]
            images = cat(rows, dim=0).data
        return np.asarray(backend.to_device(images, "cpu"), dtype=np.float32), k

    # -- the checkpoint --------------------------------------------------------------------
    def state_dict(self) -> dict:
        return dict(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(),
                    sched_g=self.sched_g.state_dict(), sched_d=self.sched_d.state_dict(),
                    pool_a=self.pool_a.state_dict(), pool_b=self.pool_b.state_dict(),
                    b_position={"pass": self.b_pass, "batch": self.b_batch})

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.pool_a.load_state_dict(state["pool_a"], self.cfg["device"])
        self.pool_b.load_state_dict(state["pool_b"], self.cfg["device"])
        self.b_pass = int(state["b_position"]["pass"])
        self.b_batch = int(state["b_position"]["batch"])
        self._b_order = None


def first_of_each_class(images: np.ndarray, labels: np.ndarray, k: int = GRID_DIGITS) -> np.ndarray:
    """The first image of each class 0..k-1 (in class order), (k, C, H, W); the first k
    images where a class is missing."""
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(k) if (labels == c).any()]
    return images[picks] if len(picks) == k else images[:k]


def _check_lambda(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (0 <= float(value) < float("inf")):
        raise ValueError(f"train_cyclegan: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def train_cyclegan(model_name: str = "cyclegan", *, dataset: str = "mnist", out=None,
                   epochs: int | None = None, batch_size: int | None = None, seed: int = 0,
                   device="cpu", resume: bool = False, force: bool = False,
                   ema: float | None = None, progress: bool = True,
                   max_steps: int | None = None, preset: str | None = None,
                   lambda_cyc: float | None = None, lambda_id: float | None = None,
                   no_pool: bool | None = None, lr: float | None = None,
                   log_every: int | None = None, read_every: int | None = None) -> dict:
    """Train CycleGAN-lite between the two digit domains and write its run folder.

    Args beyond ``tinygan.train.gan.train_gan``'s: preset ``"cpu"`` / ``"gpu"``
    (tinygan.models.cyclegan.PRESETS), lambda_cyc (eq. 3's lambda, default 10), lambda_id
    (the identity loss's weight, default 5; 0: none), no_pool (D sees only the newest fakes),
    lr (default 2e-4).  ``dataset`` must be ``"mnist"``: the domains are made from it.
    ``ema`` is refused (CycleGAN keeps none).  Every setting is checked, and the data read,
    before the run folder is written.  Returns fit's dict.
    """
    entry = registry.get(model_name)
    if entry.kind != "cyclegan":
        raise ValueError(f"train_cyclegan: {model_name!r} is of kind {entry.kind!r}; train it "
                         f"with tinygan.train.kinds.KINDS[{entry.kind!r}].train")
    if dataset != "mnist":
        raise ValueError(f"cyclegan: its two domains are made from MNIST (tinygan.data.domains); "
                         f"--dataset {dataset} has none")
    if ema is not None:
        raise ValueError("cyclegan keeps no EMA of its weights (the paper has none); leave out --ema")
    d = dict(entry.recipe)
    counts = dict(epochs=epochs if epochs is not None else d["epochs"],
                  batch_size=batch_size if batch_size is not None else d["batch_size"])
    check_settings(**counts, max_steps=max_steps, read_every=read_every)
    lam_cyc = _check_lambda("lambda_cyc", d["lambda_cyc"] if lambda_cyc is None else lambda_cyc)
    lam_id = _check_lambda("lambda_id", d["lambda_id"] if lambda_id is None else lambda_id)
    lr = float(d["lr"] if lr is None else lr)
    if not 0 < lr < float("inf"):
        raise ValueError(f"train_cyclegan: lr must be a finite number > 0, got {lr!r}")
    model_options = dict(preset=preset or "cpu")
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    family = build_family(model_name, **model_options).to(dev)      # checks the preset
    fast = fast_mode()
    data = domains()
    cfg = dict(model=model_name, dataset=dataset, pair=str(data.PAIR), seed=int(seed), device=dev,
               fast=fast, epochs=int(counts["epochs"]), batch_size=int(counts["batch_size"]),
               model_options=model_options, optimizer="adam", lr=lr, betas=list(d["betas"]),
               lambda_cyc=lam_cyc, lambda_id=lam_id, no_pool=bool(no_pool), ema=None)
    log_every = int(log_every or (FAST_LOG_EVERY if fast else LOG_EVERY))
    out = Path(out or f"runs/{model_name}-{dataset}")

    images_a, labels_a = data.load_domain("A", "train")
    images_b, _ = data.load_domain("B", "train")
    if fast:
        images_a, labels_a, images_b = (images_a[:FAST_IMAGES], labels_a[:FAST_IMAGES],
                                        images_b[:FAST_IMAGES])
    for name, images in (("A", images_a), ("B", images_b)):
        if len(images) < cfg["batch_size"]:
            raise ValueError(f"cyclegan: batch size {cfg['batch_size']} is larger than the "
                             f"{len(images)} training images of domain {name}")
    test_a, test_la = data.load_domain("A", "test")
    test_b, test_lb = data.load_domain("B", "test")
    digits = np.concatenate([first_of_each_class(test_a, test_la),
                             first_of_each_class(test_b, test_lb)]).astype(np.float32)
    fixed = {"z": Tensor(backend.to_device(digits, dev)), "labels": None}
    loader = DataLoader((np.asarray(images_a, dtype=np.float32), labels_a),
                        batch_size=cfg["batch_size"], shuffle=True, drop_last=True,
                        seed=cfg["seed"], device=dev)
    stepper = CycleGANStepper(family, cfg,
                              backend.to_device(np.asarray(images_b, dtype=np.float32), dev),
                              len(loader))
    run = Run(out, cfg, resume=resume, force=force)
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=None, resume=resume, progress=progress,
               max_steps=max_steps, log_every=log_every, read_every=read_every)


__all__ = ["CycleGANStepper", "train_cyclegan", "lr_factor", "first_of_each_class"]
