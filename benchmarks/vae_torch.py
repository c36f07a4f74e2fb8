"""The VAE recipes in PyTorch, trained and scored like ``tinygan train vae`` + ``tinygan eval``.

The twin of benchmarks/README.md's "VAE quality and speed": the same network as
tinygan/models/vae.py (``vae``: MLP 784-400-20 with ReLU; ``conv_vae``: conv 1->32->64
stride 2, Linear to (mu, logvar), and the transposed mirror), Bernoulli decoder on logits,
PyTorch's default initialization (tinygan's layers use the same), the same objective (the
batch mean of -log p(x|z) + KL(q(z|x) || N(0, I)), one reparameterized sample, analytic KL),
Adam lr 1e-3 betas (0.9, 0.999), batch 128 with the last partial batch dropped, on the MNIST
training set *dynamically binarized* (a fresh Bernoulli draw per batch).  The images and
the epoch order come from tinygan's own loading (``tinygan.data.get_dataset``, the
permutation of ``tinygan.data.DataLoader.order`` for seed 0), so both frameworks see the
same digits in the same order; only the binarization draws and the noise come from each
framework's own generator.

The test set is tinygan's ``tinygan.train.vae.evaluation_images``: the 10,000 MNIST test
digits binarized *once* with the fixed seed ``TEST_BINARIZATION_SEED`` -- the very array
``tinygan eval`` scores -- on which this script reports the mean -ELBO (one sample per digit,
analytic KL) and the IWAE estimate -L_k (Burda et al. 2016, eq. 8, k = 100 by default), in
nats per image.

    python benchmarks/vae_torch.py [--model vae|conv_vae] [--epochs 10] [--seed 0]
                                   [--iwae-k 100] [--threads N] [--json OUT]

Prints a line per epoch (train -ELBO, test -ELBO, seconds) and one JSON object:
neg_elbo_nats, iwae_nats, iwae_k, epoch_seconds (training only, per epoch), epochs, model.

``build``, ``Batches`` and ``train_epoch`` are also used by benchmarks/vae_quality.py to
time an epoch side by side with tinygan.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

LATENT = 20
MODELS = ("vae", "conv_vae")


def build(torch, model: str = "vae", latent: int = LATENT):
    """``(encoder, decoder)`` of ``model``, as in tinygan/models/vae.py: the encoder maps
    (N, 1, 28, 28) to (N, 2 * latent) = [mu | logvar], the decoder z to (N, 1, 28, 28) logits."""
    nn = torch.nn
    if model == "vae":
        enc = nn.Sequential(nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * latent))
        dec = nn.Sequential(nn.Linear(latent, 400), nn.ReLU(), nn.Linear(400, 784),
                            nn.Unflatten(1, (1, 28, 28)))
    elif model == "conv_vae":
        enc = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                            nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent))
        dec = nn.Sequential(nn.Linear(latent, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                            nn.ConvTranspose2d(32, 1, 4, 2, 1))
    else:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    return enc, dec


def neg_elbo(torch, enc, dec, x, eps=None):
    """-ELBO(x) per image (N,), nats: -log p(x|z) (Bernoulli on logits) + analytic KL."""
    F = torch.nn.functional
    mu, logvar = enc(x).chunk(2, 1)
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu + (0.5 * logvar).exp() * eps
    recon = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (logvar.exp() + mu * mu - 1.0 - logvar).sum(1)
    return recon + kl


def iwae(torch, enc, dec, x, k: int, chunk: int = 20):
    """The IWAE bound L_k(x) per image (N,), nats (Burda et al. 2016, eq. 8):
    logsumexp_i log w_i - log k, w_i = p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x)."""
    F = torch.nn.functional
    mu, logvar = enc(x).chunk(2, 1)
    n = x.shape[0]
    log2pi = math.log(2 * math.pi)
    log_ws = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        m, lv, xr = mu.repeat(c, 1), logvar.repeat(c, 1), x.repeat(c, 1, 1, 1)
        eps = torch.randn_like(m)
        z = m + (0.5 * lv).exp() * eps
        log_px = -F.binary_cross_entropy_with_logits(dec(z), xr, reduction="none").flatten(1).sum(1)
        log_pz = -0.5 * (log2pi + z * z).sum(1)
        log_qz = -0.5 * (log2pi + lv + eps * eps).sum(1)
        log_ws.append((log_px + log_pz - log_qz).reshape(c, n))
    return torch.logsumexp(torch.cat(log_ws), 0) - math.log(k)


class Batches:
    """The training batches of one epoch as tinygan's DataLoader orders them (seed ``seed``,
    batch 128, last partial batch dropped), each dynamically binarized by torch's generator."""

    def __init__(self, torch, seed: int = 0, batch: int = 128):
        from tinygan.data import DataLoader, get_dataset
        images = get_dataset("mnist", train=True).data
        self.torch, self.batch = torch, batch
        self.loader = DataLoader((images, np.zeros(len(images), np.int64)), batch_size=batch,
                                 shuffle=True, drop_last=True, seed=seed)
        # [0, 1] floats, as tinygan's to_float (uint8 * float32(1/255))
        self.data = torch.from_numpy(np.asarray(images)).unsqueeze(1).float() * np.float32(1 / 255)

    def __len__(self) -> int:
        return len(self.loader)

    def epoch(self, e: int):
        torch = self.torch
        order = torch.from_numpy(self.loader.order(e))
        for i in range(len(self.loader)):
            x = self.data[order[i * self.batch:(i + 1) * self.batch]]
            yield (torch.rand_like(x) < x).float()


def train_epoch(torch, enc, dec, opt, batches: Batches, e: int) -> float:
    """One epoch of Adam steps on mean(-ELBO); returns the epoch's mean training -ELBO."""
    total = 0.0
    for x in batches.epoch(e):
        loss = neg_elbo(torch, enc, dec, x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total / len(batches)


def test_set(torch):
    """tinygan's fixed binarization of the 10,000 test digits, as a torch tensor."""
    from tinygan.train.vae import evaluation_images
    x, _ = evaluation_images("mnist", "bernoulli")
    return torch.from_numpy(np.ascontiguousarray(x))


def evaluate(torch, enc, dec, x, iwae_k: int = 0, batch: int = 500) -> dict:
    out = {}
    with torch.no_grad():
        out["neg_elbo_nats"] = float(sum(neg_elbo(torch, enc, dec, x[a:a + batch]).double().sum()
                                         for a in range(0, len(x), batch)) / len(x))
        if iwae_k:
            out["iwae_nats"] = float(sum(-iwae(torch, enc, dec, x[a:a + 100], iwae_k).double().sum()
                                         for a in range(0, len(x), 100)) / len(x))
            out["iwae_k"] = iwae_k
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="vae", choices=MODELS)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iwae-k", type=int, default=100, help="0: no IWAE estimate")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    enc, dec = build(torch, args.model)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3, betas=(0.9, 0.999))
    batches = Batches(torch, args.seed)
    test = test_set(torch)
    seconds = []
    for e in range(args.epochs):
        t = time.perf_counter()
        train = train_epoch(torch, enc, dec, opt, batches, e)
        seconds.append(time.perf_counter() - t)
        test_ne = evaluate(torch, enc, dec, test)["neg_elbo_nats"]
        print(f"epoch {e + 1}: train -ELBO {train:.2f}, test -ELBO {test_ne:.2f}, {seconds[-1]:.1f} s",
              file=sys.stderr, flush=True)
    result = dict(framework=f"torch {torch.__version__}", model=args.model, epochs=args.epochs,
                  seed=args.seed, threads=torch.get_num_threads(),
                  **evaluate(torch, enc, dec, test, args.iwae_k),
                  epoch_seconds=[round(s, 2) for s in seconds])
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
