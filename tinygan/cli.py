"""The ``tinygan`` command (also ``python -m tinygan``).

    tinygan models                       list what can be trained
    tinygan train MODEL [--dataset mnist|fashion-mnist] [--epochs N] [--batch-size B]
                        [--seed S] [--device cpu|cuda] [--out runs/NAME] [--resume]
"""
from __future__ import annotations

import argparse
import json
import sys

MODELS = {
    "classifier": "a small CNN (the frozen feature network of FID and the classifier score)",
}


def _train(args) -> int:
    if args.model == "classifier":
        from .train.classifier import train_classifier
        result = train_classifier(dataset=args.dataset, out=args.out, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                  device=args.device, resume=args.resume,
                                  progress=not args.quiet)
        print(json.dumps(result))
        return 0
    print(f"tinygan train: unknown model {args.model!r}; known: {', '.join(MODELS)}", file=sys.stderr)
    return 2


def _models(args) -> int:
    width = max(len(m) for m in MODELS)
    for name, text in MODELS.items():
        print(f"{name:{width}s}  {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinygan", description="Train and sample generative models.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write its run folder")
    t.add_argument("model", help="one of: " + ", ".join(MODELS))
    t.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--out", help="the run folder (default runs/MODEL-DATASET)")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)
    m = sub.add_parser("models", help="list the models")
    m.set_defaults(func=_models)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
