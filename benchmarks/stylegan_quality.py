"""StyleGAN-lite's recipe in PyTorch or tinygan for a given time, scored like ``tinygan eval``.

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

Per image instead of per second (benchmarks/README.md, "Per image"):

    python benchmarks/stylegan_quality.py --images --at 51232,101664 [--side torch|tinygan] ...

``--images`` reads ``--at`` as numbers of images seen.  ``--side tinygan`` runs tinygan's own
step (``StyleGANStepper``, as ``tinygan train stylegan`` does, with tinygan's EMA of G and the
same half-life schedule) in this same loop instead of the twin's: the same initialization, the
same batches in the same order, scored the same way (its samples from ``tinygan.randn``), so
that the two sides differ only in the step's arithmetic and random draws.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from contextlib import nullcontext

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
from side_by_side import sync  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--at", required=True, help="seconds of training at which to score, e.g. 600,1200")
ap.add_argument("--images", action="store_true", help="read --at as numbers of images seen")
ap.add_argument("--side", choices=["torch", "tinygan"], default="torch",
                help="whose training step runs in the loop (default: the PyTorch twin's)")
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


class TorchSide:
    """The PyTorch twin's step and EMA, started from tinygan's initialization."""

    def __init__(self, args, family, settings: dict, ema: bool):
        import torch
        import stylegan_torch as twin
        torch.set_num_threads(args.threads)
        self.torch, self.dev, self.args = torch, torch.device(args.device), args
        self.G, D = twin.build(torch, args.preset, device=self.dev)
        twin.copy_from_tinygan(family, self.G, D)
        self.stepper = twin.Stepper(torch, self.G, D, **settings)
        self.G_ema = copy.deepcopy(self.G).eval() if ema else None
        torch.manual_seed(args.seed)
        self.framework = f"torch {torch.__version__}"

    def threads(self) -> int:
        return self.torch.get_num_threads()

    def step(self, batch: np.ndarray, beta) -> None:
        torch = self.torch
        self.stepper.step(torch.tensor(batch, device=self.dev))
        if beta is not None:
            with torch.no_grad():
                for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    pe.copy_(p.lerp(pe, beta))
                for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
                    be.copy_(b)
        sync(self.args.device, "torch")

    def samples(self, n: int) -> np.ndarray:
        torch = self.torch
        net = (self.G_ema if self.G_ema is not None else self.G).eval()
        with torch.no_grad():
            out = [net(torch.randn(500, self.G.z_dim, device=self.dev)).cpu().numpy()
                   for _ in range(max(1, n // 500))]
        self.G.train()
        return np.concatenate(out).astype(np.float32)


class TinyganSide:
    """tinygan's own step (StyleGANStepper) and EMA of G, in the same loop."""

    def __init__(self, args, family, settings: dict, ema: bool):
        import tinygan
        from tinygan import optim
        from tinygan.kernels import threads
        from tinygan.kernels.host_memory import keep_freed_memory
        from tinygan.train.stylegan import StyleGANStepper
        keep_freed_memory()                       # as the trainer and the CLI do
        threads.set_num_threads(args.threads)
        self.tinygan, self.family, self.args = tinygan, family.to(args.device), args
        self.stepper = StyleGANStepper(family, dict(settings, seed=args.seed))
        self.ema = optim.EMA(family.G, beta=0.0) if ema else None
        self.framework = f"tinygan {tinygan.__version__}"
        self._threads = threads.get_num_threads()

    def threads(self) -> int:
        return self._threads

    def step(self, batch: np.ndarray, beta) -> None:
        self.stepper.step(self.tinygan.tensor(batch, device=self.args.device), None,
                          lambda value, which=None: None)
        if beta is not None:
            self.ema.update(beta=beta)
        sync(self.args.device, "tinygan")

    def samples(self, n: int) -> np.ndarray:
        tinygan, family = self.tinygan, self.family
        with (self.ema.average_parameters(family.G) if self.ema is not None else nullcontext()):
            with tinygan.no_grad():
                family.G.eval()
                out = [family.generate(tinygan.randn(500, family.latent_dim,
                                                     device=self.args.device)).numpy()
                       for _ in range(max(1, n // 500))]
                family.G.train()
        return np.concatenate(out).astype(np.float32)


def main() -> None:
    args = ap.parse_args()
    at = sorted(float(t) for t in args.at.split(","))

    import tinygan
    from tinygan import metrics
    from tinygan.data import to_shape
    from tinygan.models.stylegan import PRESETS, StyleGAN
    from tinygan.optim.ema_half_life import EMAHalfLife
    from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL

    tinygan.manual_seed(args.seed)
    family = StyleGAN(args.preset)
    r = {**family.defaults, **PRESETS[args.preset]["recipe"]}
    pick = lambda given, name: r[name] if given is None else given   # noqa: E731
    # the step's settings, the same for both sides
    settings = dict(lr_g=r["lr_g"], lr_d=r["lr_d"], betas=tuple(r["betas"]),
                    r1_gamma=pick(args.r1_gamma, "r1_gamma"), r1_interval=R1_INTERVAL,
                    pl_weight=pick(args.pl_weight, "pl_weight"), pl_interval=PL_INTERVAL,
                    mixing=pick(args.mixing, "mixing"))
    ema_kimg = pick(args.ema_kimg, "ema_kimg")
    side = (TinyganSide if args.side == "tinygan" else TorchSide)(args, family, settings,
                                                                 bool(ema_kimg))
    # The reference's half-life in images, ramped up: beta = 0.5 ** (batch / nimg), as the trainer.
    schedule = EMAHalfLife(args.batch, ema_kimg, r.get("ema_rampup")) if ema_kimg else None

    data = np.asarray(to_shape(metrics.real_images(args.dataset, train=True), (1, 32, 32), -1.0),
                      np.float32)
    test = metrics.real_images(args.dataset, train=False)
    clf = metrics.load_classifier(args.dataset)
    rng = np.random.default_rng(args.seed)        # the data order: the same for both sides

    def score(steps: int, seconds: float) -> None:
        samples = side.samples(args.n)
        if args.grid:
            from tinygan.viz import save_image_grid
            name = f"{steps * args.batch}img" if args.images else f"{seconds:.0f}s"
            save_image_grid(np.clip(samples[:100], -1, 1), f"{args.grid}_{name}.png", nrow=10)
        print(json.dumps({"framework": side.framework, "device": args.device,
                          "preset": args.preset, "threads": side.threads(), "seed": args.seed,
                          "steps": steps, "images": steps * args.batch, "seconds": round(seconds, 1),
                          "ema_kimg": ema_kimg, "fid": metrics.fid(samples, test, clf),
                          "classifier_score": metrics.classifier_score(samples, clf),
                          "n_samples": len(samples)}), flush=True)

    steps, trained = 0, 0.0
    while at:
        order = rng.permutation(len(data))
        for i in range(len(data) // args.batch):
            t0 = time.perf_counter()
            seen = steps * args.batch            # the images before this batch (the trainer's)
            side.step(data[order[i * args.batch:(i + 1) * args.batch]],
                      schedule(seen) if schedule is not None else None)
            steps += 1
            trained += time.perf_counter() - t0
            if (steps * args.batch if args.images else trained) >= at[0]:
                score(steps, trained)
                at.pop(0)
                if not at:
                    break


if __name__ == "__main__":
    main()
