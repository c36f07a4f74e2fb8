"""The StyleGAN-lite recipe search on a CPU: one variant of the cpu preset's recipe, scored as it trains.

Trains tinygan's own ``StyleGANStepper`` (tinygan/train/stylegan.py) on MNIST padded to 32x32
for ``--images`` images with the recipe given on the command line (every knob defaults to the
cpu preset's: tinygan/models/stylegan.py PRESETS["cpu"]), keeps a generator EMA with the
reference's half-life in images (ramped up by ``--ema-rampup``), and every ``--every`` images
scores ``--n-eval`` samples of the EMA generator with fixed z's: FID against the MNIST test
digits and the classifier score on the frozen classifier, and the fraction of samples the
classifier puts in its most common class ("top class": about 0.1 for digits of every class, 1.0
for a generator that has collapsed to one shape).  It writes ``OUT/log.jsonl`` (one line per
score) and two 10x10 grids per score: ``grid_NNNNk.png`` (the EMA) and ``raw_NNNNk.png`` (the
trained G itself, which shows a collapse without the EMA's lag).  The trained G itself is scored
too (``fid_raw``, ``score_raw``, ``top_class_frac_raw``): the EMA's effect, from the same run.

    python benchmarks/stylegan_recipe.py --out OUT [--images 40000] [--every 10000] [--n-eval 1000]
        [--lr-g 0.0025] [--lr-d 0.0025] [--r1 0.1] [--pl 0] [--mixing 0] [--mbstd 8]
        [--mbstd-channels 1] [--ema-kimg 10] [--ema-rampup 0.05] [--batch 32] [--seed 0]
        [--linear-output] [--conditional]

The table of variants tried, and what each did, is in benchmarks/README.md ("StyleGAN-lite on a
CPU: the recipe").  Run with TINYGAN_NUM_THREADS=1 to run two variants side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinygan import metrics, random as trandom, viz  # noqa: E402
from tinygan.autograd import Tensor, no_grad  # noqa: E402
from tinygan.data import get_dataset, normalize, to_float, to_shape  # noqa: E402
from tinygan.models import stylegan as sg  # noqa: E402
from tinygan.optim import EMA  # noqa: E402
from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL, StyleGANStepper  # noqa: E402

CPU = sg.PRESETS["cpu"]
REC = CPU["recipe"]


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--images", type=int, default=40_000)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--n-eval", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr-g", type=float, default=REC["lr_g"])
    ap.add_argument("--lr-d", type=float, default=REC["lr_d"])
    ap.add_argument("--beta1", type=float, default=0.0)
    ap.add_argument("--r1", type=float, default=REC["r1_gamma"])
    ap.add_argument("--pl", type=float, default=REC["pl_weight"])
    ap.add_argument("--mixing", type=float, default=REC["mixing"])
    ap.add_argument("--mbstd", type=int, default=CPU["mbstd_group_size"])
    ap.add_argument("--mbstd-channels", type=int, default=CPU["mbstd_num_channels"])
    ap.add_argument("--ema-kimg", type=float, default=REC["ema_kimg"])
    ap.add_argument("--ema-rampup", type=float, default=REC["ema_rampup"] or 0.0,
                    help="0: no ramp-up")
    ap.add_argument("--linear-output", action="store_true",
                    help="G's image without tanh (the reference's; StyleGAN(linear_output=True))")
    ap.add_argument("--conditional", action="store_true",
                    help="G and D take the labels (the scores' samples cycle the classes)")
    return ap.parse_args()


def main() -> None:
    a = arguments()
    os.makedirs(a.out, exist_ok=True)
    # The variant is a preset of its own: the cpu preset's sizes with this run's stddev.
    sg.PRESETS["variant"] = dict(CPU, mbstd_group_size=a.mbstd, mbstd_num_channels=a.mbstd_channels)
    trandom.manual_seed(a.seed)
    family = sg.StyleGAN("variant", conditional=a.conditional, linear_output=a.linear_output)
    stepper = StyleGANStepper(family, dict(
        lr_g=a.lr_g, lr_d=a.lr_d, betas=(a.beta1, 0.99), r1_gamma=a.r1, r1_interval=R1_INTERVAL,
        pl_weight=a.pl, pl_interval=PL_INTERVAL, mixing=a.mixing, seed=a.seed))
    ema = EMA(family.G, beta=0.0)

    train = get_dataset("mnist", train=True)
    x_all = to_shape(normalize(to_float(train.data)), (1, 32, 32), -1.0).astype(np.float32)
    y_all = train.targets.astype(np.int64)
    clf = metrics.load_classifier("mnist")
    test_stats = metrics.feature_statistics(
        metrics.classifier_outputs(metrics.real_images("mnist", train=False), clf)[0])
    z_fixed = np.random.default_rng(123).standard_normal((a.n_eval, family.latent_dim)).astype(np.float32)

    def generate() -> np.ndarray:
        # A conditional family asked for no labels cycles the classes 0..9 in each batch of 500.
        return np.concatenate([family.generate(Tensor(z_fixed[i:i + 500])).data
                               for i in range(0, a.n_eval, 500)])

    def scores(images: np.ndarray, suffix: str) -> dict:
        feats, probs = metrics.classifier_outputs(images, clf)
        top = np.bincount(probs.argmax(1), minlength=10).max() / len(probs)
        out = {"fid" + suffix: round(metrics.frechet_distance(
            *metrics.feature_statistics(feats), *test_stats), 2),
            "score" + suffix: round(metrics.classifier_score_from_probs(probs), 3),
            "top_class_frac" + suffix: round(float(top), 3)}
        if a.conditional:     # generate() asked for the classes in turn: 0, 1, ..., 9, 0, ...
            asked = np.arange(len(probs)) % 10
            out["label_accuracy" + suffix] = round(float((probs.argmax(1) == asked).mean()), 3)
        return out

    def score(seen: int) -> dict:
        state = trandom.get_rng_state()        # scoring draws noise: the training stream is kept
        family.G.eval()
        with no_grad():
            raw = generate()
            with ema.average_parameters(family.G):
                images = generate()
        family.G.train()
        trandom.set_rng_state(state)
        tag = f"{seen // 1000:04d}k"
        viz.save_image_grid(np.clip(images[:100], -1, 1), f"{a.out}/grid_{tag}.png", nrow=10, title=tag)
        viz.save_image_grid(np.clip(raw[:100], -1, 1), f"{a.out}/raw_{tag}.png", nrow=10,
                            title=f"raw {tag}")
        return dict(images=seen, **scores(images, ""), **scores(raw, "_raw"))

    rng = np.random.default_rng(a.seed)
    with open(f"{a.out}/log.jsonl", "a") as log:
        log.write(json.dumps(vars(a)) + "\n")
        seen, trained, next_score = 0, 0.0, a.every
        order, pos = rng.permutation(len(x_all)), 0
        while seen < a.images:
            if pos + a.batch > len(x_all):
                order, pos = rng.permutation(len(x_all)), 0
            idx = order[pos:pos + a.batch]
            pos += a.batch
            t0 = time.perf_counter()
            logged, _ = stepper.step(Tensor(x_all[idx]), Tensor(y_all[idx]), lambda *_: None)
            # The reference's EMA: half-life ema_kimg * 1000 images, ramped up to ramp * seen.
            nimg = a.ema_kimg * 1000 if a.ema_rampup <= 0 else min(a.ema_kimg * 1000, seen * a.ema_rampup)
            ema.beta = 0.5 ** (a.batch / max(nimg, 1e-8))
            ema.update()
            seen += a.batch
            trained += time.perf_counter() - t0
            if seen >= next_score or seen >= a.images:
                next_score += a.every
                rec = dict(score(seen), train_s=round(trained, 1), d_loss=float(logged["d_loss"]),
                           g_loss=float(logged["g_loss"]))
                print(json.dumps(rec), flush=True)
                log.write(json.dumps(rec) + "\n")
                log.flush()


if __name__ == "__main__":
    main()
