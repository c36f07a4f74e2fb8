"""VAE quality and speed: the table of the CLI runs, and an epoch's wall time against PyTorch.

Two commands (benchmarks/README.md, "VAE quality and speed", has the figures and how they
were made):

``table RUN...`` reads run folders made by ``tinygan train vae|conv_vae|beta_vae|cvae`` and
scored by ``tinygan eval RUN --json`` (the eval appends its result to the run's
metrics.jsonl) and prints one markdown row per run: epochs, the test -ELBO and IWAE
estimate in nats, FID, classifier score, cvae's label accuracy, and the training seconds
per epoch (from the epoch lines' cumulative ``seconds``: training steps only, without the
per-epoch test -ELBO, pictures and checkpoint)::

    python benchmarks/vae_quality.py table runs/vae-10ep runs/conv_vae-10ep runs/cvae-10ep

``speed`` times one training epoch (468 steps of batch 128 with the last partial batch
dropped, each a dynamic binarization of the batch, the forward pass, the -ELBO, backward
and an Adam step) of the same network in tinygan and in PyTorch, each in its own
subprocess, the two alternating ``--rounds`` times with the same thread count
(OMP/OPENBLAS/MKL_NUM_THREADS and torch.set_num_threads); the best time of each is kept
(the least disturbed by other load on a shared machine)::

    python benchmarks/vae_quality.py speed [--model vae|conv_vae] [--rounds 3] [--threads 1]
                                           [--steps N] [--json OUT]

tinygan's side is the trainer's own step (tinygan/train/vae.py: ``build_family``, its
DataLoader with ``Compose([to_float, binarize])``, ``make_optimizer``, ``family.loss``);
PyTorch's is benchmarks/vae_torch.py (the same network, data order and optimizer).
Ratio: PyTorch seconds / tinygan seconds (higher is better for tinygan; 1.0 is as fast;
the target is >= 0.8).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from side_by_side import sides as available_sides, thread_env  # noqa: E402
sys.path.insert(0, os.path.join(HERE, ".."))


# ----------------------------------------------------------------------------
# table
# ----------------------------------------------------------------------------
def _records(folder: str) -> list:
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(folder: str) -> dict:
    """What a run folder says about its quality and speed (see the module docstring)."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    recs = _records(folder)
    epochs = [r for r in recs if r.get("type") == "epoch"]
    evals = [r for r in recs if r.get("type") == "eval"]
    cum = [0.0] + [r["seconds"] for r in epochs]
    per_epoch = [b - a for a, b in zip(cum, cum[1:])]
    out = dict(run=folder, model=cfg["model"], epochs=len(epochs),
               test_neg_elbo_by_epoch=[round(r["test_neg_elbo"], 2) for r in epochs],
               epoch_seconds=[round(s, 1) for s in per_epoch])
    if evals:
        out.update({k: v for k, v in evals[-1].items() if k not in ("type", "step", "images")})
    return out


def table(folders: list) -> None:
    rows = [summarize(f) for f in folders]
    print("| run | model | epochs | test -ELBO (nats) | IWAE k=100 (nats) | FID | classifier score "
          "| label accuracy | s per epoch (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        secs = sorted(r["epoch_seconds"])
        med = secs[len(secs) // 2] if secs else float("nan")

        def fmt(key, spec):
            return format(r[key], spec) if key in r else "-"
        print(f"| {r['run']} | {r['model']} | {r['epochs']} | {fmt('neg_elbo_nats', '.2f')} | "
              f"{fmt('iwae_nats', '.2f')} | {fmt('fid', '.1f')} | {fmt('classifier_score', '.2f')} | "
              f"{fmt('label_accuracy', '.3f')} | {med:.1f} |")
    print(json.dumps(rows, indent=1))


# ----------------------------------------------------------------------------
# speed
# ----------------------------------------------------------------------------
def time_tinygan(model: str, steps: int | None) -> dict:
    from tinygan import random
    from tinygan.data import Compose, DataLoader, binarize, get_dataset, to_float
    from tinygan.train.loop import build_family, make_optimizer
    random.manual_seed(0)
    family = build_family(model)
    family.train()
    opt = make_optimizer(family.parameters(), "adam", 1e-3, family.defaults)
    train = get_dataset("mnist", train=True)
    loader = DataLoader((train.data, train.targets), batch_size=128, shuffle=True, drop_last=True,
                        seed=0, transform=Compose([to_float, binarize]))
    n = len(loader) if steps is None else min(steps, len(loader))
    total = 0.0
    t = time.perf_counter()
    for i, (x, _) in enumerate(loader):
        if i == n:
            break
        loss, stats = family.loss(x, None, step=i)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += stats["loss"]
    dt = time.perf_counter() - t
    return {"seconds": dt, "steps": n, "mean_loss": total / n}


def time_torch(model: str, steps: int | None, threads: int) -> dict:
    import torch
    import vae_torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    enc, dec = vae_torch.build(torch, model)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3, betas=(0.9, 0.999))
    batches = vae_torch.Batches(torch, seed=0)
    n = len(batches) if steps is None else min(steps, len(batches))
    total = 0.0
    t = time.perf_counter()
    for i, x in enumerate(batches.epoch(0)):
        if i == n:
            break
        loss = vae_torch.neg_elbo(torch, enc, dec, x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    dt = time.perf_counter() - t
    return {"seconds": dt, "steps": n, "mean_loss": total / n, "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def speed(args) -> None:
    env, sides = thread_env(args.threads), available_sides()
    load0 = os.getloadavg()
    runs: dict = {s: [] for s in sides}
    for r in range(args.rounds):
        for side in sides:
            cmd = [sys.executable, __file__, "child", side, "--model", args.model,
                   "--threads", str(args.threads)] + (["--steps", str(args.steps)] if args.steps else [])
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{side} failed:\n{out.stderr}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res["load"] = os.getloadavg()[0]
            runs[side].append(res)
            print(f"  round {r + 1} {side:8s} {res['seconds']:7.2f} s for {res['steps']} steps "
                  f"(mean loss {res['mean_loss']:.2f}; load average {res['load']:.2f})", flush=True)
    best = {s: min(runs[s], key=lambda x: x["seconds"]) for s in sides}
    print(f"{args.model}: one training epoch ({best['tinygan']['steps']} steps of batch 128), best of "
          f"{args.rounds} rounds, {args.threads} thread(s) each, load average "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    for s in sides:
        rate = 128 * best[s]["steps"] / best[s]["seconds"]
        print(f"  {s:8s} {best[s]['seconds']:7.2f} s  ({rate:.0f} images/s)")
    result = {"model": args.model, "threads": args.threads, "rounds": runs, "best": best,
              "load_start": load0, "load_end": os.getloadavg()}
    if "torch" in best:
        ratio = best["torch"]["seconds"] / best["tinygan"]["seconds"]
        result["ratio"] = ratio
        print(f"  ratio torch/tinygan time: {ratio:.2f}x (higher is better for tinygan; target >= 0.8x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table", help="one row per run folder")
    t.add_argument("runs", nargs="+")
    s = sub.add_parser("speed", help="an epoch's wall time, tinygan against PyTorch")
    s.add_argument("--model", default="vae", choices=["vae", "conv_vae"])
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--steps", type=int, help="time only this many steps (default: the whole epoch)")
    s.add_argument("--json")
    c = sub.add_parser("child")
    c.add_argument("side", choices=["tinygan", "torch"])
    c.add_argument("--model", default="vae")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--steps", type=int)
    args = ap.parse_args()
    if args.command == "table":
        table(args.runs)
    elif args.command == "speed":
        speed(args)
    else:
        sys.path.insert(0, HERE)
        res = time_tinygan(args.model, args.steps) if args.side == "tinygan" else \
            time_torch(args.model, args.steps, args.threads)
        print(json.dumps(res))


if __name__ == "__main__":
    main()
