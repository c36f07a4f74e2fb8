"""The VAEs through the shared trainer and the CLI, on 512 real MNIST images (TINYGAN_FAST=1).

A smoke test per family (finite losses, encoder and decoder moved, the pictures and a
metrics.jsonl line written), bit-exact resume with dynamic binarization and an EMA, the
binarization itself (fresh per batch, reproducible for a seed), the NaN stop, and the CLI:
``train``, ``sample`` (shapes, dtype, range), ``eval --json`` (exactly its keys) and the
errors for bad options.  ``eval`` runs on a randomly initialized feature network
(monkeypatched), so these tests check plumbing and formats, not quality figures.
"""
import json
import os

import numpy as np
import pytest

import tinygan
from tinygan import metrics
from tinygan.cli import main
from tinygan.data import Compose, DataLoader, binarize, to_float
from tinygan.models import VAE_FAMILIES
from tinygan.train.loop import NonFiniteLossError
from tinygan.train.vae import TEST_BINARIZATION_SEED, evaluation_images, train_vae

import gan_helpers
from gan_helpers import assert_same_state, latest, records

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)
pytestmark = needs_mnist


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    gan_helpers.register(monkeypatch)
    monkeypatch.setattr(metrics, "load_classifier",
                        lambda dataset="mnist", device=None: gan_helpers.small_classifier())


# ----------------------------------------------------------------------------
# smoke tests
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,options", [("vae", {"latent_dim": 2}), ("conv_vae", {}),
                                          ("beta_vae", {"capacity": 5.0, "capacity_steps": 10}),
                                          ("cvae", {})])
def test_smoke_every_vae(name, options, tmp_path):
    run = tmp_path / name
    result = train_vae(name, out=run, batch_size=32, max_steps=2, progress=False, log_every=1, **options)
    assert result["step"] == 2 and result["images"] == 64
    logged = [r for r in records(run) if r["type"] == "train"]
    assert len(logged) == 2
    for r in logged:
        assert all(np.isfinite(r[k]) for k in ("loss", "neg_elbo", "recon", "kl"))
    assert ("capacity" in logged[0]) == ("capacity" in options)
    assert all(np.isfinite(result[k]) for k in ("loss", "neg_elbo", "recon", "kl"))
    # Encoder and decoder moved away from the initial weights (the same seed builds the same init).
    tinygan.manual_seed(0)
    init = VAE_FAMILIES[name](**options).state_dict()
    state = latest(run)
    for net in ("encoder.", "decoder."):
        assert any(k.startswith(net) and not np.array_equal(np.asarray(init[k].data), np.asarray(v.data))
                   for k, v in state["model"].items()), f"{name}: no {net} weight changed"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_options"]["latent_dim"] == options.get("latent_dim", 10 if name == "cvae" else 20)
    assert cfg["lr"] == 1e-3 and cfg["binarized"] is True
    # Pictures.
    for f in ("samples.png", "losses.png", "reconstructions.png", "interpolation.png"):
        assert (run / f).is_file(), f
    assert os.path.isfile(result["samples"])
    assert (run / "latent_scatter.png").is_file() == (options.get("latent_dim") == 2)
    assert (run / "traversals.png").is_file() == (name == "beta_vae")
    labels = state["fixed"]["labels"]
    if name == "cvae":                                  # one row of the grid per digit
        # exact: integer results
        np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 10))
    else:
        assert labels is None


def test_an_epoch_logs_the_test_neg_elbo_and_gaussian_runs_on_grey_levels(tmp_path):
    run = tmp_path / "g"
    train_vae("vae", out=run, epochs=1, likelihood="gaussian", progress=False)
    epoch = [r for r in records(run) if r["type"] == "epoch"]
    assert len(epoch) == 1 and epoch[0]["step"] == 4 and np.isfinite(epoch[0]["test_neg_elbo"])
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["binarized"] is False and cfg["model_options"]["likelihood"] == "gaussian"
    assert "decoder_logvar" in latest(run)["model"]


def test_train_gan_and_train_vae_refuse_each_others_families(tmp_path):
    from tinygan.train.gan import train_gan
    with pytest.raises(ValueError, match="'vae' is a VAE"):
        train_gan("vae", out=tmp_path / "a")
    with pytest.raises(ValueError, match="'tiny' is not a VAE family"):
        train_vae("tiny", out=tmp_path / "b")


# ----------------------------------------------------------------------------
# binarization and resume
# ----------------------------------------------------------------------------
def test_binarization_is_fresh_per_batch_and_reproducible_for_a_seed():
    grey = (np.arange(64 * 28 * 28) % 256).astype(np.uint8).reshape(64, 28, 28)

    def batches(seed):
        tinygan.manual_seed(seed)
        loader = DataLoader((grey, np.zeros(64, np.int64)), batch_size=64, shuffle=False,
                            transform=Compose([to_float, binarize]))
        return [next(iter(loader))[0].data for _ in range(2)]     # the same images, twice

    a1, a2 = batches(0)
    b1, b2 = batches(0)
    c1, _ = batches(1)
    assert set(np.unique(a1)) == {0.0, 1.0} and a1.dtype == np.float32 and a1.shape == (64, 1, 28, 28)
    assert not np.array_equal(a1, a2)                         # a fresh draw for each batch
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a1, b1)                     # ... the same ones for a seed
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, c1)
    p = to_float(grey)
    assert abs(a1.mean() - p.mean()) < 0.01                   # P(pixel = 1) is its grey level
    # The test set's binarization is fixed: the same on every call.
    x1, y1 = evaluation_images("mnist", "bernoulli", 100)
    x2, _ = evaluation_images("mnist", "bernoulli", 100)
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(x1, x2)
    assert set(np.unique(x1)) == {0.0, 1.0} and y1.dtype == np.int64 and TEST_BINARIZATION_SEED == 0
    grey_test, _ = evaluation_images("mnist", "gaussian", 100)
    assert len(np.unique(grey_test)) > 2


def test_resume_in_the_middle_of_an_epoch_is_bit_exact(tmp_path):
    """2 epochs straight == 3 steps, stop, resume: weights, Adam, EMA, binarization draws, logs."""
    kw = dict(batch_size=64, ema=0.9, progress=False)
    train_vae("cvae", out=tmp_path / "straight", epochs=2, **kw)
    train_vae("cvae", out=tmp_path / "split", epochs=2, max_steps=3, **kw)
    assert [p.name for p in (tmp_path / "split" / "checkpoints").iterdir()] == ["epoch_000_step_000003.npz"]
    train_vae("cvae", out=tmp_path / "split", epochs=2, resume=True, **kw)
    a, b = latest(tmp_path / "straight"), latest(tmp_path / "split")
    assert a["step"] == 16 and a["ema"]["num_updates"] == 16
    assert_same_state(a, b)
    assert records(tmp_path / "straight") == records(tmp_path / "split")


def test_nan_loss_stops_the_run(tmp_path, monkeypatch):
    cls = VAE_FAMILIES["vae"]
    original = cls.loss
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        loss, stats = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 6:
            return loss * float("nan"), {**stats, "loss": float("nan")}
        return loss, stats

    monkeypatch.setattr(cls, "loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"vae: the loss is nan at step 6 \(epoch 2, batch 2\)"):
        train_vae("vae", out=tmp_path / "r", epochs=2, progress=False)
    assert [p.name for p in (tmp_path / "r" / "checkpoints").iterdir()] == ["epoch_001.npz"]


# ----------------------------------------------------------------------------
# the CLI: train, sample, eval
# ----------------------------------------------------------------------------
def _train(tmp_path, model, *extra):
    out = tmp_path / model
    assert main(["train", model, "--out", str(out), "--quiet", "--max-steps", "2", "--batch-size", "32",
                 *extra]) == 0
    return out


@pytest.mark.parametrize("model", ["vae", "cvae"])
def test_cli_train_sample_eval(model, tmp_path, capsys):
    run = _train(tmp_path, model, "--latent-dim", "8")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert result["step"] == 2
    # sample: the decoder's means in [-1, 1], with the labels of a conditional model.
    assert main(["sample", str(run), "--n", "30", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        files, images = set(f.files), f["images"]
        labels = f["labels"] if "labels" in files else None
    assert files == ({"images", "labels"} if model == "cvae" else {"images"})
    assert images.shape == (30, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    if model == "cvae":
        assert labels.dtype == np.int64 and labels.tolist() == [i % 10 for i in range(30)]
    # ... exactly the family's generate from the seeded prior.
    family = VAE_FAMILIES[model](latent_dim=8)
    family.load_state_dict(latest(run)["model"])
    tinygan.manual_seed(0)
    z, lab = family.sample_noise(30)
    with tinygan.no_grad():
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(images, family.generate(z, lab).data)
    # eval --json: exactly the keys; a line in metrics.jsonl.
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "150", "--iwae-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = {"neg_elbo_nats", "iwae_nats", "iwae_k", "fid", "classifier_score", "n_samples"}
    assert set(out) == (keys | {"label_accuracy"} if model == "cvae" else keys)
    assert out["iwae_k"] == 3 and out["n_samples"] == 150
    # An untrained Bernoulli decoder on binary digits: hundreds of nats per image.
    assert 50 < out["neg_elbo_nats"] < 1000 and 50 < out["iwae_nats"] < 1000
    assert out["fid"] >= 0 and 1 <= out["classifier_score"] <= 10
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["type"] == "eval" and last["iwae_nats"] == out["iwae_nats"] and last["step"] == 2


def test_cli_errors(tmp_path, capsys):
    assert main(["train", "beta_vae", "--beta", "-1", "--out", str(tmp_path / "b"), "--quiet"]) == 2
    assert "BetaVAE: beta must be a number >= 0, got -1.0" in capsys.readouterr().err
    assert main(["train", "tiny", "--beta", "2", "--out", str(tmp_path / "t"), "--quiet"]) == 2
    assert "tiny is a GAN: --beta is for the VAEs" in capsys.readouterr().err
    assert main(["train", "vae", "--lr-g", "1e-3", "--n-critic", "2", "--out", str(tmp_path / "v")]) == 2
    assert "vae is a VAE: --lr-g, --n-critic are GAN options; a VAE takes --lr" in capsys.readouterr().err
    run = _train(tmp_path, "vae")
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "150", "--iwae-k", "0", "--json"]) == 2
    assert "evaluate_vae_run: the number of importance samples iwae_k must be an integer >= 1, got 0" \
        in capsys.readouterr().err
    gan = _train(tmp_path, "tiny")
    capsys.readouterr()
    assert main(["eval", str(gan), "--n", "150", "--iwae-k", "5"]) == 2
    assert "--iwae-k is for VAE runs" in capsys.readouterr().err
