"""InfoGAN's networks, measured: the paper's MNIST networks against DCGAN's, and each half.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/infogan_networks.py VARIANT \
        [--epochs 1] [--seed 0] [--n 2000] [--device cpu] [--out RUN]

VARIANT (everything but the networks is tinygan.models.infogan.InfoGAN: the losses of
eq. 5-6, lambda_cat 1, lambda_cont 0.1, Adam lr_G 1e-3 / lr_D 2e-4, beta1 0.5, batch 128):
  table1      ``infogan`` as shipped: the paper's networks (Chen et al. 2016, appendix C.1,
              Table 1): D/Q's shared body ends in FC-1024-BN-LReLU; G starts
              FC-1024-BN-ReLU -> FC-7*7*128-BN-ReLU.
  dcgan_nets  the first version: DCGAN's networks unchanged.  G = Linear(74, 128*7*7)-BN-ReLU-
              ConvT-BN-ReLU-ConvT-tanh; D's head Linear(6272, 1) and Q's Linear(6272, 128)
              read the conv features directly.
  table1_d    Table 1's D/Q, DCGAN's G.
  table1_g    Table 1's G, DCGAN's D/Q.

Each variant trains through the shared trainer (runs/infogan_networks-VARIANT) and is
scored like ``tinygan eval RUN --n N``: FID, classifier score and code accuracy.  The
variants build their layers in the same order as the family, so with the same seed
``dcgan_nets`` draws the same initial weights and noise as ``infogan`` did at commit
217a49a (before the change), and ``table1`` the same as ``tinygan train infogan``.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinygan import nn  # noqa: E402
from tinygan.models import FAMILIES  # noqa: E402
from tinygan.models.dcgan import DCGAN, FEATURES, discriminator_body, generator, init_weights_  # noqa: E402
from tinygan.models.infogan import InfoDiscriminator, InfoGAN, QHead, info_generator  # noqa: E402


class DCGANInfoD(InfoDiscriminator):
    """The first version's D: DCGAN's body (N, 6272) and head Linear(6272, 1)."""

    def __init__(self):
        nn.Module.__init__(self)
        self.body = discriminator_body(batchnorm=True)
        self.head = nn.Linear(FEATURES, 1)


class DCGANQ(QHead):
    """The first version's Q: Linear(6272, 128)-BN-LReLU-Linear(128, 12)."""

    def __init__(self, n_cat: int = 10, n_cont: int = 2, hidden: int = 128):
        nn.Module.__init__(self)
        self.n_cat = n_cat
        self.net = nn.Sequential(nn.Linear(FEATURES, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, n_cat + n_cont))


def _variant(name: str, table1_g: bool, table1_d: bool) -> type:
    def __init__(self):
        in_dim = self.latent_dim + self.n_cat
        DCGAN.__init__(self, info_generator(in_dim) if table1_g else generator(in_dim),
                       InfoDiscriminator() if table1_d else DCGANInfoD())
        self.Q = init_weights_((QHead if table1_d else DCGANQ)(self.n_cat, self.n_cont))
    return type(f"InfoGAN_{name}", (InfoGAN,), {"name": f"infogan_{name}", "__init__": __init__})


VARIANTS = {"table1": InfoGAN,
            "dcgan_nets": _variant("dcgan_nets", table1_g=False, table1_d=False),
            "table1_d": _variant("table1_d", table1_g=False, table1_d=True),
            "table1_g": _variant("table1_g", table1_g=True, table1_d=False)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=2000, help="samples for the scores")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="the run folder (default runs/infogan_networks-VARIANT)")
    args = ap.parse_args()
    from tinygan.train.gan import evaluate_run, train_gan
    FAMILIES.update({cls.name: cls for cls in VARIANTS.values()})
    out = args.out or f"runs/infogan_networks-{args.variant}"
    result = train_gan(VARIANTS[args.variant].name, out=out, epochs=args.epochs, seed=args.seed,
                       device=args.device, progress=False)
    scores = evaluate_run(out, n=args.n, device=args.device)
    print(json.dumps({"variant": args.variant, "epochs": args.epochs, "seed": args.seed,
                      "seconds": result["seconds"], **scores}))


if __name__ == "__main__":
    main()
