"""Training StyleGAN-lite: ``tinygan train stylegan`` (StyleGAN2, Karras et al. 2020).

One step of ``StyleGANStepper`` on a real batch follows the StyleGAN2 reference loss code's
schedule (its phases Dmain, Dreg, Gmain, Gpl):

1. D step with the non-saturating logistic loss (Goodfellow et al. 2014, Sec. 3; StyleGAN2's
   loss): softplus(D(G(z))) + softplus(-D(x)).
2. Every ``r1_interval``-th D step (D steps 0, 16, 32, ...): lazy R1 on the real batch
   (Mescheder et al. 2018, eq. 9), gamma/2 * ||grad_x D(x)||^2 times the interval
   (``lazy_gain``; StyleGAN2 App. B), as its own optimizer step.
3. G step with the non-saturating loss softplus(-D(G(z))).
4. Every ``pl_interval``-th G step (G steps 0, 4, 8, ...): the path length penalty (StyleGAN2
   sec. 3.2, eq. 4) on half the batch, times ``pl_weight`` and the interval, as its own
   optimizer step; its running mean ``pl_mean`` (decay 0.01) is kept here.

Both Adams have betas (0, 0.99) rescaled by ``lazy_adam_settings`` for their lazy
regularizer (App. B: c = k / (k + 1); none when the regularizer is off).  Every generated
batch uses style mixing (StyleGAN sec. 3.1) with probability ``mixing``: a second z's ws
replace the first's from a random crossover layer on, one crossover per batch as in the
reference code.  ``r1_gamma=0``, ``pl_weight=0`` and ``mixing=0`` switch each off.

Every setting the caller leaves out comes from the preset's recipe
(tinygan/models/stylegan.py PRESETS[preset]["recipe"]): the gpu preset trains with the
reference's (lr 0.0025, R1 gamma 0.0064, path length 2, mixing 0.9); the cpu preset with the
reference's 32x32 configuration (lr 0.0025, no path length or mixing) and R1 gamma 0.1
(benchmarks/README.md, "StyleGAN-lite on a CPU: the recipe").

The generator EMA follows the reference code's half-life in images
(tinygan/optim/ema_half_life.py): ``ema_kimg`` thousand images (10 by default, the
reference's; ``--ema-kimg 0`` switches the EMA off), shortened while training is young to
``ema_rampup`` times the images seen when a ramp-up is given (``--ema-rampup R``; the
reference's small-data configurations use 0.05); the loop recomputes
beta = 0.5 ** (batch_size / half-life) at every G step.  ``--ema BETA``, a fixed beta as for
the other kinds, may be given instead (not together with ``--ema-kimg``): the half-life of
10k images is ``--ema 0.9978`` at batch 32.  The config holds ``ema_kimg`` and
``ema_rampup`` and the checkpoint the images seen, so a resumed run ramps on from where it
stopped.

The Stepper's state -- both optimizers, the D and G step counters (which say when the next
lazy step is due) and ``pl_mean`` -- is in the checkpoint, so a resumed run regularizes on
the same steps, with the same running mean, as an unbroken one, bit for bit.

With every sample grid the run folder gets StyleGAN's pictures (tinygan/train/
stylegan_pictures.py): style_mixing.png, truncation.png, noise_variation.png,
interpolation.png.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import backend, losses, optim, random
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..data import Compose, ToShape, normalize, to_float
from ..losses.lazy_regularization import lazy_adam_settings, lazy_due, lazy_gain
from ..losses.path_length import path_length_penalty
from ..losses.penalties import r1_penalty
from ..models import registry
from ..models.base import frozen
from ..ops.shape import cat
from ..optim import EMAHalfLife
from .loop import Stepper, training_loader, build_family, check_settings, family_entry, fit, fixed_inputs
from .run import Run
from .settings import FAST_LOG_EVERY, LOG_EVERY, fast_mode
from .stylegan_pictures import stylegan_pictures

EPOCHS = 5
# The StyleGAN2 reference code's defaults.
R1_INTERVAL, PL_INTERVAL = 16, 4
PL_WEIGHT, PL_DECAY = 2.0, 0.01
MIXING = 0.9
# gamma = 0.0002 res^2 / batch (the reference's automatic configuration), 0.0064 at 32x32
# and batch 32.
R1_GAMMA = 0.0064
# The generator EMA's half-life in thousands of images (the reference's ema_kimg).
EMA_KIMG = 10.0


class StyleGANStepper(Stepper):
    """D step, lazy R1, G step, lazy path length, on every real batch (module docstring).

    cfg: ``lr_g``, ``lr_d``, ``betas``, ``r1_gamma``, ``r1_interval``, ``pl_weight``,
    ``pl_interval``, ``mixing`` (and ``pl_decay``, default 0.01).
    """

    curve_keys = ("d_loss", "g_loss")
    summary_keys = ("d_loss", "g_loss")

    def __init__(self, family, cfg: dict):
        super().__init__(family, cfg)
        betas = tuple(cfg["betas"])
        self.r1_on = cfg["r1_gamma"] > 0
        self.pl_on = cfg["pl_weight"] > 0
        lr, b = lazy_adam_settings(cfg["lr_d"], betas, cfg["r1_interval"] if self.r1_on else None)
        self.opt_d = optim.Adam(family.d_parameters(), lr=lr, betas=b)
        lr, b = lazy_adam_settings(cfg["lr_g"], betas, cfg["pl_interval"] if self.pl_on else None)
        self.opt_g = optim.Adam(family.g_parameters(), lr=lr, betas=b)
        self.d_steps = self.g_steps = 0
        self.pl_mean = np.zeros((), np.float32)       # the reference starts it at 0

    # -- the generator's input ------------------------------------------------------------------
    def styles(self, n: int, labels: Tensor | None, device) -> tuple:
        """``(ws, labels)``: ws (n, num_ws, w_dim) for n fresh z's, style-mixed with probability
        ``mixing`` (StyleGAN sec. 3.1): ws[:, cut:] from a second z, cut uniform in
        [1, num_ws); labels: the given ones for a conditional model, else the noise's."""
        family, G = self.family, self.family.G
        z, noise_labels = family.sample_noise(n, device)
        if labels is None or not family.conditional:
            labels = noise_labels
        c = family._onehot(labels, n, z.dtype, "styles")
        ws = G.mapping(z, c)
        p = self.cfg["mixing"]
        if p > 0:
            # Both drawn on every batch (from tinygan's one stream), so the draws that follow
            # do not depend on whether this batch mixes.
            rng = random.generator_for("cpu")
            cut = int(rng.integers(1, G.num_ws))
            if float(rng.random()) < p:
                z2 = randn(n, family.latent_dim, device=z.device, dtype=z.dtype)
                beta = G.mapping.w_avg_beta
                G.mapping.w_avg_beta = None       # the second z leaves w_avg alone (reference)
                try:
                    ws2 = G.mapping(z2, c)
                finally:
                    G.mapping.w_avg_beta = beta
                ws = cat([ws[:, :cut], ws2[:, cut:]], dim=1)
        return ws, labels

    def _fakes(self, n: int, labels, device) -> tuple:
        ws, labels = self.styles(n, labels, device)
        return self.family.G.synthesis(ws), ws, labels

    # -- one step -------------------------------------------------------------------------------
    def step(self, x, y, check) -> tuple:
        family, cfg = self.family, self.cfg
        lab = y if family.conditional else None
        n = x.shape[0]
        logged = {}

        # Dmain: softplus(D(G(z))) + softplus(-D(x)); the fakes carry no graph.  D sees both
        # batches in one pass (discriminate_both: the same numbers as two, in half the calls).
        with no_grad():
            fake, _, fake_lab = self._fakes(n, lab, x.device)
        loss_d = losses.nonsaturating_d_loss(*family.discriminate_both(x, lab, fake, fake_lab))
        check(loss_d.data, "d")
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        logged["d_loss"] = loss_d.data

        # Dreg: lazy R1 on the reals (App. B), its own optimizer step.
        if self.r1_on and lazy_due(self.d_steps, cfg["r1_interval"]):
            r1 = r1_penalty(family.discriminate, x, cfg["r1_gamma"], lab)
            check(r1.data, "R1")
            self.opt_d.zero_grad()
            (r1 * lazy_gain(cfg["r1_interval"])).backward()
            self.opt_d.step()
            logged["r1_penalty"] = r1.data
        self.d_steps += 1

        # Gmain: softplus(-D(G(z))); D's weights are constants.
        with frozen(family.D):
            fake, _, fake_lab = self._fakes(n, lab, x.device)
            loss_g = losses.nonsaturating_g_loss(family.discriminate(fake, fake_lab))
        check(loss_g.data, "g")
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        logged["g_loss"] = loss_g.data

        # Gpl: lazy path length on half the batch (sec. 3.2, eq. 4), its own optimizer step.
        if self.pl_on and lazy_due(self.g_steps, cfg["pl_interval"]):
            m = max(1, n // 2)
            fake, ws, _ = self._fakes(m, None if lab is None else lab[:m], x.device)
            penalty, mean = path_length_penalty(fake, ws, Tensor(self.pl_mean),
                                                cfg.get("pl_decay", PL_DECAY))
            check(penalty.data, "path length")
            self.opt_g.zero_grad()
            (penalty * (cfg["pl_weight"] * lazy_gain(cfg["pl_interval"]))).backward()
            self.opt_g.step()
            self.pl_mean = backend.to_device(mean.data, "cpu").astype(np.float32)
            logged["pl_penalty"] = penalty.data
        self.g_steps += 1
        return logged, True

    def postfix(self, last: dict) -> dict:
        return {"d": f"{last['d_loss']:.3f}", "g": f"{last['g_loss']:.3f}"}

    def pictures(self, out: Path, name: str, title: str) -> None:
        """The style-mixing grid, truncation sweep, noise variation and W/Z interpolation
        (tinygan/train/stylegan_pictures.py) in the run folder, the latest of each."""
        stylegan_pictures(self.family, out, seed=self.cfg["seed"], title=title)

    def state_dict(self) -> dict:
        return dict(opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(),
                    d_steps=self.d_steps, g_steps=self.g_steps, pl_mean=np.array(self.pl_mean))

    def load_state_dict(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.d_steps, self.g_steps = int(state["d_steps"]), int(state["g_steps"])
        self.pl_mean = np.asarray(state["pl_mean"], np.float32).reshape(())


def _number(value, name: str, low: float, high: float | None = None) -> float:
    value = float(value)
    if not (np.isfinite(value) and value >= low and (high is None or value <= high)):
        raise ValueError(f"train_stylegan: {name} must be in [{low:g}, "
                         f"{'inf)' if high is None else f'{high:g}]'}, got {value!r}")
    return value


def _ema_settings(ema, ema_kimg, ema_rampup) -> tuple:
    """``(ema_kimg, ema_rampup)`` of the config: the half-life's (``ema_kimg`` 0 or None: no
    half-life schedule), checked; ``ema`` (a fixed beta) excludes both."""
    if ema is not None:
        given = [name for name, v in (("ema_kimg (--ema-kimg)", ema_kimg),
                                      ("ema_rampup (--ema-rampup)", ema_rampup)) if v is not None]
        if given:
            raise ValueError(f"train_stylegan: ema (--ema BETA, a fixed beta) and {' and '.join(given)}"
                             f" (the half-life in images) both set the generator EMA; give one")
        return None, None
    kimg = _number(EMA_KIMG if ema_kimg is None else ema_kimg, "ema_kimg", 0)
    if ema_rampup is not None:
        rampup = float(ema_rampup)
        if not (np.isfinite(rampup) and rampup > 0):
            raise ValueError(f"train_stylegan: ema_rampup must be a number > 0, got {ema_rampup!r}")
        if kimg == 0:
            raise ValueError(f"train_stylegan: ema_rampup={rampup:g} ramps up the EMA, but "
                             "ema_kimg=0 switches it off; give one of them")
        return kimg, rampup
    return kimg, None


def train_stylegan(model_name: str = "stylegan", *, dataset: str = "mnist", out=None,
                   epochs: int | None = None, batch_size: int | None = None, seed: int = 0,
                   device="cpu", resume: bool = False, force: bool = False,
                   ema: float | None = None, progress: bool = True, max_steps: int | None = None,
                   preset: str | None = None, conditional: bool | None = None,
                   lr_g: float | None = None, lr_d: float | None = None,
                   r1_gamma: float | None = None, r1_interval: int | None = None,
                   pl_weight: float | None = None, pl_interval: int | None = None,
                   mixing: float | None = None, ema_kimg: float | None = None,
                   ema_rampup: float | None = None, linear_output: bool | None = None,
                   log_every: int | None = None, read_every: int | None = None) -> dict:
    """Train StyleGAN-lite and write its run folder (as ``tinygan.train.gan.train_gan`` does).

    Args beyond train_gan's: preset ``"cpu"`` / ``"gpu"`` (tinygan.models.stylegan.PRESETS),
    conditional, r1_gamma (0: no R1), r1_interval (16), pl_weight (2; 0: no path length),
    pl_interval (4), mixing (the style-mixing probability, 0.9; 0: none), ema_kimg (the
    generator EMA's half-life in thousands of images, 10; 0: no EMA), ema_rampup (the
    half-life's ramp-up ratio; None: none).  ``ema`` (a fixed beta) replaces ema_kimg and
    ema_rampup; giving it with either is refused.  linear_output: the ablation, G's image
    without its tanh (the reference code's unbounded output; tinygan.models.stylegan), kept in
    the run's model options.
    Every setting is checked before the run folder is written.
    Returns: fit's dict (``run``, ``step``, ``d_loss``, ``g_loss``, ``checkpoint`` ...).
    """
    entry = registry.get(model_name)
    if entry.kind != "stylegan":
        raise ValueError(f"train_stylegan: {model_name!r} is of kind {entry.kind!r}; train it "
                         f"with tinygan.train.kinds.KINDS[{entry.kind!r}].train")
    preset = preset or "cpu"
    presets = getattr(entry.cls, "PRESETS", {})
    if preset not in presets:
        raise ValueError(f"train_stylegan: unknown preset {preset!r}; known: {', '.join(presets)}")
    # The preset's recipe (tinygan/models/stylegan.py PRESETS) over the class's defaults.
    d = {**entry.recipe, **presets[preset].get("recipe", {})}
    counts = dict(epochs=epochs if epochs is not None else d.get("epochs", EPOCHS),
                  batch_size=batch_size if batch_size is not None else d.get("batch_size", 32),
                  r1_interval=R1_INTERVAL if r1_interval is None else r1_interval,
                  pl_interval=PL_INTERVAL if pl_interval is None else pl_interval)
    check_settings(**counts, max_steps=max_steps, read_every=read_every, ema=ema)
    if ema is None:     # the preset's EMA unless the command line sets the EMA some way
        ema_kimg = d.get("ema_kimg") if ema_kimg is None else ema_kimg
        if ema_rampup is None and ema_kimg:
            ema_rampup = d.get("ema_rampup")
    ema_kimg, ema_rampup = _ema_settings(ema, ema_kimg, ema_rampup)
    model_options = dict(preset=preset, conditional=bool(conditional))
    if linear_output:
        model_options["linear_output"] = True
    random.manual_seed(seed)
    dev = str(backend.device(device or "cpu"))
    family = build_family(model_name, **model_options).to(dev)   # checks the preset
    fast = fast_mode()
    cfg = dict(model=model_name, dataset=dataset, seed=int(seed), device=dev, fast=fast,
               epochs=int(counts["epochs"]), batch_size=int(counts["batch_size"]),
               model_options=model_options,
               lr_g=_number(d["lr_g"] if lr_g is None else lr_g, "lr_g", 0),
               lr_d=_number(d["lr_d"] if lr_d is None else lr_d, "lr_d", 0),
               betas=list(d["betas"]),
               r1_gamma=_number(d.get("r1_gamma", R1_GAMMA) if r1_gamma is None else r1_gamma, "r1_gamma", 0),
               r1_interval=int(counts["r1_interval"]),
               pl_weight=_number(d.get("pl_weight", PL_WEIGHT) if pl_weight is None else pl_weight, "pl_weight", 0),
               pl_interval=int(counts["pl_interval"]), pl_decay=PL_DECAY,
               mixing=_number(d.get("mixing", MIXING) if mixing is None else mixing, "mixing", 0, 1),
               ema=None if ema is None else float(ema), ema_kimg=ema_kimg, ema_rampup=ema_rampup)
    log_every = int(log_every or (FAST_LOG_EVERY if fast else LOG_EVERY))
    out = Path(out or f"runs/{model_name}-{dataset}")

    fixed = fixed_inputs(family, dev)
    shape = ToShape(family_entry(family).data_shape, fill=-1.0)    # 28x28 padded to 32x32
    loader = training_loader(dataset, cfg, Compose([to_float, normalize, shape]))
    stepper = StyleGANStepper(family, cfg)
    run = Run(out, cfg, resume=resume, force=force)
    # The EMA's beta: fixed (ema), from the half-life at every G step (ema_kimg), or none.
    schedule = cfg["ema"] if not cfg["ema_kimg"] else \
        EMAHalfLife(cfg["batch_size"], cfg["ema_kimg"], cfg["ema_rampup"])
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=schedule, resume=resume, progress=progress,
               max_steps=max_steps, log_every=log_every, read_every=read_every)


__all__ = ["StyleGANStepper", "train_stylegan"]
