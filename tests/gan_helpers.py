"""Tiny GAN families for the trainer, CLI and metrics tests (fast on a CPU), and the checks that
two training runs ended in the same state (the resume tests on the CPU and on the GPU).

They implement ``tinygan.models.base.GANFamily`` the way the real families do -- an
unconditional one, a conditional one, and one with an InfoGAN-style categorical code
(returned as ``labels`` by a family that is not conditional) -- so the trainer's paths are tested whether or not the real
families in ``tinygan.models.FAMILIES`` exist yet.  ``register`` puts them in tinygan.models.registry.
"""
from __future__ import annotations

import json

import numpy as np

import tinygan
from tinygan import checkpoint, nn
from tinygan.models.base import GANFamily
from tinygan.nn import functional as F
from tinygan.train.loop import TIMING_KEYS

Z = 8
# Hidden width: small enough that every matrix product (batch 64 x 784 x H) stays under
# OpenBLAS's threading threshold (m*n*k < 262,144): threads only slow products this small
# down, badly so on a busy 2-core machine running two test workers.
H = 4


class TinyGAN(GANFamily):
    """An MLP GAN with BatchNorm in G (so buffers, eval mode and the EMA's buffer copies matter)."""

    name = "tiny"
    latent_dim = Z
    defaults = dict(optimizer="adam", lr_g=2e-3, lr_d=2e-3, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(self.g_in(), H), nn.BatchNorm1d(H), nn.ReLU(),
                               nn.Linear(H, 784), nn.Tanh())
        self.D = nn.Sequential(nn.Flatten(), nn.Linear(784 + self.d_extra(), H), nn.LeakyReLU(0.2),
                               nn.Linear(H, 1))

    def g_in(self) -> int:
        return Z

    def d_extra(self) -> int:
        return 0

    def sample_noise(self, n, device=None):
        return tinygan.randn(n, Z, device=device), None

    def generate(self, z, labels=None):
        return self.G(z).reshape(-1, 1, 28, 28)

    def d_logits(self, x, labels=None):
        return self.D(x).reshape(-1)

    def d_loss(self, real, labels):
        with tinygan.no_grad():
            z, _ = self.sample_noise(real.shape[0], device=real.device)
            fake = self.generate(z, labels)
        loss = F.softplus(-self.d_logits(real, labels)).mean() + F.softplus(self.d_logits(fake, labels)).mean()
        return loss, {}

    def g_loss(self, n, labels):
        z, _ = self.sample_noise(n, device=self.G[0].weight.device)
        return F.softplus(-self.d_logits(self.generate(z, labels), labels)).mean(), {}


class TinyWGAN(TinyGAN):
    """The critic side of the loop: RMSprop, n_critic 5, weight clipping in after_d_step."""

    name = "tiny_wgan"
    defaults = dict(optimizer="rmsprop", lr_g=5e-4, lr_d=5e-4, n_critic=5, batch_size=64)

    def d_loss(self, real, labels):
        with tinygan.no_grad():
            fake = self.generate(self.sample_noise(real.shape[0])[0])
        return self.d_logits(fake).mean() - self.d_logits(real).mean(), {"wdist": 0.0}

    def g_loss(self, n, labels):
        return -self.d_logits(self.generate(self.sample_noise(n)[0])).mean(), {}

    def after_d_step(self):
        for p in self.D.parameters():
            p.data[...] = np.clip(p.data, -0.01, 0.01)


class TinyCGAN(TinyGAN):
    """Conditional: G and D see a one-hot label."""

    name = "tiny_cgan"
    conditional = True

    def g_in(self):
        return Z + 10

    def d_extra(self):
        return 10

    def sample_noise(self, n, device=None):
        return tinygan.randn(n, Z, device=device), tinygan.randint(0, 10, (n,), device=device)

    @staticmethod
    def one_hot(labels):
        return tinygan.tensor(np.eye(10, dtype=np.float32)[np.asarray(labels.data)])

    def generate(self, z, labels=None):
        return self.G(tinygan.cat([z, self.one_hot(labels)], 1)).reshape(-1, 1, 28, 28)

    def d_logits(self, x, labels=None):
        return self.D[1:](tinygan.cat([x.reshape(x.shape[0], -1), self.one_hot(labels)], 1)).reshape(-1)

    def g_loss(self, n, labels):
        z, _ = self.sample_noise(n)
        return F.softplus(-self.d_logits(self.generate(z, labels), labels)).mean(), {}


class TinyInfoGAN(TinyGAN):
    """A categorical code in G's input, returned as ``labels`` by sample_noise while the family
    is not conditional -- the convention of tinygan.models.infogan."""

    name = "tiny_infogan"
    n_cat = 10

    def g_in(self):
        return Z + 10

    def sample_noise(self, n, device=None):
        return tinygan.randn(n, Z, device=device), tinygan.tensor(np.arange(n) % 10)

    def generate(self, z, labels=None):
        code = labels if labels is not None else tinygan.tensor(np.arange(z.shape[0]) % 10)
        onehot = tinygan.tensor(np.eye(10, dtype=np.float32)[np.asarray(code.data)])
        return self.G(tinygan.cat([z, onehot], 1)).reshape(-1, 1, 28, 28)


TINY = {"tiny": TinyGAN, "tiny_wgan": TinyWGAN, "tiny_cgan": TinyCGAN, "tiny_infogan": TinyInfoGAN}


def register(monkeypatch) -> None:
    """Add the tiny families to the registry (so to ``tinygan.models.FAMILIES``) for one test;
    each draws labels (a class or a code) of 10 classes."""
    import tinygan.models as models
    from tinygan.models import registry
    for name, cls in TINY.items():
        monkeypatch.setitem(registry.REGISTRY, name, registry.make_family(cls, "gan", num_classes=10))
    monkeypatch.setattr(models, "FAMILIES", {name: f.cls for name, f in registry.REGISTRY.items()
                                             if issubclass(f.cls, models.GANFamily)})


def small_classifier(seed: int = 0):
    """A randomly initialized Classifier in eval mode: a stand-in feature network for tests."""
    from tinygan.models import Classifier
    tinygan.manual_seed(seed)
    return Classifier().eval()


# ----------------------------------------------------------------------------
# two runs, compared bit for bit
# ----------------------------------------------------------------------------
def records(run, drop_timing=True):
    out = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not (drop_timing and k in TIMING_KEYS)} for r in out]


def latest(run):
    return checkpoint.load(checkpoint.latest_checkpoint(run / "checkpoints"))


def assert_same_state(a, b, where=""):
    """Nested checkpoint states equal bit for bit (arrays exactly, other leaves ==)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            if k not in TIMING_KEYS:
                assert_same_state(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}/{i}")
    elif isinstance(a, (np.ndarray, tinygan.Tensor)):
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(np.asarray(getattr(a, "data", a)), np.asarray(getattr(b, "data", b)),
                                      err_msg=where)
    else:
        assert a == b, where


def compare_runs(a, b):
    """Two run folders end in the same checkpoint and the same metrics log."""
    assert_same_state(latest(a), latest(b))
    assert records(a) == records(b)
