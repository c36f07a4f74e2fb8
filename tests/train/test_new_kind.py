"""A new kind of training needs no special case: a deterministic autoencoder, added here as a
fixture with only a model class, a registry entry and a ``Kind`` entry, trains, samples and is
evaluated through the command line (``tinygan.cli.main``), its own option (``--code-dim``)
included, and the options of other kinds are refused in its name.

The kind is as small as a kind can be: its Stepper (one Adam step on the squared
reconstruction error), its trainer (the shared pieces of tinygan/train/loop.py around that
Stepper) and one figure of its own for ``tinygan eval`` (the reconstruction error of test
images).
"""
import json

import numpy as np
import pytest

import tinygan
from tinygan import backend, checkpoint, nn, optim, random
from tinygan.autograd import no_grad
from tinygan.cli import main
from tinygan.data import Compose, get_dataset, normalize, to_float
from tinygan.models import registry
from tinygan.train import kinds
from tinygan.train.loop import Stepper, fit, fixed_inputs, training_loader
from tinygan.train.options import Option, whole
from tinygan.train.run import Run
from tinygan.train.settings import FAST_EVAL_IMAGES

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)

PIXELS = 28 * 28


class TinyAutoencoder(nn.Module):
    """x (N, 1, 28, 28) in [-1, 1] -> code (N, code_dim) -> x_hat (N, 1, 28, 28): linear
    encoder, linear decoder with tanh.  Its samples decode codes drawn from N(0, I)."""

    name = "tiny_autoencoder"
    image_shape = (1, 28, 28)
    sampler = ""                        # the whole model draws samples (and an --ema averages it)
    defaults = dict(lr=1e-2, batch_size=32, epochs=1)

    def __init__(self, code_dim: int = 4):
        super().__init__()
        self.code_dim = self.latent_dim = int(code_dim)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, self.code_dim))
        self.decoder = nn.Sequential(nn.Linear(self.code_dim, PIXELS), nn.Tanh())

    def options(self) -> dict:
        return {"code_dim": self.code_dim}

    def sample_noise(self, n, device=None):
        return tinygan.randn(n, self.code_dim, device=device), None

    def generate(self, z, labels=None):
        return self.decoder(z).reshape(-1, *self.image_shape)

    def reconstruction_error(self, x):
        """Mean over the batch of the summed squared error ||x - x_hat||^2 (a 0-d Tensor)."""
        diff = self.generate(self.encoder(x)) - x
        return (diff * diff).sum() / x.shape[0]


class AutoencoderStepper(Stepper):
    """One Adam step per real batch on the reconstruction error."""

    curve_keys = summary_keys = ("loss",)

    def __init__(self, family, cfg):
        super().__init__(family, cfg)
        self.opt = optim.Adam(family.parameters(), lr=cfg["lr"])

    def step(self, x, y, check):
        loss = self.family.reconstruction_error(x)
        value = loss.item()
        check(value)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": value}, True

    def state_dict(self):
        return dict(opt=self.opt.state_dict())

    def load_state_dict(self, state):
        self.opt.load_state_dict(state["opt"])


def train_autoencoder(model_name, *, dataset, out, epochs, batch_size, seed, device, resume, force,
                      ema, progress, max_steps, code_dim):
    """The kind's trainer: the family, its data, its Stepper and the Run, then the shared loop."""
    entry = registry.get(model_name)
    random.manual_seed(seed)
    dev = str(backend.device(device))
    family = entry.build(code_dim=code_dim).to(dev)
    cfg = dict(model=model_name, dataset=dataset, seed=seed, device=dev, fast=True,
               epochs=epochs or entry.recipe["epochs"],
               batch_size=batch_size or entry.recipe["batch_size"], lr=entry.recipe["lr"],
               ema=ema, model_options=family.options())
    fixed = fixed_inputs(family, dev)
    loader = training_loader(dataset, cfg, Compose([to_float, normalize]))   # fast: a subset
    stepper = AutoencoderStepper(family, cfg)
    run = Run(out, cfg, resume=resume, force=force)
    return fit(stepper, run, loader, fixed, model_name=model_name, dataset=dataset,
               epochs=cfg["epochs"], ema=ema, resume=resume, progress=progress,
               max_steps=max_steps, log_every=2)


def reconstruction_figures(family, cfg, device="cpu"):
    """The kind's own ``tinygan eval`` figure: the reconstruction error of test images."""
    test = get_dataset(cfg["dataset"], train=False)
    x = normalize(to_float(test.data[:FAST_EVAL_IMAGES]))
    with no_grad():
        error = family.reconstruction_error(tinygan.tensor(x, device=device))
    return {"reconstruction_error": float(error.item())}


AUTOENCODER = kinds.Kind(
    name="autoencoder", title="autoencoder", stepper=AutoencoderStepper, train=train_autoencoder,
    options=(Option("--code-dim", "code_dim", whole(1), "the code's size", default=4),),
    figures=reconstruction_figures)


@pytest.fixture
def autoencoder(monkeypatch):
    """The new kind and its one family, registered for this test only (monkeypatch removes both)."""
    monkeypatch.setenv("TINYGAN_FAST", "1")
    monkeypatch.setitem(kinds.KINDS, AUTOENCODER.name, AUTOENCODER)
    entry = registry.make_family(TinyAutoencoder, "autoencoder")
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    return entry


@needs_mnist
def test_a_new_kind_trains_samples_and_evaluates_through_the_cli(autoencoder, tmp_path, capsys):
    assert main(["models"]) == 0
    assert "tiny_autoencoder" in [line.split()[0] for line in capsys.readouterr().out.splitlines()]

    run = tmp_path / "run"
    assert main(["train", "tiny_autoencoder", "--code-dim", "3", "--out", str(run),
                 "--max-steps", "4", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 4 and np.isfinite(result["loss"])
    config = json.loads((run / "config.json").read_text())
    assert config["model_options"] == {"code_dim": 3}          # its own option reached the model
    # Training changed the weights: the checkpoint's differ from the same seed's initial ones.
    random.manual_seed(0)
    initial = TinyAutoencoder(code_dim=3).state_dict()
    trained = checkpoint.load(result["checkpoint"])["model"]
    assert set(trained) == set(initial)
    assert all(trained[k].shape == initial[k].shape for k in initial)
    assert not np.allclose(trained["encoder.1.weight"], initial["encoder.1.weight"].data)
    assert (run / "samples.png").is_file() and (run / "losses.png").is_file()

    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert set(f.files) == {"images"}
        assert f["images"].shape == (5, 1, 28, 28) and np.abs(f["images"]).max() <= 1

    capsys.readouterr()
    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"fid", "classifier_score", "n_samples", "reconstruction_error"}
    assert np.isfinite(out["fid"]) and out["fid"] >= 0 and out["n_samples"] == 200
    assert np.isfinite(out["reconstruction_error"]) and out["reconstruction_error"] > 0


def test_options_of_other_kinds_are_refused_in_the_new_kinds_name(autoencoder, tmp_path, capsys):
    assert main(["train", "tiny_autoencoder", "--lr-g", "1e-3", "--out", str(tmp_path / "a")]) == 2
    assert "tiny_autoencoder is an autoencoder: --lr-g is a GAN option; " \
           "an autoencoder takes --code-dim" in capsys.readouterr().err
    assert main(["train", "dcgan", "--code-dim", "2", "--out", str(tmp_path / "b")]) == 2
    assert "dcgan is a GAN: --code-dim is for the autoencoders" in capsys.readouterr().err
    # Not given, an option with a default is not another kind's option given: dcgan passes
    # that check and stops at the next one, the device's.
    assert main(["train", "dcgan", "--device", "tpu", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--device tpu" in err and "--code-dim" not in err
    with pytest.raises(SystemExit) as stop:      # the parser checks its range, as it does --epochs
        main(["train", "tiny_autoencoder", "--code-dim", "0", "--out", str(tmp_path / "c")])
    assert stop.value.code == 2
    assert "--code-dim: must be at least 1, got 0" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abcd")     # nothing was written


def test_a_family_of_a_kind_tinygan_lacks_is_refused(monkeypatch, tmp_path, capsys):
    entry = registry.make_family(TinyAutoencoder, "autoencoder")     # the entry, not the kind
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    assert main(["train", "tiny_autoencoder", "--out", str(tmp_path / "a")]) == 2
    assert "of kind 'autoencoder', which tinygan can't train; known kinds: gan, vae, stylegan" \
        in capsys.readouterr().err
