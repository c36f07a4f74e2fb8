"""The ``tinygan`` command: train, sample, eval, models (TINYGAN_FAST=1, tiny runs).

``eval`` runs on a randomly initialized feature network (monkeypatched), so these tests
check the plumbing and the output format, not the shipped classifier's numbers.
"""
import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import tinygan
import tinygan.models
from tinygan import checkpoint, metrics, optim
from tinygan.cli import main

import gan_helpers

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)

FAMILIES = getattr(tinygan.models, "FAMILIES", None) or {}


@pytest.fixture(autouse=True)
def setup(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    gan_helpers.register(monkeypatch)
    monkeypatch.setattr(metrics, "load_classifier",
                        lambda dataset="mnist", device=None: gan_helpers.small_classifier())


def train(tmp_path, model, *extra):
    out = tmp_path / model
    rc = main(["train", model, "--out", str(out), "--quiet", *extra])
    assert rc == 0
    return out


def test_models_lists_every_family_and_the_classifier(capsys):
    from tinygan import cli
    assert main(["models"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    # After the trainable models come the shipped trained ones (tests/models/test_pretrained.py).
    listed = [n for n in names if not n.startswith("pretrained:")]
    assert names[:len(listed)] == listed
    vaes = set(getattr(tinygan.models, "VAE_FAMILIES", {}))     # the VAEs train through the same CLI
    others = set(tinygan.models.classes_of("cyclegan"))             # neither a GAN nor a VAE family
    assert set(listed) == set(tinygan.models.FAMILIES) | vaes | others | {"classifier"}
    assert set(cli.MODELS) == set(listed)
    if FAMILIES:
        assert {"gan", "dcgan", "cgan", "infogan", "wgan", "wgan_gp"} <= set(listed)


def test_python_m_tinygan():
    out = subprocess.run([sys.executable, "-m", "tinygan", "models"], capture_output=True, text=True,
                         check=True).stdout
    assert "classifier" in out and all(name in out for name in FAMILIES)


def test_unknown_model_and_bad_options(capsys, tmp_path):
    assert main(["train", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "missing"), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    assert "not a run folder" in capsys.readouterr().err


@needs_mnist
def test_train_sample_eval_unconditional_with_ema(tmp_path, capsys):
    run = train(tmp_path, "tiny", "--epochs", "1", "--ema", "0.9")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 8 and os.path.isfile(result["samples"])
    assert (run / "samples.png").is_file() and (run / "losses.png").is_file()

    # sample: shapes, dtype, range -- and drawn from the EMA generator.
    assert main(["sample", str(run), "--n", "30", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        assert set(f.files) == {"images"}
        images = f["images"]
    assert images.shape == (30, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    state = checkpoint.load(run / "checkpoints" / "epoch_001.npz")
    family = gan_helpers.TinyGAN()
    family.load_state_dict(state["model"])
    ema = optim.EMA(family.G, 0.9)
    ema.load_state_dict(state["ema"])
    ema.copy_to(family.G)
    family.train()                   # samples normalize with their own batch's statistics
    tinygan.manual_seed(0)
    with tinygan.no_grad():
        expected = family.generate(family.sample_noise(30)[0]).data
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(images, expected)

    # eval --json: exactly the keys, and a line in metrics.jsonl.
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"fid", "classifier_score", "n_samples"}
    assert out["n_samples"] == 200 and out["fid"] >= 0 and 1 <= out["classifier_score"] <= 10
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["type"] == "eval" and last["fid"] == out["fid"] and last["step"] == 8

    # eval in words, with the reference values of real images.
    assert main(["eval", str(run), "--n", "200"]) == 0
    text = capsys.readouterr().out
    assert "fid" in text and "classifier_score" in text and "reference" in text
    assert main(["eval", str(run), "--n", "100", "--json"]) == 2
    assert "100 samples are fewer than the 128 feature dimensions" in capsys.readouterr().err


@needs_mnist
@pytest.mark.parametrize("model,key", [("tiny_cgan", "label_accuracy"), ("tiny_infogan", "code_accuracy")])
def test_conditional_and_infogan_sample_and_eval(model, key, tmp_path, capsys):
    run = train(tmp_path, model, "--max-steps", "2", "--batch-size", "32")
    assert main(["sample", str(run), "--n", "25", "--out", str(tmp_path / "s")]) == 0   # .npz added
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        images, files = f["images"], set(f.files)
        labels = f["labels"] if "labels" in files else f["codes"]
    assert files == ({"images", "labels"} if model == "tiny_cgan" else {"images", "codes"})
    assert images.shape == (25, 1, 28, 28) and images.dtype == np.float32
    # exact: integer results
    assert labels.dtype == np.int64 and np.array_equal(labels, np.arange(25) % 10)
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "150", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"fid", "classifier_score", "n_samples", key}
    assert 0 <= out[key] <= 1


@needs_mnist
@pytest.mark.skipif("cgan" not in FAMILIES, reason="needs tinygan.models.FAMILIES['cgan']")
def test_sample_a_real_conditional_family(tmp_path):
    run = train(tmp_path, "cgan", "--max-steps", "1", "--batch-size", "16")
    assert main(["sample", str(run), "--n", "12", "--out", str(tmp_path / "c.npz")]) == 0
    with np.load(tmp_path / "c.npz") as f:
        assert f["images"].shape == (12, 1, 28, 28) and f["images"].dtype == np.float32
        assert -1 <= f["images"].min() and f["images"].max() <= 1
        assert f["labels"].dtype == np.int64 and f["labels"].tolist() == [i % 10 for i in range(12)]


@pytest.mark.parametrize("model,n,nrow", [("pretrained:cgan", 25, 10), ("pretrained:dcgan", 20, 5)])
def test_sample_to_a_png_draws_the_samples_of_the_npz(model, n, nrow, tmp_path, capsys, drawn_grids):
    """--out NAME.png: the very samples the .npz would hold, as one grid picture; a conditional
    model's classes in turn make rows of 10 (a column per class), others a square-ish grid."""
    assert main(["sample", model, "--n", str(n), "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        want = f["images"]
    capsys.readouterr()
    assert main(["sample", model, "--n", str(n), "--out", str(tmp_path / "s.png")]) == 0
    (drawn,) = drawn_grids
    assert np.array_equal(drawn["images"], want)         # exact: the same seed, the same code
    assert drawn["nrow"] == nrow and f"{n} samples of {model}" in drawn["title"]
    png = (tmp_path / "s.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote a picture of {n} samples to {tmp_path / 's.png'}" in capsys.readouterr().out
    assert not list(tmp_path.glob(".s.png.*"))            # no temporary file left behind
    # like the .npz: an existing picture is kept unless --force
    assert main(["sample", model, "--n", str(n), "--out", str(tmp_path / "s.png")]) == 2
    assert (tmp_path / "s.png").read_bytes() == png


@needs_mnist
def test_nan_exits_1_with_the_step_and_loss(tmp_path, monkeypatch, capsys):
    original = gan_helpers.TinyGAN.g_loss
    monkeypatch.setattr(gan_helpers.TinyGAN, "g_loss",
                        lambda self, n, labels: (original(self, n, labels)[0] * float("inf"), {}))
    assert main(["train", "tiny", "--out", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "the g loss is inf at step 1 (epoch 1, batch 1)" in err and "no checkpoint" in err


@needs_mnist
@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach only the main thread")
def test_ctrl_c_exits_130_after_saving(tmp_path, monkeypatch, capsys, terminal_sigint):
    original = gan_helpers.TinyGAN.d_loss

    def d_loss(self, real, labels):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, real, labels)

    monkeypatch.setattr(gan_helpers.TinyGAN, "d_loss", d_loss)
    run = tmp_path / "r"
    assert main(["train", "tiny", "--out", str(run), "--quiet"]) == 130
    assert "interrupted at step 2" in capsys.readouterr().err
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_000_step_000002.npz"]
    monkeypatch.setattr(gan_helpers.TinyGAN, "d_loss", original)
    assert main(["train", "tiny", "--out", str(run), "--quiet", "--resume", "--epochs", "1"]) == 0
    assert checkpoint.load(run / "checkpoints" / "epoch_001.npz")["step"] == 8


def test_stylegan_help_gives_each_presets_defaults(capsys, monkeypatch):
    """`tinygan train stylegan` takes the preset's recipe where the command line is silent, and
    the cpu preset's differs from the reference's (no path length, no mixing, R1 gamma 0.1): the
    help must say so, not give the reference's values alone as "the default"."""
    from tinygan.models.stylegan import PRESETS
    with pytest.raises(SystemExit) as stop:
        main(["train", "stylegan", "--help"])
    assert stop.value.code == 0
    # one entry per option, its wrapped lines joined: "--r1-gamma R1_GAMMA StyleGANs: ..."
    blocks = capsys.readouterr().out.split("\n  --")[1:]
    lines = {"--" + b.split()[0]: " ".join(b.split()) for b in blocks}
    for flag, key in [("--r1-gamma", "r1_gamma"), ("--pl-weight", "pl_weight"),
                      ("--mixing", "mixing"), ("--lr-g", "lr_g"), ("--ema-rampup", "ema_rampup")]:
        for name, preset in PRESETS.items():
            value = preset["recipe"][key]
            said = "none" if value is None else "0 (off)" if value == 0 else f"{value:g}"
            assert f"{name} {said}" in lines[flag], (flag, lines[flag])
    assert "cpu 0.1, gpu 0.0064" in lines["--r1-gamma"]      # the figures themselves, once
