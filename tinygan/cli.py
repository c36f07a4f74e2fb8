"""The ``tinygan`` command (also ``python -m tinygan``).

    tinygan models                       list what can be trained
    tinygan train MODEL [--dataset mnist|fashion-mnist] [--epochs N] [--batch-size B]
                        (the classifier also takes --dataset mnist-thick-b, the digits of
                        domain B, and mnist-thick-domains, domain A or B: tinygan.data.domains)
                        [--seed S] [--device cpu|cuda] [--out runs/NAME] [--resume | --force]
                        [--ema BETA] [--max-steps N] [--quiet]
                        and the options of the model's kind (tinygan/train/kinds.py), today
                        GANs:  [--lr-g LR] [--lr-d LR] [--n-critic N]
                        VAEs:  [--lr LR] [--latent-dim D] [--likelihood bernoulli|gaussian]
                               [--beta B] [--capacity C_MAX] [--capacity-steps N] [--gamma G]
                        StyleGANs: [--preset cpu|gpu] [--conditional] [--lr-g LR] [--lr-d LR]
                               [--r1-gamma G] [--r1-interval N] [--pl-weight W]
                               [--pl-interval N] [--mixing P] [--ema-kimg K] [--ema-rampup R]
                               (the EMA: --ema-kimg, default 10, 0 off; or --ema BETA)
                        BigGANs: [--preset cpu|gpu] [--lr-g LR] [--lr-d LR] [--n-critic N]
                               [--ortho-reg B] [--ema-kimg K]
                               (the EMA: --ema-kimg, default 10, 0 off; or --ema BETA)
                        CycleGANs: [--preset cpu|gpu] [--lambda-cyc L] [--lambda-id L]
                               [--no-pool]
    tinygan sample RUN --n N --out FILE.npz|FILE.png [--force] [--label Y]
                       [--truncation T [--truncation-cutoff N]]
                        (--label: conditional models; --truncation: what the model calls
                        truncation -- StyleGAN: psi towards w_avg (and the cutoff); BigGAN:
                        the threshold t on |z_i|, entries beyond it resampled; recorded in
                        the .npz; a .png is the samples as one grid picture)
    tinygan eval RUN [--n N] [--json]   and the eval options of the run's kind, today
                                        VAEs:  [--iwae-k K]
                                        BigGANs: [--truncation-sweep]  (FID and score at
                                        t = 2, 1, 0.5, 0.25; RUN/truncation_tradeoff.png)
                        (samples larger than 28x28 are cropped to their centre 28x28 for the
                        frozen classifier, and the output says so)
    tinygan export RUN --out FILE.npz [--float16] [--force]
    tinygan translate RUN --direction AB|BA --in FILE.npz --out FILE.npz [--force]
                        (CycleGAN runs: a command its kind declares, tinygan/train/kinds.py)
    every command: [--debug]  (or TINYGAN_DEBUG=1) shows the traceback of a failure

The command knows the models through two tables: the registry of families
(tinygan/models/registry.py: name -> kind, data shape, classes, recipe) and the kinds of
training (tinygan/train/kinds.py: kind -> trainer, its options, its evaluation).  Nothing here
names a kind: a new family or a new kind appears in every command by its table entry.

A run folder (``runs/MODEL-DATASET`` by default) holds config.json, checkpoints/,
samples/epoch_NNN.png, samples.png, losses.png and metrics.jsonl.  ``sample``, ``eval`` and
``translate`` also take ``pretrained:NAME``, a trained model shipped with tinygan
(``pretrained:dcgan``, ``pretrained:cgan``, ``pretrained:vae``, ``pretrained:biggan``;
``pretrained:cyclegan``, which translates; tinygan/weights/README.md), or a FILE.npz that
``export`` wrote from a run: what sampling needs (a GAN's generator, a whole VAE, both
directions of a CycleGAN), not what resuming needs.

When something goes wrong, a command prints one line on stderr -- ``tinygan COMMAND: what,
naming the file or argument, and what to do`` -- and exits with 2 for bad input (an argument
out of range, a path that can't be used, a run folder or checkpoint that isn't usable) or 1
for a failed run (a NaN loss, a data set that can't be had, a full disk, an unexpected error);
130 after Ctrl-C.  ``main`` is the one place that turns an exception into that line and
status (``_explain``); the commands themselves just raise.  Arguments are checked by the
parser and the paths and device before anything is written, and no command writes over a file
it did not create for this run unless ``--force`` says so, nor inside a run's checkpoints/.
Warnings (a record that could not be kept, a resume that will not be bit-exact) are one line
each too, ``tinygan COMMAND: warning: ...``.
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
import traceback
import warnings
from pathlib import Path


class UsageError(Exception):
    """The command line asks for something that can't be done: exit status 2, one line."""


CLASSIFIER = {"classifier": "a small CNN (the frozen feature network of FID and the classifier score)"}
# What --dataset takes: every model the first two; the classifier also the domain pair's data
# (tinygan.train.classifier.DATASETS; written out so that the parser needs no import).
CLASSIFIER_DATASETS = ("mnist", "fashion-mnist", "mnist-thick-b", "mnist-thick-domains")


def _families() -> dict:
    """Every trainable family, of every kind: name -> class (tinygan.models.registry)."""
    from .models.registry import REGISTRY
    return {name: entry.cls for name, entry in REGISTRY.items()}


def _kinds() -> dict:
    """The kinds of training step: name -> Kind (tinygan.train.kinds)."""
    from .train.kinds import KINDS
    return KINDS


def _classifier_options() -> tuple:
    """``tinygan train classifier``'s option of its own (the classifier is a recipe, not a kind)."""
    from .train.options import Option, real
    return (Option("--lr", "lr", real(0, low_included=False), "learning rate (default 2e-3)"),)


def _option_table(evaluation: bool = False) -> dict:
    """flag -> ``(Option, [owners])``: every kind's options (``evaluation``: its ``tinygan
    eval`` options), and the classifier's for ``train``; a flag two owners share (a VAE's
    and the classifier's ``--lr``) is one option."""
    table: dict = {}
    owners = [] if evaluation else [("classifier", _classifier_options())]
    owners += [(kind.title + "s", kind.eval_options if evaluation else kind.options)
               for kind in _kinds().values()]
    for owner, options in owners:
        for option in options:
            if option.flag in table and table[option.flag][0].dest != option.dest:
                raise ValueError(f"{option.flag} is declared with two meanings: "
                                 f"{table[option.flag][0].dest!r} and {option.dest!r}")
            table.setdefault(option.flag, (option, []))[1].append((owner, option.help))
    return table


def _add_options(parser, evaluation: bool = False) -> None:
    """Add the kinds' options to ``parser``, each once, its help saying whose it is."""
    for option, owners in _option_table(evaluation).values():
        option.add_to(parser, help="; ".join(f"{owner}: {text}" for owner, text in owners))


def _foreign(args, kind, evaluation: bool = False) -> list:
    """``[(owning Kind, [flags])]``: the options given that are other kinds', not ``kind``'s."""
    own = set(kind.flags(evaluation))
    found: dict = {}
    for other in _kinds().values():
        for option in (other.eval_options if evaluation else other.options):
            if option.flag not in own and getattr(args, option.dest, None) is not None \
                    and not any(option.flag in flags for flags in found.values()):
                found.setdefault(other.name, []).append(option.flag)
    return [(_kinds()[name], flags) for name, flags in found.items()]


def _values(args, options) -> dict:
    """dest -> value of each of ``options``: as given on the command line, else its default
    (left out when that is None: the callee's own default holds)."""
    return {o.dest: o.value(args) for o in options if o.value(args) is not None}


def _describe(cls, width: int = 96) -> str:
    """The first paragraph of a family's docstring, on one line, shortened to ``width``."""
    text = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def _models() -> dict:
    """name -> one line: every family of the registry (tinygan.models.registry), of every
    kind, in registration order, then the classifier."""
    return {**{name: _describe(cls) for name, cls in _families().items()}, **CLASSIFIER}


def __getattr__(name):          # MODELS is computed on use: the registries live in tinygan.models
    if name == "MODELS":
        return _models()
    raise AttributeError(name)


def _train(args) -> int:
    out = Path(args.out or f"runs/{args.model}-{args.dataset}")
    if args.model == "classifier":
        _writable_folder(out, "--out")
        _check_device(args.device)
        from .train.classifier import train_classifier
        result = train_classifier(dataset=args.dataset, out=out, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                  device=args.device, resume=args.resume, force=args.force,
                                  progress=not args.quiet)
        print(json.dumps(result))
        return 0
    from .models.registry import REGISTRY
    from .train.kinds import kind_of
    if args.model not in REGISTRY:
        raise UsageError(f"unknown model {args.model!r}; known: {', '.join(_models())}")
    if args.dataset not in CLASSIFIER_DATASETS[:2]:
        raise UsageError(f"--dataset {args.dataset} is a data set of the classifier only "
                         f"(tinygan train classifier); {args.model} trains on mnist or fashion-mnist")
    try:
        kind = kind_of(REGISTRY[args.model])
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    wrong = _foreign(args, kind)
    if wrong:
        parts = [f"{', '.join(flags)} {owner.owns(len(flags))}" for owner, flags in wrong]
        takes = ", ".join(kind.flags()) or "no options of its own"
        raise UsageError(f"{args.model} is {kind.a()}: {'; '.join(parts)}; {kind.a()} takes {takes}")
    _writable_folder(out, "--out")
    _check_device(args.device)
    common = dict(dataset=args.dataset, out=out, epochs=args.epochs, batch_size=args.batch_size,
                  seed=args.seed if args.seed is not None else 0, device=args.device,
                  resume=args.resume, force=args.force, ema=args.ema, progress=not args.quiet,
                  max_steps=args.max_steps)
    result = kind.train(args.model, **common, **_values(args, kind.options))
    print(json.dumps(result))
    if not args.quiet and result.get("samples"):
        run = result["run"]
        print(f"samples: {run}/samples.png (every epoch's grid: {run}/samples/)\n"
              f"losses:  {result['losses']}")
        if kind.pictures:
            print(f"pictures: {kind.pictures.format(run=run)}")
    return 0


def _sample(args) -> int:
    import numpy as np

    from .atomic import atomic_write
    from .train.loop import sample_run
    path = _output_file(args.out, args.force, suffixes=(".npz", ".png"))
    _check_device(args.device)
    out = sample_run(args.run, args.n, seed=args.seed, device=args.device,
                     truncation=args.truncation, truncation_cutoff=args.truncation_cutoff,
                     label=args.label)
    if path.suffix == ".png":
        _sample_picture(path, out, args)
        return 0
    # Atomically: a write that fails (a full disk, Ctrl-C) leaves no half-written file.
    atomic_write(path, lambda f: np.savez(f, **out))
    print(f"wrote {len(out['images'])} samples to {path} ({', '.join(out)})")
    return 0


def _sample_picture(path: Path, out: dict, args) -> None:
    """``tinygan sample ... --out NAME.png``: the samples as one grid picture.  Labels drawn in
    turn (a conditional model without --label) make rows of 10, one class per column."""
    from . import viz
    images = out["images"]
    n = len(images)
    in_turn = ("labels" in out or "codes" in out) and args.label is None
    nrow = 10 if in_turn else max(1, math.ceil(math.sqrt(n)))
    said = [f"{n} samples of {args.run}", f"seed {args.seed}"]
    if args.label is not None:
        said.append(f"label {args.label}")
    if args.truncation is not None:
        said.append(f"truncation {args.truncation:g}")
    viz.save_image_grid(images, path, nrow=nrow, title=", ".join(said))   # atomically, as the .npz
    print(f"wrote a picture of {n} samples to {path}"
          + (" (a column per class)" if in_turn and "labels" in out else
             " (a column per categorical code)" if in_turn else ""))


def _number(value) -> str:
    """A figure for ``tinygan eval``'s table: floats to 4 decimals, the rest as they are."""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _eval(args) -> int:
    from .models.registry import REGISTRY
    from .train.evaluate import evaluate_run
    from .train.kinds import kind_of
    from .train.loop import run_config
    _check_device(args.device)
    model = run_config(args.run).get("model")
    # A run of a model this tinygan doesn't know: evaluate_run's loading says so.
    kind = kind_of(REGISTRY[model]) if model in REGISTRY else None
    wrong = [] if kind is None else _foreign(args, kind, evaluation=True)
    if wrong:
        owner, flags = wrong[0]
        raise UsageError(f"{', '.join(flags)} {'is' if len(flags) == 1 else 'are'} for "
                         f"{owner.title} runs; {args.run} is {kind.a()} run ({model}), "
                         f"which takes {', '.join(kind.flags(True)) or 'none of them'}")
    evaluate = evaluate_run if kind is None else kind.evaluate
    result = evaluate(args.run, n=args.n, seed=args.seed, device=args.device,
                      reference=not args.json,
                      **({} if kind is None else _values(args, kind.eval_options)))
    if args.json:
        print(json.dumps(result))
        return 0
    ref = result.pop("reference", None)
    for key, value in result.items():
        if isinstance(value, list):        # a kind's table (BigGAN's truncation sweep): a row each
            print(key)
            for row in value:
                print("  " + "  ".join(f"{k} {_number(v)}" for k, v in row.items()))
            continue
        print(f"{key:17s} {_number(value)}")
    if ref is not None and "fid" in ref:
        print(f"reference (real training images, n={ref['n_samples']}): FID {ref['fid']:.4f}, "
              f"classifier score of the test images {ref['classifier_score']:.4f}")
    elif ref is not None:                   # a kind's own reference figures
        print("reference (real test images): "
              + ", ".join(f"{k} {_number(v)}" for k, v in ref.items()))
    if model in REGISTRY:
        note = _classifier_input_note(REGISTRY[model].data_shape)
        if note:
            print(note)
    return 0


def _classifier_input_note(shape) -> str:
    """What ``tinygan.metrics.classifier_input`` does to samples of ``shape`` (C, H, W) before
    the frozen classifier (which takes 1x28x28) sees them, in one line; "" if nothing."""
    c, h, w = shape
    parts = []
    if (h, w) != (28, 28):
        parts.append(f"samples {h}x{w} cropped to the centre 28x28")
    if c != 1:
        parts.append(f"{'their' if parts else 'samples'} {c} channels averaged to gray")
    return ", ".join(parts) + " for the classifier (FID, classifier score)" if parts else ""


def _export(args) -> int:
    from .train.export import export_run
    path = _output_file(args.out, args.force)      # ends in .npz: how sample and eval know it
    result = export_run(args.run, path, float16=args.float16)
    print(f"wrote {result['path']}: {result['model']} "
          f"({'the generator' if result['part'] == 'G' else 'the whole model'}), "
          f"{result['parameters']:,} values in {result['dtype']}, {result['bytes']:,} bytes, "
          f"from epoch {result['epoch']}, step {result['step']}")
    return 0


def _kind_command(command):
    """The ``func`` of a kind's own command (tinygan.train.kinds.Command): its ``--out`` and
    ``--device`` checked as ``sample``'s are, then its ``run``; prints the line it returns."""
    def run(args) -> int:
        out = _output_file(args.out, args.force, command.suffixes) if command.writes else None
        if getattr(args, "device", None) is not None:
            _check_device(args.device)
        print(command.run(args, out))
        return 0
    return run


def _pretrained_lines() -> dict:
    """``pretrained:NAME`` -> one line, for ``tinygan models``."""
    from .models.shipped import PREFIX, PRETRAINED
    return {PREFIX + name: f"shipped trained weights: {text}"
            for name, (_, text) in sorted(PRETRAINED.items())}


# ----------------------------------------------------------------------------
# checks made before anything is written
# ----------------------------------------------------------------------------
def _check_device(spec: str) -> None:
    """UsageError unless ``--device spec`` names a device this machine has."""
    from . import backend
    try:
        dev = backend.device(spec)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--device {spec}: {exc}") from None
    if dev.type == "cuda":
        try:
            backend.cupy_module()
        except RuntimeError as exc:
            raise UsageError(f"--device {spec}: {exc}; or use --device cpu") from None


def _run_checkpoints_around(path: Path) -> Path | None:
    """The checkpoints/ folder of a run (a folder beside a config.json) that ``path`` is, or is
    inside of; None if there is none."""
    for folder in (path, *path.parents):
        if folder.name == "checkpoints" and (folder.parent / "config.json").is_file():
            return folder
    return None


def _writable_folder(folder: Path, flag: str, given: str | None = None) -> None:
    """UsageError unless ``folder`` is a folder, or could be made one, that this process may
    write in -- and is not inside another run's checkpoints/.  ``given``: the argument as typed,
    when ``folder`` is the folder of the file it names."""
    given = given or str(folder)
    inside = _run_checkpoints_around(Path(os.path.abspath(folder)))
    if inside is not None:
        raise UsageError(f"{flag} {given}: that is inside {inside}, the checkpoints of the run "
                         f"{inside.parent}; choose a folder of its own")
    existing = next(p for p in (folder, *folder.parents) if os.path.lexists(p))   # "." or "/" at last
    if not existing.is_dir():
        what = "is a file" if str(existing) == given else f"is under {existing}, which is a file"
        raise UsageError(f"{flag} {given} {what}, not a folder; choose another {flag}")
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY
        raise UsageError(f"{flag} {given}: {existing} can't be written to "
                         f"({'a read-only file system' if read_only else 'permission denied'}); "
                         f"choose another {flag}")


def _output_file(text: str, force: bool, suffixes: tuple = (".npz",)) -> Path:
    """The file ``--out text`` names -- ending in one of ``suffixes``, the first added if it
    ends in none -- after checking that it can be written: not a folder, not in a run's
    checkpoints/, and not an existing file unless ``force``."""
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise UsageError(f"--out {text} is a folder; give a file name, such as "
                         f"{os.path.join(text, 'samples' + suffixes[0])}")
    path = Path(text if text.endswith(suffixes) else text + suffixes[0])
    if path.name in suffixes:
        raise UsageError(f"--out {text!r} has no file name; give one, such as samples{suffixes[0]}")
    absolute = Path(os.path.abspath(path))
    inside = _run_checkpoints_around(absolute.parent)
    if inside is not None:
        raise UsageError(f"--out {path}: that is inside {inside}, the checkpoints of the run "
                         f"{inside.parent}; write it somewhere else")
    if os.path.lexists(path) and not force:
        raise UsageError(f"--out {path}: the file exists; pass --force to write over it, or "
                         "choose another name")
    _writable_folder(path.parent, "--out", given=str(path))
    return path


class _Parser(argparse.ArgumentParser):
    """argparse with its errors in the commands' form: one line naming the command, the
    argument and what is wrong, and where to read more (argparse's own error prints the whole
    usage above it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _list(args) -> int:
    models, shipped = _models(), _pretrained_lines()
    width = max(len(m) for m in (*models, *shipped))
    for name, text in {**models, **shipped}.items():
        print(f"{name:{width}s}  {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .train.options import finite, real, whole
    p = _Parser(prog="tinygan", description="Train and sample generative models.")
    debug = dict(action="store_true", help="on a failure, show the Python traceback too "
                 "(as TINYGAN_DEBUG=1 does)")
    p.add_argument("--debug", **debug)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write its run folder")
    t.add_argument("model", help="one of: " + ", ".join(_models()))
    t.add_argument("--dataset", default="mnist", choices=list(CLASSIFIER_DATASETS),
                   help="mnist or fashion-mnist; the classifier also takes "
                   f"{' and '.join(CLASSIFIER_DATASETS[2:])} (the domains of tinygan.data.domains)")
    t.add_argument("--epochs", type=whole(1))
    t.add_argument("--batch-size", type=whole(1))
    t.add_argument("--seed", type=whole(0))
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--out", help="the run folder (default runs/MODEL-DATASET)")
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    again.add_argument("--force", action="store_true", help="start afresh in an --out that holds "
                       "a run's files, removing them (config.json, metrics.jsonl, checkpoints/, "
                       "the pictures; nothing else)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    # Ranges of the options every model shares are the parser's to check (below, and --epochs
    # and the like above); the options of one kind are its own (tinygan/train/kinds.py).
    t.add_argument("--ema", type=real(0, 1), metavar="BETA",
                   help="sample from an exponential moving average of the weights (a GAN's G, "
                   "a whole VAE), e.g. 0.999")
    t.add_argument("--max-steps", type=whole(1),
                   help="stop after this many steps (a GAN's generator steps, a VAE's optimizer steps)")
    _add_options(t)
    t.set_defaults(func=_train)

    shipped = ", ".join(_pretrained_lines())
    s = sub.add_parser("sample", help="draw samples from a trained GAN or VAE into an .npz file "
                       "or a .png picture")
    s.add_argument("run", help=f"a run folder, a model shipped with tinygan ({shipped}) or "
                   "an .npz written by `tinygan export`")
    s.add_argument("--n", type=whole(1), default=64, help="how many samples")
    s.add_argument("--out", required=True, help="the .npz file: images float32 (N, C, H, W) in "
                   "[-1, 1], labels int64 (N,) for conditional models; or a .png file: the "
                   "samples as one grid picture")
    s.add_argument("--force", action="store_true", help="write over --out if it exists")
    s.add_argument("--seed", type=whole(0), default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--truncation", type=finite, metavar="T",
                   help="the truncation trick, as the model defines it: StyleGAN's psi, "
                   "w = w_avg + T (w - w_avg), 1 none, 0 the average w (recorded as "
                   "truncation_psi); BigGAN's threshold, every entry of z with |z_i| > T "
                   "resampled, T > 0 (recorded as truncation_threshold)")
    s.add_argument("--truncation-cutoff", type=whole(0), metavar="N",
                   help="truncate only the first N ws (the coarse styles; default all)")
    s.add_argument("--label", type=whole(0), metavar="Y",
                   help="every sample of class Y (conditional models; default the classes in turn)")
    s.set_defaults(func=_sample)

    e = sub.add_parser("eval", help="FID, classifier score (and label/code accuracy) of a run; "
                       "for a VAE also -ELBO and the IWAE estimate in nats")
    e.add_argument("run", help=f"a run folder, a model shipped with tinygan ({shipped}) or "
                   "an .npz written by `tinygan export`")
    e.add_argument("--n", type=whole(1), default=10_000, help="how many samples (at least 128)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--seed", type=whole(0), default=0)
    e.add_argument("--device", default="cpu")
    _add_options(e, evaluation=True)
    e.set_defaults(func=_eval)

    x = sub.add_parser("export", help="write the weights a run samples with (a GAN's generator, "
                       "a whole VAE; the EMA's if kept) to a small .npz that `sample` and `eval` "
                       "take in place of the run folder")
    x.add_argument("run", help="a run folder (its latest checkpoint)")
    x.add_argument("--out", required=True, help="the .npz file to write (.npz is added if missing)")
    x.add_argument("--float16", action="store_true",
                   help="store the weights in half precision (half the size; loaded as float32)")
    x.add_argument("--force", action="store_true", help="write over --out if it exists")
    x.set_defaults(func=_export)

    m = sub.add_parser("models", help="list the models (and the trained ones shipped with tinygan)")
    m.set_defaults(func=_list)
    own = []
    for kind in _kinds().values():          # the commands a kind brings (CycleGAN's translate)
        for command in kind.commands:
            if command.name in sub.choices:
                raise ValueError(f"the {kind.title} command {command.name!r} is already a command")
            c = sub.add_parser(command.name, help=command.help)
            command.configure(c)
            c.set_defaults(func=_kind_command(command))
            own.append(c)
    for command in (t, s, e, x, m, *own):   # --debug after the command too; SUPPRESS keeps one given before
        command.add_argument("--debug", **dict(debug, default=argparse.SUPPRESS))
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)    # a bad argument: its one line, then SystemExit(2)
    from .kernels.host_memory import keep_freed_memory
    keep_freed_memory()     # a tinygan process: tune malloc (kernels/host_memory.py), not on import
    debug = args.debug or os.environ.get("TINYGAN_DEBUG", "0") not in ("", "0")
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = lambda message, *_, **__: print(
                f"tinygan {args.command}: warning: {_one_line(str(message))}", file=sys.stderr)
        try:
            return args.func(args)
        except BaseException as exc:            # every failure, Ctrl-C included: one line
            if isinstance(exc, SystemExit):
                raise
            if debug:
                traceback.print_exc()
            status, message = _explain(exc, args.command)
            print(f"tinygan {args.command}: {_one_line(message)}", file=sys.stderr)
            return status


# What is left after Ctrl-C, when the exception does not say.
_INTERRUPTED = {"train": "the run's last checkpoint, if it had one, is kept (--resume continues "
                         "from it)",
                "sample": "nothing was written", "eval": "nothing was recorded"}
# OSErrors about the paths given (missing, existing, a file for a folder, no permission, a
# read-only file system) are bad input; the rest (a full disk, an I/O error) failed runs.
_PATH_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES,
                errno.EPERM, errno.EROFS, errno.ENAMETOOLONG}


def _explain(exc: BaseException, command: str) -> tuple:
    """``(exit status, message)`` for an exception a command raised: 2 for bad input, 1 for a
    failed run, 130 for Ctrl-C.  The one place the command's failures are sorted."""
    from .checkpoint import CheckpointError
    from .data.fetch import ChecksumError, DownloadError
    from .data.idx import IDXError
    from .train.loop import NonFiniteLossError
    from .train.run import RunFileError
    if isinstance(exc, KeyboardInterrupt):
        return 130, str(exc) or f"interrupted (Ctrl-C); {_INTERRUPTED.get(command, 'stopped')}"
    if isinstance(exc, UsageError):
        return 2, str(exc)
    if isinstance(exc, (DownloadError, ChecksumError, IDXError)):    # the data set, not the input
        return 1, str(exc)
    if isinstance(exc, (CheckpointError, RunFileError)):
        return 2, str(exc)
    if isinstance(exc, NonFiniteLossError):
        return 1, str(exc)
    if isinstance(exc, MemoryError):
        return 1, f"out of memory{f' ({exc})' if str(exc) else ''}; ask for less (a smaller " \
                  "--n or --batch-size)"
    if isinstance(exc, OSError):
        if exc.filename is not None and exc.strerror:
            where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
            message = f"{where}: {exc.strerror}"
        else:
            message = str(exc)
        return (2 if exc.errno in _PATH_ERRNOS or exc.errno is None else 1), message
    if isinstance(exc, KeyError):
        return 2, str(exc.args[0]) if exc.args else "KeyError"
    if isinstance(exc, ValueError):
        return 2, str(exc)
    return 1, f"{type(exc).__name__}: {exc} (unexpected; run again with --debug to see where)"


def _one_line(text: str) -> str:
    """``text`` on one line: its lines joined (a message must never take more than one)."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip()) or "failed"


if __name__ == "__main__":
    sys.exit(main())
