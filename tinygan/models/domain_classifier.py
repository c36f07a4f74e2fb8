"""A small frozen classifier of domains: is this image from domain A or from domain B?

It scores how much a translation looks like its target domain (CycleGAN's "does G_AB(a)
look like B"), as the digit classifiers score whether it kept its digit.  It is the
digit classifier's network made narrow (``Classifier`` with 8 and 16 channels and 32
features, 14k parameters): telling two styles apart is a far easier task than reading digits.

    x (N, 1, 28, 28) in [-1, 1]
    -> Conv 5x5 stride 2 1->8, BatchNorm, ReLU      (N, 8, 14, 14)
    -> Conv 3x3 stride 2 8->16, BatchNorm, ReLU     (N, 16, 7, 7)
    -> Flatten, Linear 784->32, ReLU                (N, 32)   = features
    -> Dropout 0.25, Linear 32->2                   (N, 2)    = logits, class 0 = A, 1 = B

What it cannot see.  It is trained to separate the real images of the two domains, and
for the pair ``"mnist-thick"`` the cheapest cue that does so perfectly is the background:
A's is black (-1), B's is white (+1), so the mean brightness alone tells them apart (A's
test images average -0.74, B's +0.47).  Nothing forces it to look at the strokes, so:

* a translation that only inverts the contrast, keeping A's thin strokes, or draws no digit
  at all, is called "B": the shipped file calls all of 1,000 inverted test digits of A "B",
  and a blank white page too; A's digits thickened but not inverted, and a blank black page,
  "A" (measured; tests/models/test_domain_classifiers.py checks the blank pages);
* it says nothing about the digit: a perfect-looking B image of the wrong digit passes.

So read its verdict with the two other figures: the digit kept (the target domain's digit
classifier, ``tinygan.models.pretrained_classifier``) and ``tinygan.metrics.domain_fid``,
which compares the translations' distribution of digit features with the target domain's.
"""
from __future__ import annotations

from .classifier import Classifier, load_frozen


class DomainClassifier(Classifier):
    """Two-class ``Classifier``, 8/16 channels, 32 features: (N, 1, 28, 28) -> (N, 2) logits."""

    def __init__(self, dropout: float = 0.25):
        super().__init__(num_classes=2, feature_dim=32, dropout=dropout, channels=(8, 16))


def pretrained_domain_classifier(pair: str = "mnist-thick") -> DomainClassifier:
    """The frozen domain classifier of the domain pair ``pair`` (``tinygan.data.domains.PAIR``),
    in eval mode: logits (N, 2), class 0 = domain A, 1 = domain B.

    The weights (``tinygan/weights/domains_<pair>.npz``) are made by ``tinygan train
    classifier --dataset mnist-thick-domains`` (benchmarks/README.md gives the command and
    its test accuracy).
    """
    return load_frozen(DomainClassifier(), "domains_", pair, "pretrained_domain_classifier",
                       what="the pair ")
