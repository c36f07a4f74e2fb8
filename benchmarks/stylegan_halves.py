"""Which half of StyleGAN-lite fails to train on a CPU: its generator or its discriminator?

Trains the label-conditional G of one family against the label-conditional D of another on
MNIST padded to 32x32, and scores the generator EMA every ``--every`` real images (FID,
classifier score and label accuracy of ``--n-eval`` samples; a grid per evaluation in ``--out``,
the figures in ``--out``/log.jsonl):

    --g stylegan|biggan   StyleGAN("cpu", conditional=True).G or BigGAN("cpu").G
    --linear-output       StyleGAN-lite's G with the reference's unbounded image (no tanh), as
                          it was when these runs were recorded
    --d stylegan|biggan   the same families' discriminators
    --loss hinge          BigGAN's hinge loss (no R1)
    --loss logistic       StyleGAN's non-saturating logistic loss, R1 every 16 D steps (lazy)

Adam with betas (0, --beta2), ``--n-critic`` D steps per G step, the generator EMA with a
half-life of 10k images ramped as 0.1 x the images seen.  The runs and what they showed:
benchmarks/README.md, "StyleGAN-lite on a CPU: the recipe".

    python benchmarks/stylegan_halves.py --out OUT --g biggan --d stylegan --loss logistic \\
        --r1 0.1 --lr-g 0.0005 --lr-d 0.002 --beta2 0.99 --n-critic 1 --batch 32
    python benchmarks/stylegan_halves.py --out OUT --g stylegan --d biggan --loss hinge --linear-output
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinygan import losses, metrics, viz  # noqa: E402
from tinygan import random as tg_random  # noqa: E402
from tinygan.autograd import Tensor, no_grad  # noqa: E402
from tinygan.data import get_dataset, normalize, to_float  # noqa: E402
from tinygan.losses.penalties import r1_penalty  # noqa: E402
from tinygan.models.base import frozen  # noqa: E402
from tinygan.models.biggan import BigGAN  # noqa: E402
from tinygan.models.stylegan import StyleGAN  # noqa: E402
from tinygan.optim import EMA, Adam  # noqa: E402

R1_INTERVAL = 16


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--g", choices=["stylegan", "biggan"], default="stylegan")
    p.add_argument("--d", choices=["stylegan", "biggan"], default="biggan")
    p.add_argument("--loss", choices=["hinge", "logistic"], default="hinge")
    p.add_argument("--r1", type=float, default=0.1, help="R1's gamma (logistic loss only)")
    p.add_argument("--lr-g", type=float, default=1e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--n-critic", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--images", type=int, default=120_000, help="real images to train on")
    p.add_argument("--every", type=int, default=20_000)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--linear-output", action="store_true",
                   help="StyleGAN-lite's G without its tanh (StyleGAN(linear_output=True))")
    return p.parse_args(argv)


def main(argv=None):
    a = parse(argv)
    os.makedirs(a.out, exist_ok=True)
    tg_random.manual_seed(a.seed)
    sg, bg = StyleGAN("cpu", conditional=True, linear_output=a.linear_output), BigGAN("cpu")
    if a.g == "stylegan":
        G, z_dim, generate = sg.G, sg.latent_dim, sg.generate
    else:
        G, z_dim, generate = bg.G, bg.latent_dim, bg.G
    D, discriminate = (sg.D, sg.discriminate) if a.d == "stylegan" else (bg.D, bg.D)
    opt_g = Adam(G.parameters(), lr=a.lr_g, betas=(0.0, a.beta2))
    opt_d = Adam(D.parameters(), lr=a.lr_d, betas=(0.0, a.beta2))
    ema = EMA(G, beta=0.0)

    train = get_dataset("mnist", train=True)
    X = np.pad(normalize(to_float(train.data)).astype(np.float32),
               ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    Y = np.asarray(train.targets, dtype=np.int64)
    rng = np.random.default_rng(a.seed)
    classifier = metrics.load_classifier("mnist")
    test_features, _ = metrics.classifier_outputs(metrics.real_images("mnist", train=False),
                                                  classifier)
    test_stats = metrics.feature_statistics(test_features)
    z_eval = np.random.default_rng(123).standard_normal((a.n_eval, z_dim)).astype(np.float32)
    y_eval = np.arange(a.n_eval) % 10

    def evaluate(tag):
        state = tg_random.get_rng_state()
        G.eval()
        with ema.average_parameters(G), no_grad():
            images = np.concatenate([generate(Tensor(z_eval[i:i + 500]),
                                              Tensor(y_eval[i:i + 500])).data
                                     for i in range(0, a.n_eval, 500)])
        G.train()
        tg_random.set_rng_state(state)
        features, probs = metrics.classifier_outputs(images, classifier)
        viz.save_image_grid(np.clip(images[:100], -1, 1), f"{a.out}/grid_{tag}.png", nrow=10,
                            title=tag)
        return dict(fid=round(metrics.frechet_distance(*metrics.feature_statistics(features),
                                                       *test_stats), 1),
                    score=round(metrics.classifier_score_from_probs(probs), 3),
                    label_acc=round(float((probs.argmax(1) == y_eval).mean()), 3))

    order, pos = rng.permutation(len(X)), 0

    def real_batch():
        nonlocal order, pos
        if pos + a.batch > len(X):
            order, pos = rng.permutation(len(X)), 0
        idx = order[pos:pos + a.batch]
        pos += a.batch
        return Tensor(X[idx]), Tensor(Y[idx])

    def noise():
        return (Tensor(rng.standard_normal((a.batch, z_dim)).astype(np.float32)),
                Tensor(rng.integers(0, 10, a.batch)))

    log = open(f"{a.out}/log.jsonl", "a")
    log.write(json.dumps(vars(a)) + "\n")
    seen, d_steps, iteration, train_s, next_eval = 0, 0, 0, 0.0, a.every
    while seen < a.images:
        t0 = time.perf_counter()
        for _ in range(a.n_critic):
            x, y = real_batch()
            seen, d_steps = seen + a.batch, d_steps + 1
            z, y_fake = noise()
            with no_grad():
                fake = generate(z, y_fake).detach()
            real_out, fake_out = discriminate(x, y), discriminate(fake, y_fake)
            if a.loss == "hinge":
                loss_d = losses.hinge_d_loss(real_out, fake_out)
            else:
                loss_d = losses.minimax_d_loss(real_out, fake_out)
                if a.r1 > 0 and d_steps % R1_INTERVAL == 0:      # lazy R1 (StyleGAN2 App. B)
                    loss_d = loss_d + R1_INTERVAL * r1_penalty(discriminate, x, a.r1, y)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        z, y_fake = noise()
        with frozen(D):
            fake_out = discriminate(generate(z, y_fake), y_fake)
            loss_g = (losses.hinge_g_loss(fake_out) if a.loss == "hinge"
                      else losses.nonsaturating_g_loss(fake_out))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        # EMA half-life 10k images, at most 0.1 x the images seen (as tinygan's trainers ramp it)
        ema.beta = 0.5 ** (a.batch * a.n_critic / max(min(10_000, 0.1 * seen), 1e-8))
        ema.update()
        train_s += time.perf_counter() - t0
        iteration += 1
        if iteration % 50 == 0:
            print(f"{seen} {train_s:.0f}s d={float(loss_d.data):.3f} g={float(loss_g.data):.3f}",
                  flush=True)
        if seen >= next_eval:
            next_eval += a.every
            record = dict(images=seen, train_s=round(train_s, 1), **evaluate(f"{seen // 1000:04d}k"))
            print(json.dumps(record), flush=True)
            log.write(json.dumps(record) + "\n")
            log.flush()


if __name__ == "__main__":
    main()
