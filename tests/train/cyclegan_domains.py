"""Two tiny made-up domains for the CycleGAN tests, in place of tinygan.data.domains: the
tests need the interface (``load_domain``, ``PAIR``, the frozen classifiers, ``domain_fid``),
not the real data, and build it in a few milliseconds."""
from __future__ import annotations

import sys
import types

import numpy as np

import tinygan
from tinygan import nn


def _images(n: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    x = np.tanh(rng.standard_normal((n, 1, 28, 28))).astype(np.float32)
    return x, (np.arange(n) % 10).astype(np.int64)


def make_domains(n_train: int = 40, n_test: int = 24) -> types.ModuleType:
    """A module with the interface of tinygan.data.domains: A random images, B = -A."""
    data = {}
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        a, labels = _images(n, seed)
        data["A", split] = (a, labels)
        data["B", split] = (-a[::-1].copy(), labels[::-1].copy())

    def load_domain(domain: str, split: str = "train") -> tuple:
        images, labels = data[domain, split]
        return images.copy(), labels.copy()

    def pretrained_classifier(name: str):
        tinygan.manual_seed(3)
        return tinygan.models.classifier.Classifier()

    def pretrained_domain_classifier(pair: str):
        tinygan.manual_seed(4)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 2))

    def domain_fid(images, domain: str, split: str = "test") -> float:
        ref = data[domain, split][0]
        return float(abs(np.mean(images) - np.mean(ref)))

    module = types.ModuleType("tinygan.data.domains")
    module.PAIR = "made-up"
    module.load_domain = load_domain
    module.pretrained_classifier = pretrained_classifier
    module.pretrained_domain_classifier = pretrained_domain_classifier
    module.domain_fid = domain_fid
    return module


def install(monkeypatch, **sizes) -> types.ModuleType:
    """Put the made-up domains where tinygan looks for tinygan.data.domains, and their judges
    in place of the frozen ones the cyclegan eval loads (tinygan.train.translation)."""
    import tinygan.data
    from tinygan.train import translation
    module = make_domains(**sizes)
    monkeypatch.setitem(sys.modules, "tinygan.data.domains", module)
    monkeypatch.setattr(tinygan.data, "domains", module, raising=False)
    monkeypatch.setattr(translation, "digit_classifier",
                        lambda domain: module.pretrained_classifier(domain))
    monkeypatch.setattr(translation, "domain_classifier",
                        lambda: module.pretrained_domain_classifier(module.PAIR))
    monkeypatch.setattr(translation, "domain_fid",
                        lambda images, domain, split="test": module.domain_fid(images, domain,
                                                                               split))
    return module
