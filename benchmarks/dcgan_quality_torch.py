"""The DCGAN recipe in PyTorch, trained and scored like ``tinygan train dcgan`` + ``tinygan eval``.

The comparison of benchmarks/README.md ("tinygan's DCGAN must be as good as the same
recipe in PyTorch"): the same network (tinygan/models/dcgan.py), initialization
(weights N(0, 0.02), BatchNorm gains N(1, 0.02)), loss (non-saturating, on logits),
optimizer (Adam 2e-4, betas (0.5, 0.999)), batch 64 with the last partial batch
dropped, one D step then one G step per batch (D's weights frozen in the G step),
on MNIST scaled to [-1, 1].  Then 10,000 samples (BatchNorm on batch statistics, in
batches of 500, as tinygan's sampler) are scored with tinygan's own metrics: FID
against the MNIST test set on the frozen classifier's features, and the classifier
score.

    python benchmarks/dcgan_quality_torch.py [--epochs 5] [--device cpu|cuda] [--seed 0] [--train-only]

Prints one JSON object: fid, classifier_score, n_samples, seconds (training only).
``--train-only`` stops after training (benchmarks/dcgan_epoch.py times that process).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--train-only", action="store_true", help="skip the scoring")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from tinygan import metrics
    from torch_dcgan import build
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    G, D = build(torch)
    G, D = G.to(dev), D.to(dev)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.tensor(metrics.real_images("mnist", train=True), device=dev)
    rng = np.random.default_rng(args.seed)
    batch = 64
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.tensor(rng.permutation(len(data)), device=dev)
        for i in range(len(data) // batch):
            real = data[order[i * batch:(i + 1) * batch]]
            with torch.no_grad():
                fake = G(torch.randn(batch, 100, device=dev))
            lr_, lf = D(real), D(fake)
            loss_d = (F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_))
                      + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf)))
            d_opt.zero_grad()
            loss_d.backward()
            d_opt.step()
            D.requires_grad_(False)
            lg = D(G(torch.randn(batch, 100, device=dev)))
            loss_g = F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg))
            g_opt.zero_grad()
            loss_g.backward()
            g_opt.step()
            D.requires_grad_(True)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    if args.train_only:
        print(json.dumps({"framework": f"torch {torch.__version__}", "device": args.device,
                          "epochs": args.epochs, "seconds": round(seconds, 1)}))
        return
    with torch.no_grad():
        samples = np.concatenate([G(torch.randn(500, 100, device=dev)).cpu().numpy()
                                  for _ in range(args.n // 500)]).astype(np.float32)
    test = metrics.real_images("mnist", train=False)
    clf = metrics.load_classifier("mnist")
    print(json.dumps({"framework": f"torch {torch.__version__}", "device": args.device,
                      "epochs": args.epochs, "seconds": round(seconds, 1),
                      "fid": metrics.fid(samples, test, clf),
                      "classifier_score": metrics.classifier_score(samples, clf),
                      "n_samples": len(samples)}))


if __name__ == "__main__":
    main()
