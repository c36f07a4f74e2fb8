"""Any image shape through the registry: a 3-channel 32x32 family trains, samples and is
evaluated with nothing but its model class and its registry entry.

Also the pieces it rests on: padding 28x28 data (``pad_to``, ``to_shape``) moves pixels and
nothing else, and ``metrics.classifier_input`` maps other shapes back to the classifier's
(N, 1, 28, 28).
"""
import json

import numpy as np
import pytest

import tinygan
from tinygan import metrics, nn
from tinygan.cli import main
from tinygan.data import MNIST, to_shape
from tinygan.models import registry
from tinygan.models.base import GANFamily
from tinygan.nn import functional as F

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)

SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32


class TinyColor32(GANFamily):
    """An MLP GAN drawing (N, 3, 32, 32) images: the smallest family of another shape."""

    name = "tiny_color32"
    latent_dim = 8
    image_shape = SHAPE
    defaults = dict(optimizer="adam", lr_g=2e-3, lr_d=2e-3, betas=(0.5, 0.999), n_critic=1,
                    batch_size=16)

    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(self.latent_dim, 4), nn.ReLU(), nn.Linear(4, PIXELS), nn.Tanh())
        self.D = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))

    def sample_noise(self, n, device=None):
        return tinygan.randn(n, self.latent_dim, device=device), None

    def generate(self, z, labels=None):
        return self.G(z).reshape(-1, *SHAPE)

    def d_loss(self, real, labels):
        self._check_real(real, labels)          # the trainer served the entry's shape
        with tinygan.no_grad():
            fake = self.generate(self.sample_noise(real.shape[0])[0])
        loss = F.softplus(-self.D(real)).mean() + F.softplus(self.D(fake)).mean()
        return loss, {}

    def g_loss(self, n, labels):
        return F.softplus(-self.D(self.generate(self.sample_noise(n)[0]))).mean(), {}


@pytest.fixture
def color32(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    entry = registry.register(TinyColor32, "gan")
    yield entry
    del registry.REGISTRY[entry.name]


@needs_mnist
def test_a_3_channel_32x32_family_trains_samples_and_evaluates(color32, tmp_path, capsys):
    assert color32.data_shape == SHAPE           # from the class's image_shape
    run = tmp_path / "run"
    assert main(["train", "tiny_color32", "--out", str(run), "--max-steps", "2", "--quiet"]) == 0
    assert (run / "samples.png").is_file()

    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (5, *SHAPE)

    capsys.readouterr()
    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.isfinite(out["fid"]) and out["fid"] >= 0
    assert np.isfinite(out["classifier_score"]) and 1 <= out["classifier_score"] <= 10


def test_an_entry_must_agree_with_its_class():
    with pytest.raises(ValueError, match="differs from its image_shape"):
        registry.make_family(TinyColor32, "gan", data_shape=(1, 28, 28))


def test_to_shape_pads_with_the_background_and_repeats_gray():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32)
    y = to_shape(x, SHAPE, fill=-1.0)
    assert y.shape == (4, *SHAPE) and y.dtype == np.float32
    for c in range(3):     # exact: padding and repeating only move data
        np.testing.assert_array_equal(y[:, c, 2:30, 2:30], x[:, 0])
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (y[:, :, border] == -1).all()
    assert to_shape(x, (1, 28, 28)) is x           # the shape it has: untouched
    with pytest.raises(ValueError):
        to_shape(x, (1, 24, 24))                   # never crops
    with pytest.raises(ValueError):
        to_shape(np.zeros((1, 28, 28, 28), np.uint8), SHAPE, fill=-1)   # -1 isn't a uint8


@needs_mnist
def test_mnist_pad_to_32_is_the_digits_on_a_black_border():
    plain, padded = MNIST(train=False), MNIST(train=False, pad_to=32)
    assert padded.data.shape == (len(plain), 32, 32) and padded.data.dtype == np.uint8
    np.testing.assert_array_equal(padded.data[:, 2:30, 2:30], plain.data)
    inner = np.zeros((32, 32), bool)
    inner[2:30, 2:30] = True
    assert (padded.data[:, ~inner] == 0).all()


def test_classifier_input_undoes_padding_and_colour():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(metrics.classifier_input(x), x)
    # exact for the padding; the channel mean is float arithmetic, so within rounding
    np.testing.assert_array_equal(metrics.classifier_input(to_shape(x, (1, 32, 32))), x)
    np.testing.assert_allclose(metrics.classifier_input(to_shape(x, SHAPE)), x, rtol=0, atol=1e-6)
    colour = rng.uniform(-1, 1, (2, 3, 30, 30)).astype(np.float32)
    np.testing.assert_allclose(metrics.classifier_input(colour),
                               colour[:, :, 1:29, 1:29].mean(1, keepdims=True), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.classifier_input(np.zeros((2, 3, 16, 16), np.float32))
