"""The ``tinygan`` command (also ``python -m tinygan``).

    tinygan models                       list what can be trained
    tinygan train MODEL [--dataset mnist|fashion-mnist] [--epochs N] [--batch-size B]
                        [--seed S] [--device cpu|cuda] [--out runs/NAME] [--resume]
                        [--ema BETA] [--max-steps N] [--quiet]
                        GANs:  [--lr-g LR] [--lr-d LR] [--n-critic N]
                        VAEs:  [--lr LR] [--latent-dim D] [--likelihood bernoulli|gaussian]
                               [--beta B] [--capacity C_MAX] [--capacity-steps N] [--gamma G]
    tinygan sample RUN --n N --out FILE.npz
    tinygan eval RUN [--n N] [--json] [--iwae-k K]
    tinygan export RUN --out FILE.npz [--float16]

A run folder (``runs/MODEL-DATASET`` by default) holds config.json, checkpoints/,
samples/epoch_NNN.png, samples.png, losses.png and metrics.jsonl.  ``sample`` and ``eval``
also take ``pretrained:NAME``, a trained model shipped with tinygan (``pretrained:dcgan``,
``pretrained:cgan``, ``pretrained:vae``; tinygan/weights/README.md), or a FILE.npz that
``export`` wrote from a run: what sampling needs (a GAN's generator, a whole VAE), not
what resuming needs.
"""
from __future__ import annotations

import argparse
import json
import sys

# Options that belong to one kind of model: (flag, argparse dest).
GAN_FLAGS = (("--lr-g", "lr_g"), ("--lr-d", "lr_d"), ("--n-critic", "n_critic"))
VAE_FLAGS = (("--latent-dim", "latent_dim"), ("--likelihood", "likelihood"), ("--beta", "beta"),
             ("--capacity", "capacity"), ("--capacity-steps", "capacity_steps"), ("--gamma", "gamma"))
CLASSIFIER = {"classifier": "a small CNN (the frozen feature network of FID and the classifier score)"}


def _families() -> dict:
    """Every trainable family, GANs and VAEs: name -> class."""
    from .train.loop import family_registry
    return family_registry()


def _is_vae(model: str) -> bool:
    from .train.loop import is_vae
    return is_vae(_families().get(model))


def _describe(cls, width: int = 96) -> str:
    """The first paragraph of a family's docstring, on one line, shortened to ``width``."""
    text = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


def _models() -> dict:
    """name -> one line: every GAN family of tinygan.models.FAMILIES, every VAE of
    tinygan.models.VAE_FAMILIES, then the classifier."""
    return {**{name: _describe(cls) for name, cls in _families().items()}, **CLASSIFIER}


def __getattr__(name):          # MODELS is computed on use: the registries live in tinygan.models
    if name == "MODELS":
        return _models()
    raise AttributeError(name)


def _train(args) -> int:
    if args.model == "classifier":
        from .train.classifier import train_classifier
        result = train_classifier(dataset=args.dataset, out=args.out, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                  device=args.device, resume=args.resume,
                                  progress=not args.quiet)
        print(json.dumps(result))
        return 0
    if args.model not in _families():
        print(f"tinygan train: unknown model {args.model!r}; known: {', '.join(_models())}",
              file=sys.stderr)
        return 2
    vae = _is_vae(args.model)
    wrong = [flag for flag, dest in (GAN_FLAGS if vae else VAE_FLAGS + (("--lr", "lr"),))
             if getattr(args, dest) is not None]
    if wrong:
        if vae:
            hint = f"{', '.join(wrong)} {'is a GAN option' if len(wrong) == 1 else 'are GAN options'}" \
                   "; a VAE takes --lr"
        else:
            hint = f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for the VAEs (--lr " \
                   "also for the classifier); a GAN takes --lr-g and --lr-d"
        print(f"tinygan train: {args.model} is a {'VAE' if vae else 'GAN'}: {hint}", file=sys.stderr)
        return 2
    from .train.loop import NonFiniteLossError
    common = dict(dataset=args.dataset, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                  seed=args.seed if args.seed is not None else 0, device=args.device,
                  resume=args.resume, ema=args.ema, progress=not args.quiet, max_steps=args.max_steps)
    try:
        if vae:
            from .train.vae import train_vae
            result = train_vae(args.model, lr=args.lr, latent_dim=args.latent_dim,
                               likelihood=args.likelihood, beta=args.beta, capacity=args.capacity,
                               capacity_steps=args.capacity_steps, gamma=args.gamma, **common)
        else:
            from .train.gan import train_gan
            result = train_gan(args.model, lr_g=args.lr_g, lr_d=args.lr_d, n_critic=args.n_critic,
                               **common)
    except NonFiniteLossError as exc:
        print(f"tinygan train: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted: {exc or 'the last checkpoint is kept'}", file=sys.stderr)
        return 130
    print(json.dumps(result))
    if not args.quiet and result.get("samples"):
        run = result["run"]
        print(f"samples: {run}/samples.png (every epoch's grid: {run}/samples/)\n"
              f"losses:  {result['losses']}")
        if vae:
            print(f"pictures: {run}/reconstructions.png, {run}/interpolation.png "
                  "(and latent_scatter.png for --latent-dim 2, traversals.png for beta_vae)")
    return 0


def _sample(args) -> int:
    import numpy as np

    from .train.gan import sample_run
    out = sample_run(args.run, args.n, seed=args.seed, device=args.device)
    path = args.out if args.out.endswith(".npz") else args.out + ".npz"
    np.savez(path, **out)
    print(f"wrote {len(out['images'])} samples to {path} ({', '.join(out)})")
    return 0


def _eval(args) -> int:
    from .train.loop import run_config
    if _is_vae(run_config(args.run).get("model")):
        from .train.vae import IWAE_K, evaluate_vae_run
        result = evaluate_vae_run(args.run, n=args.n, seed=args.seed, device=args.device,
                                  iwae_k=args.iwae_k if args.iwae_k is not None else IWAE_K,
                                  reference=not args.json)
    else:
        if args.iwae_k is not None:
            print("tinygan eval: --iwae-k is for VAE runs (a GAN has no likelihood to bound)",
                  file=sys.stderr)
            return 2
        from .train.gan import evaluate_run
        result = evaluate_run(args.run, n=args.n, seed=args.seed, device=args.device,
                              reference=not args.json)
    if args.json:
        print(json.dumps(result))
        return 0
    ref = result.pop("reference", None)
    for key, value in result.items():
        print(f"{key:17s} {value:.4f}" if isinstance(value, float) else f"{key:17s} {value}")
    if ref is not None:
        print(f"reference (real training images, n={ref['n_samples']}): FID {ref['fid']:.4f}, "
              f"classifier score of the test images {ref['classifier_score']:.4f}")
    return 0


def _export(args) -> int:
    from .models.shipped import export_run
    path = args.out if args.out.endswith(".npz") else args.out + ".npz"   # how sample/eval know it
    result = export_run(args.run, path, float16=args.float16)
    print(f"wrote {result['path']}: {result['model']} "
          f"({'the generator' if result['part'] == 'G' else 'the whole model'}), "
          f"{result['parameters']:,} values in {result['dtype']}, {result['bytes']:,} bytes, "
          f"from epoch {result['epoch']}, step {result['step']}")
    return 0


def _pretrained_lines() -> dict:
    """``pretrained:NAME`` -> one line, for ``tinygan models``."""
    from .models.shipped import PREFIX, PRETRAINED
    return {PREFIX + name: f"shipped trained weights: {text}"
            for name, (_, text) in sorted(PRETRAINED.items())}


def _list(args) -> int:
    models, shipped = _models(), _pretrained_lines()
    width = max(len(m) for m in (*models, *shipped))
    for name, text in {**models, **shipped}.items():
        print(f"{name:{width}s}  {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinygan", description="Train and sample generative models.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write its run folder")
    t.add_argument("model", help="one of: " + ", ".join(_models()))
    t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--out", help="the run folder (default runs/MODEL-DATASET)")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--lr", type=float, help="learning rate (classifier; VAEs, default 1e-3)")
    t.add_argument("--lr-g", type=float, help="generator learning rate (GANs; default the paper's)")
    t.add_argument("--lr-d", type=float, help="discriminator learning rate (GANs)")
    t.add_argument("--n-critic", type=int, help="D steps per G step (GANs)")
    t.add_argument("--ema", type=float, metavar="BETA",
                   help="sample from an exponential moving average of the weights (a GAN's G, "
                   "a whole VAE), e.g. 0.999")
    t.add_argument("--max-steps", type=int,
                   help="stop after this many generator steps (GANs) or optimizer steps (VAEs)")
    t.add_argument("--latent-dim", type=int,
                   help="z's size (VAEs; default 20, cvae 10; 2 draws the latent scatter)")
    t.add_argument("--likelihood", choices=["bernoulli", "gaussian"],
                   help="the VAE decoder: bernoulli on dynamically binarized digits (default) or "
                   "gaussian on grey levels in [0, 1] with a learned variance")
    t.add_argument("--beta", type=float, help="the KL weight of the VAE objective (>= 0; default 1, "
                   "4 for beta_vae)")
    t.add_argument("--capacity", type=float, metavar="C_MAX",
                   help="train on recon + gamma |KL - C| with C ramped from 0 to C_MAX nats "
                   "(VAEs; Burgess et al. 2018)")
    t.add_argument("--capacity-steps", type=int, help="steps of the capacity ramp (default 5000)")
    t.add_argument("--gamma", type=float, help="the weight of |KL - C| (default 1000)")
    t.set_defaults(func=_train)

    shipped = ", ".join(_pretrained_lines())
    s = sub.add_parser("sample", help="draw samples from a trained GAN or VAE into an .npz file")
    s.add_argument("run", help=f"a run folder, a model shipped with tinygan ({shipped}) or "
                   "an .npz written by `tinygan export`")
    s.add_argument("--n", type=int, default=64, help="how many samples")
    s.add_argument("--out", required=True, help="the .npz file: images float32 (N, 1, 28, 28) in "
                   "[-1, 1], labels int64 (N,) for conditional models")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_sample)

    e = sub.add_parser("eval", help="FID, classifier score (and label/code accuracy) of a run; "
                       "for a VAE also -ELBO and the IWAE estimate in nats")
    e.add_argument("run", help=f"a run folder, a model shipped with tinygan ({shipped}) or "
                   "an .npz written by `tinygan export`")
    e.add_argument("--n", type=int, default=10_000, help="how many samples (at least 128)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.add_argument("--iwae-k", type=int, help="importance samples of the IWAE bound (VAEs; default 100)")
    e.set_defaults(func=_eval)

    x = sub.add_parser("export", help="write the weights a run samples with (a GAN's generator, "
                       "a whole VAE; the EMA's if kept) to a small .npz that `sample` and `eval` "
                       "take in place of the run folder")
    x.add_argument("run", help="a run folder (its latest checkpoint)")
    x.add_argument("--out", required=True, help="the .npz file to write (.npz is added if missing)")
    x.add_argument("--float16", action="store_true",
                   help="store the weights in half precision (half the size; loaded as float32)")
    x.set_defaults(func=_export)

    m = sub.add_parser("models", help="list the models (and the trained ones shipped with tinygan)")
    m.set_defaults(func=_list)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .kernels.host_memory import keep_freed_memory
    keep_freed_memory()     # a tinygan process: tune malloc (kernels/host_memory.py), not on import
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as exc:
        if args.command == "train" and args.model == "classifier":
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"tinygan {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
