"""StyleGAN-lite's recipe in PyTorch for a given wall time, scored like ``tinygan eval``.

The quality half of the side-by-side comparison (benchmarks/README.md: tinygan's FID after the
same wall time no worse than the PyTorch twin's): benchmarks/stylegan_torch.py's twin, started
from the weights of a tinygan StyleGAN of the same preset and seed, trained with the recipe of
``tinygan train stylegan`` (Adam 0.0025 (0, 0.99) with the lazy corrections, R1 gamma 0.0064 every
16 D steps, path length 2 every 4 G steps on half the batch, mixing 0.9, batch 32) on MNIST
padded to 32x32 (fill -1, centred, as the trainer's ToShape) for ``--seconds`` of training
(checked between steps; the scoring is not counted), one shuffled pass after another.  An
optional generator EMA (``--ema BETA`` per G step, as the trainer's ``--ema``) is what is
sampled when given.  Then ``--n`` samples (noise 'random', no truncation) are scored with
tinygan's metrics: FID against the MNIST test set on the frozen classifier's features and the
classifier score (the classifier sees the centre 28x28 of each 32x32 sample).

    python benchmarks/stylegan_quality.py --seconds 600 [--preset cpu] [--device cpu|cuda]
        [--threads 2] [--seed 0] [--ema 0.9978] [--n 10000] [--r1-gamma G] [--pl-weight W]
        [--mixing P] [--grid FILE.png]

Prints one JSON object: steps, images seen, seconds, fid, classifier_score, n_samples.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--preset", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--ema", type=float, default=None)
    ap.add_argument("--r1-gamma", type=float, default=None)
    ap.add_argument("--pl-weight", type=float, default=None)
    ap.add_argument("--mixing", type=float, default=None)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--grid", help="also save an 8x8 grid of samples to this PNG")
    args = ap.parse_args()

    import torch
    import stylegan_torch as twin
    import tinygan
    from tinygan import metrics
    from tinygan.data import to_shape
    from tinygan.models.stylegan import StyleGAN
    from tinygan.train.stylegan import MIXING, PL_INTERVAL, PL_WEIGHT, R1_GAMMA, R1_INTERVAL
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    tinygan.manual_seed(args.seed)
    family = StyleGAN(args.preset)
    G, D = twin.build(torch, args.preset, device=dev)
    twin.copy_from_tinygan(family, G, D)
    d = family.defaults
    stepper = twin.Stepper(
        torch, G, D, lr=d["lr_g"], betas=tuple(d["betas"]),
        r1_gamma=R1_GAMMA if args.r1_gamma is None else args.r1_gamma, r1_interval=R1_INTERVAL,
        pl_weight=PL_WEIGHT if args.pl_weight is None else args.pl_weight,
        pl_interval=PL_INTERVAL, mixing=MIXING if args.mixing is None else args.mixing)
    G_ema = copy.deepcopy(G).eval() if args.ema is not None else None

    data = to_shape(metrics.real_images(args.dataset, train=True), (1, 32, 32), -1.0)
    data = torch.tensor(np.asarray(data, np.float32), device=dev)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        order = torch.tensor(rng.permutation(len(data)), device=dev)
        for i in range(len(data) // args.batch):
            stepper.step(data[order[i * args.batch:(i + 1) * args.batch]])
            steps += 1
            if G_ema is not None:
                with torch.no_grad():
                    for pe, p in zip(G_ema.parameters(), G.parameters()):
                        pe.lerp_(p, 1 - args.ema)
                    for be, b in zip(G_ema.buffers(), G.buffers()):
                        be.copy_(b)
            if time.perf_counter() - t0 >= args.seconds:
                break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0

    net = (G_ema if G_ema is not None else G).eval()
    with torch.no_grad():
        samples = np.concatenate([net(torch.randn(500, G.z_dim, device=dev)).cpu().numpy()
                                  for _ in range(max(1, args.n // 500))]).astype(np.float32)
    if args.grid:
        from tinygan.viz import save_image_grid
        save_image_grid(np.clip(samples[:64], -1, 1), args.grid, nrow=8)
    test = metrics.real_images(args.dataset, train=False)
    clf = metrics.load_classifier(args.dataset)
    print(json.dumps({"framework": f"torch {torch.__version__}", "device": args.device,
                      "preset": args.preset, "threads": torch.get_num_threads(),
                      "steps": steps, "images": steps * args.batch, "seconds": round(seconds, 1),
                      "ema": args.ema, "fid": metrics.fid(samples, test, clf),
                      "classifier_score": metrics.classifier_score(samples, clf),
                      "n_samples": len(samples)}))


if __name__ == "__main__":
    main()
