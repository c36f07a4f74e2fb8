"""StyleGAN-lite's recipe in PyTorch for a given wall time, scored like ``tinygan eval``.

The quality half of the side-by-side comparison (benchmarks/README.md: tinygan's FID after the
same wall time no worse than the PyTorch twin's): benchmarks/stylegan_torch.py's twin, started
from the weights of a tinygan StyleGAN of the same preset and seed, trained with the recipe that
``tinygan train stylegan --preset P`` uses (the preset's ``recipe`` in
tinygan/models/stylegan.py PRESETS: learning rates, R1 gamma, path length weight, mixing, the
generator EMA's half-life in images with its ramp-up; Adam (0, 0.99) with the lazy corrections,
R1 every 16 D steps, path length every 4 G steps on half the batch, batch 32) on MNIST padded to
32x32 (fill -1, centred, as the trainer's ToShape), one shuffled pass after another.  At each
of ``--at`` seconds of training (checked between steps; the scoring is not counted), ``--n``
samples of the EMA generator (noise 'random', no truncation) are scored with tinygan's metrics:
FID against the MNIST test set on the frozen classifier's features and the classifier score
(the classifier sees the centre 28x28 of each 32x32 sample).

    python benchmarks/stylegan_quality.py --at 600,1200,1800 [--preset cpu] [--device cpu|cuda]
        [--threads 2] [--seed 0] [--n 10000] [--r1-gamma G] [--pl-weight W] [--mixing P]
        [--ema-kimg K] [--grid PREFIX]

Prints one JSON object per time in ``--at``: steps, images seen, seconds, fid,
classifier_score, n_samples (and writes PREFIX_<seconds>s.png, 100 samples, with --grid).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--at", required=True, help="seconds of training at which to score, e.g. 600,1200")
ap.add_argument("--preset", choices=["cpu", "gpu"], default="cpu")
ap.add_argument("--device", default="cpu")
ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--ema-kimg", type=float, default=None)
ap.add_argument("--r1-gamma", type=float, default=None)
ap.add_argument("--pl-weight", type=float, default=None)
ap.add_argument("--mixing", type=float, default=None)
ap.add_argument("--dataset", default="mnist")
ap.add_argument("--n", type=int, default=10_000)
ap.add_argument("--grid", help="also save 100 samples to PREFIX_<seconds>s.png at each time")


def main() -> None:
    args = ap.parse_args()
    at = sorted(float(t) for t in args.at.split(","))

    import torch
    import stylegan_torch as twin
    import tinygan
    from tinygan import metrics
    from tinygan.data import to_shape
    from tinygan.models.stylegan import PRESETS, StyleGAN
    from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    tinygan.manual_seed(args.seed)
    family = StyleGAN(args.preset)
    G, D = twin.build(torch, args.preset, device=dev)
    twin.copy_from_tinygan(family, G, D)
    r = {**family.defaults, **PRESETS[args.preset]["recipe"]}
    pick = lambda given, name: r[name] if given is None else given   # noqa: E731
    stepper = twin.Stepper(
        torch, G, D, lr_g=r["lr_g"], lr_d=r["lr_d"], betas=tuple(r["betas"]),
        r1_gamma=pick(args.r1_gamma, "r1_gamma"), r1_interval=R1_INTERVAL,
        pl_weight=pick(args.pl_weight, "pl_weight"), pl_interval=PL_INTERVAL,
        mixing=pick(args.mixing, "mixing"))
    ema_kimg, rampup = pick(args.ema_kimg, "ema_kimg"), r.get("ema_rampup")
    G_ema = copy.deepcopy(G).eval() if ema_kimg else None

    data = to_shape(metrics.real_images(args.dataset, train=True), (1, 32, 32), -1.0)
    data = torch.tensor(np.asarray(data, np.float32), device=dev)
    test = metrics.real_images(args.dataset, train=False)
    clf = metrics.load_classifier(args.dataset)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    def score(steps: int, seconds: float) -> None:
        net = (G_ema if G_ema is not None else G).eval()
        with torch.no_grad():
            samples = np.concatenate([net(torch.randn(500, G.z_dim, device=dev)).cpu().numpy()
                                      for _ in range(max(1, args.n // 500))]).astype(np.float32)
        G.train()
        if args.grid:
            from tinygan.viz import save_image_grid
            save_image_grid(np.clip(samples[:100], -1, 1), f"{args.grid}_{seconds:.0f}s.png", nrow=10)
        print(json.dumps({"framework": f"torch {torch.__version__}", "device": args.device,
                          "preset": args.preset, "threads": torch.get_num_threads(),
                          "steps": steps, "images": steps * args.batch, "seconds": round(seconds, 1),
                          "ema_kimg": ema_kimg, "fid": metrics.fid(samples, test, clf),
                          "classifier_score": metrics.classifier_score(samples, clf),
                          "n_samples": len(samples)}), flush=True)

    steps, trained = 0, 0.0
    while at:
        order = torch.tensor(rng.permutation(len(data)), device=dev)
        for i in range(len(data) // args.batch):
            t0 = time.perf_counter()
            seen = steps * args.batch            # the images before this batch (the trainer's)
            stepper.step(data[order[i * args.batch:(i + 1) * args.batch]])
            steps += 1
            if G_ema is not None:
                # The reference's half-life in images, ramped up: beta = 0.5 ** (batch / nimg).
                nimg = ema_kimg * 1000 if rampup is None else min(ema_kimg * 1000, seen * rampup)
                beta = 0.5 ** (args.batch / max(nimg, 1e-8))
                with torch.no_grad():
                    for pe, p in zip(G_ema.parameters(), G.parameters()):
                        pe.copy_(p.lerp(pe, beta))
                    for be, b in zip(G_ema.buffers(), G.buffers()):
                        be.copy_(b)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            trained += time.perf_counter() - t0
            if trained >= at[0]:
                score(steps, trained)
                at.pop(0)
                if not at:
                    break


if __name__ == "__main__":
    main()
