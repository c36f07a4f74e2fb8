"""How the class enters a conditional GAN, measured: tinygan's ``cgan`` against two variants.

    python benchmarks/cgan_conditioning.py VARIANT [--epochs 5] [--device cuda] [--seed 0]

VARIANT:
  cgan          tinygan.models.cgan as shipped: G gets [z | one_hot(y)], projection D.
  embedding_g   G gets [z | embed(y)], a learned 100-dim embedding with PyTorch's N(0, 1)
                initialization (the first version of cgan); projection D.
  concat_d      G as shipped; D gets the one-hot planes of y stacked on the image as 10
                extra input channels (Mirza & Osindero's "additional input layer" for D).

Each variant trains through the shared trainer (runs/cgan_conditioning-VARIANT) and is
scored like ``tinygan eval``: FID against the MNIST test set, classifier score, label
accuracy, from 10,000 samples.  Prints one JSON object.  Look at the run's samples.png
too: with ``embedding_g`` every column of a row is the same digit (G ignores z).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinygan import nn  # noqa: E402
from tinygan.models import FAMILIES  # noqa: E402
from tinygan.models.cgan import ConditionalGAN, ConditionalGenerator, ProjectionDiscriminator, one_hot  # noqa: E402
from tinygan.models.dcgan import DCGAN, FEATURES, generator  # noqa: E402
from tinygan.nn import init  # noqa: E402
from tinygan.ops.shape import cat  # noqa: E402


class EmbeddingGenerator(nn.Module):
    """G(z, y) = DCGAN_G([z | embed(y)]), embed ~ N(0, 1) of z's size."""

    def __init__(self, latent_dim: int = 100, num_classes: int = 10):
        super().__init__()
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.net = generator(2 * latent_dim)

    def forward(self, z, labels):
        return self.net(cat([z, self.embed(labels)], dim=1))


class ConcatDiscriminator(nn.Module):
    """D(x, y) = DCGAN_D([x | one_hot(y) planes]): (N, 1 + 10, 28, 28) -> logits (N, 1)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Conv2d(1 + num_classes, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1),
            nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(FEATURES, 1))

    def forward(self, x, labels):
        n, _, h, w = x.shape
        planes = one_hot(labels, self.num_classes, x.dtype).reshape(n, self.num_classes, 1, 1)
        return self.net(cat([x, planes.expand(n, self.num_classes, h, w)], dim=1))


class EmbeddingG(ConditionalGAN):
    name = "cgan_embedding_g"

    def __init__(self):
        DCGAN.__init__(self, EmbeddingGenerator(), ProjectionDiscriminator())
        init.normal_(self.D.embed.weight, 0.0, 0.02)


class ConcatD(ConditionalGAN):
    name = "cgan_concat_d"

    def __init__(self):
        DCGAN.__init__(self, ConditionalGenerator(), ConcatDiscriminator())


VARIANTS = {"cgan": "cgan", "embedding_g": EmbeddingG.name, "concat_d": ConcatD.name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variant", choices=sorted(VARIANTS))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from tinygan.train.gan import evaluate_run, train_gan
    FAMILIES.update({EmbeddingG.name: EmbeddingG, ConcatD.name: ConcatD})
    out = f"runs/cgan_conditioning-{args.variant}"
    result = train_gan(VARIANTS[args.variant], out=out, epochs=args.epochs, seed=args.seed,
                       device=args.device, progress=False)
    scores = evaluate_run(out, device=args.device)
    print(json.dumps({"variant": args.variant, "epochs": args.epochs, "seconds": result["seconds"],
                      **scores}))


if __name__ == "__main__":
    main()
