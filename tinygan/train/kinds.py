"""The kinds of training step, in one table: ``KINDS``, name -> ``Kind``.

A model family's registry entry (tinygan/models/registry.py) names its kind; the kind says how
such a family is trained and scored.  ``tinygan train`` / ``tinygan eval`` (tinygan/cli.py)
read this table and nothing kind-specific: the options they accept are the union of the
kinds' ``options`` (and ``eval_options``), an option of another kind is refused with the kind
it belongs to named, and a run is trained with ``KINDS[entry.kind].train(...)`` and evaluated
with ``KINDS[entry.kind].evaluate(...)``.

A ``Kind`` provides:

- ``name``: the key the registry entries use (``"gan"``); ``title``: how messages name one
  (``"GAN"``: "tiny is a GAN: ...");
- ``stepper``: its ``tinygan.train.loop.Stepper`` subclass -- its optimizers and what one
  update does on a real batch (the loop around it is shared: run folder, logs, checkpoints,
  bit-exact resume, the NaN stop, Ctrl-C, the EMA);
- ``train``: ``train(model_name, *, dataset, out, epochs, batch_size, seed, device, resume,
  force, ema, progress, max_steps, **options) -> dict`` -- builds the family, its data, its
  Stepper and the Run, and calls ``tinygan.train.loop.fit``; ``options``: the command-line
  ``Option`` rows of its own, passed to ``train`` by their ``dest`` (None: not given);
- ``evaluate``: ``evaluate(run, n, seed, device, reference, **eval_options) -> dict``
  (default ``tinygan.train.evaluate.evaluate_run``) and ``eval_options``: ``tinygan eval``'s
  options of its own; ``figures``: ``figures(family, cfg, device, **eval_options) -> dict``,
  the values ``evaluate_run`` adds to FID and the classifier score for this kind (None: none);
- ``pictures``: the pictures its runs add to the run folder, for the line ``tinygan train``
  prints at the end (``{run}`` is the run folder; "" if none);
- ``belongs``: how a message says that options are this kind's -- ``(one, several)``, e.g.
  ``("is a GAN option", "are GAN options")`` -- default "is/are for the GANs".
- ``commands``: commands of its own beside train/sample/eval/export, each a ``Command``
  (CycleGAN's ``tinygan translate``): ``tinygan`` adds them to its parser as they are
  declared, so a kind brings a command without the CLI naming it.

Adding a kind of training is one Stepper module (its Stepper and its ``train``) and one
``KINDS`` entry (``register``); tests/train/test_new_kind.py adds one as a fixture.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import biggan, biggan_pictures, cyclegan, gan, stylegan, translation, truncation_tradeoff, vae
from .evaluate import evaluate_run, evaluate_vae_run
from .options import Option, real, whole


@dataclass(frozen=True)
class Command:
    """A command a kind adds to ``tinygan``: ``tinygan NAME ...``.

    ``configure(parser)`` adds its arguments to its argparse parser; ``run(args, out)``
    does the work and returns the line to print.  ``writes``: it writes the file
    ``--out`` names (with ``--force`` to write over one): the command line checks that path
    as it checks ``tinygan sample``'s before ``run`` is called, and passes it as ``out``
    (else None); an argument ``--device`` is checked the same way.  ``run`` writes ``out``
    atomically (tinygan.atomic).  ``suffixes``: the kinds of file ``--out`` may name, the
    first added to a name that ends in none of them."""

    name: str
    help: str
    configure: Callable
    run: Callable
    writes: bool = False
    suffixes: tuple = (".npz",)


@dataclass(frozen=True)
class Kind:
    """One kind of training step: its Stepper, its trainer, its options and figures."""

    name: str
    title: str
    stepper: type
    train: Callable
    options: tuple = ()
    evaluate: Callable = evaluate_run
    eval_options: tuple = ()
    figures: Callable | None = None
    pictures: str = ""
    belongs: tuple = ()
    commands: tuple = ()

    def a(self) -> str:
        """``"a GAN"``, ``"an autoencoder"``: one of this kind, in a sentence."""
        return ("an " if self.title[:1].lower() in "aeiou" else "a ") + self.title

    def owns(self, count: int) -> str:
        """``"is for the GANs"`` (count 1) or ``"are for the GANs"``: these options are ours."""
        one, several = self.belongs or (f"is for the {self.title}s", f"are for the {self.title}s")
        return one if count == 1 else several

    def flags(self, evaluation: bool = False) -> list:
        """The flags of its training options (``evaluation``: of its ``tinygan eval`` options)."""
        return [o.flag for o in (self.eval_options if evaluation else self.options)]


KINDS: dict = {}


def register(kind: Kind) -> Kind:
    """Add ``kind`` to ``KINDS`` under its name."""
    KINDS[kind.name] = kind
    return kind


def kind_of(entry) -> Kind:
    """The Kind of a registry entry; KeyError naming the entry and the known kinds if none."""
    if entry.kind not in KINDS:
        raise KeyError(f"the model {entry.name!r} is of kind {entry.kind!r}, which tinygan can't "
                       f"train; known kinds: {', '.join(KINDS)} (tinygan.train.kinds.register)")
    return KINDS[entry.kind]


positive = real(0, low_included=False)

register(Kind(
    name="gan", title="GAN", stepper=gan.GANStepper, train=gan.train_gan,
    options=(
        Option("--lr-g", "lr_g", positive, "generator learning rate (default the paper's)"),
        Option("--lr-d", "lr_d", positive, "discriminator learning rate"),
        Option("--n-critic", "n_critic", whole(1), "D steps per G step"),
    ),
    belongs=("is a GAN option", "are GAN options")))

# The VAE checks the ranges of its own model options (--latent-dim, --beta, --capacity,
# --capacity-steps, --gamma) when it is built, before anything is written, in words of its own.
register(Kind(
    name="vae", title="VAE", stepper=vae.VAEStepper, train=vae.train_vae,
    options=(
        Option("--lr", "lr", positive, "learning rate (default 1e-3)"),
        Option("--latent-dim", "latent_dim", int,
               "z's size (default 20, cvae 10; 2 draws the latent scatter)"),
        Option("--likelihood", "likelihood", str,
               "the decoder: bernoulli on dynamically binarized digits (default) or gaussian on "
               "grey levels in [0, 1] with a learned variance", choices=("bernoulli", "gaussian")),
        Option("--beta", "beta", float, "the KL weight of the objective (>= 0; default 1, 4 for "
               "beta_vae)"),
        Option("--capacity", "capacity", float, "train on recon + gamma |KL - C| with C ramped "
               "from 0 to C_MAX nats (Burgess et al. 2018)", metavar="C_MAX"),
        Option("--capacity-steps", "capacity_steps", int, "steps of the capacity ramp (default 5000)"),
        Option("--gamma", "gamma", float, "the weight of |KL - C| (default 1000)"),
    ),
    evaluate=evaluate_vae_run,
    eval_options=(Option("--iwae-k", "iwae_k", int,
                         f"importance samples of the IWAE bound (default {vae.IWAE_K})"),),
    figures=vae.evaluation_figures,
    pictures="{run}/reconstructions.png, {run}/interpolation.png (and latent_scatter.png for "
             "--latent-dim 2, traversals.png for beta_vae)"))


def _per_preset(key: str) -> str:
    """"cpu 0.1, gpu 0.0064": each StyleGAN preset's recipe value, for the help, because
    ``tinygan train stylegan`` takes the preset's recipe where the command line gives nothing
    (the cpu preset's differs from the reference code's; tinygan/models/stylegan.py)."""
    from ..models.stylegan import PRESETS

    def shown(v):
        return "none" if v is None else "0 (off)" if v == 0 else f"{v:g}"
    return ", ".join(f"{name} {shown(p['recipe'][key])}" for name, p in PRESETS.items())


register(Kind(
    name="stylegan", title="StyleGAN", stepper=stylegan.StyleGANStepper,
    train=stylegan.train_stylegan,
    options=(
        Option("--preset", "preset", str, "the networks' size and their training recipe "
               "(default cpu)", choices=("cpu", "gpu")),
        Option("--conditional", "conditional", bool, "G and D take the class labels", switch=True),
        Option("--lr-g", "lr_g", positive,
               f"generator learning rate (default the preset's: {_per_preset('lr_g')})"),
        Option("--lr-d", "lr_d", positive,
               f"discriminator learning rate (default the preset's: {_per_preset('lr_d')})"),
        Option("--r1-gamma", "r1_gamma", real(0),
               f"R1's gamma (default the preset's: {_per_preset('r1_gamma')}; 0: off)"),
        Option("--r1-interval", "r1_interval", whole(1),
               f"R1 every this many D steps (default {stylegan.R1_INTERVAL})"),
        Option("--pl-weight", "pl_weight", real(0),
               f"the path length penalty's weight (default the preset's: "
               f"{_per_preset('pl_weight')}; 0: off)"),
        Option("--pl-interval", "pl_interval", whole(1),
               f"path length every this many G steps (default {stylegan.PL_INTERVAL})"),
        Option("--mixing", "mixing", real(0, 1, high_included=True),
               f"style-mixing probability (default the preset's: {_per_preset('mixing')}; 0: off)"),
        Option("--ema-kimg", "ema_kimg", real(0),
               f"the generator EMA's half-life in thousands of images (default the preset's: "
               f"{_per_preset('ema_kimg')}; 0: no EMA); --ema BETA instead fixes beta"),
        Option("--ema-rampup", "ema_rampup", positive,
               f"the EMA's half-life is at most this many times the images seen (default the "
               f"preset's: {_per_preset('ema_rampup')})"),
        Option("--linear-output", "linear_output", bool,
               "the ablation: G's image unbounded, as the reference code's (no tanh)",
               switch=True),
    ),
    pictures="{run}/style_mixing.png, {run}/truncation.png, {run}/noise_variation.png, "
             "{run}/interpolation.png",
    belongs=("is a StyleGAN option", "are StyleGAN options")))

register(Kind(
    name="biggan", title="BigGAN", stepper=biggan.BigGANStepper, train=biggan.train_biggan,
    options=(
        Option("--preset", "preset", str, "cpu (G 64-32 channels, D 32-64; the default) or gpu "
               "(G 256-64, D 64-256)", choices=("cpu", "gpu")),
        Option("--lr-g", "lr_g", positive, "generator learning rate (default the paper's)"),
        Option("--lr-d", "lr_d", positive, "discriminator learning rate"),
        Option("--n-critic", "n_critic", whole(1), "D steps per G step (default 2)"),
        Option("--ortho-reg", "ortho_reg", real(0),
               "orthogonal regularization's beta on G (Brock et al. 2019, eq. 3; the paper's "
               "1e-4; default 0: off)", metavar="B"),
        Option("--ema-kimg", "ema_kimg", real(0),
               f"the same, default {biggan.EMA_KIMG:g}, at most {biggan.EMA_RAMPUP:g} x the "
               f"images seen (in place of BigGAN's EMA start)"),
        Option("--no-spectral-norm", "no_spectral_norm", bool,
               "the ablation: no spectral norm on any layer (the orthogonal start kept)",
               switch=True),
        Option("--no-attention", "no_attention", bool,
               "the ablation: G and D without their self-attention block", switch=True),
    ),
    evaluate=truncation_tradeoff.evaluate_biggan_run,
    eval_options=(Option("--truncation-sweep", "truncation_sweep", bool,
                         "also score the same samples truncated at |z_i| <= "
                         + ", ".join(f"{t:g}" for t in biggan_pictures.THRESHOLDS)
                         + " and draw FID against the classifier score (the quality-diversity "
                         "trade-off) as RUN/" + truncation_tradeoff.PLOT, switch=True),),
    pictures="{run}/truncation.png, {run}/interpolation_within_class.png, "
             "{run}/interpolation_between_classes.png, {run}/attention.png",
    belongs=("is a BigGAN option", "are BigGAN options")))

register(Kind(
    name="cyclegan", title="CycleGAN", stepper=cyclegan.CycleGANStepper,
    train=cyclegan.train_cyclegan,
    options=(
        Option("--preset", "preset", str, "cpu (G ngf 16, 4 residual blocks, D ndf 32; the "
               "default) or gpu (ngf 64, 9 blocks, ndf 64)", choices=("cpu", "gpu")),
        Option("--lambda-cyc", "lambda_cyc", real(0),
               "the cycle loss's weight, lambda of eq. 3 (default 10)", metavar="L"),
        Option("--lambda-id", "lambda_id", real(0),
               "the identity loss's weight (default 0.5 x 10 = 5; 0: off)", metavar="L"),
        Option("--no-pool", "no_pool", bool, "the ablation: D sees only the newest generated "
               "images (no pool of 50)", switch=True),
        Option("--lr", "lr", positive, "the learning rate of G and D (default 2e-4)"),
    ),
    evaluate=translation.evaluate_cyclegan_run,
    pictures="{run}/samples/epoch_NNN.png (rows a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), "
             "G_AB(G_BA(b)))",
    belongs=("is a CycleGAN option", "are CycleGAN options"),
    commands=(Command("translate", "translate images of one domain into the other with a "
                      "trained CycleGAN run", translation.configure_translate,
                      translation.run_translate, writes=True, suffixes=(".npz", ".png")),)))


__all__ = ["Command", "Kind", "KINDS", "register", "kind_of"]
