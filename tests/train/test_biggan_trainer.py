"""BigGAN-lite's training (tinygan/train/biggan.py) and its kind "biggan".

The Stepper is driven directly on random 32x32 batches for what one step changes, the two D
steps per G step and orthogonal regularization (a spy sees the terms G's loss is made of);
the trainer runs on MNIST (TINYGAN_FAST=1) through ``train_biggan`` for the bit-exact resume
(spectral norm's u buffers included) and through the command line for train, sample (--label,
--truncation as a threshold) and eval.
"""
import json

import numpy as np
import pytest

import tinygan
from tinygan.cli import main
from tinygan.losses import orthogonal_regularization
from tinygan.models import biggan as biggan_model
from tinygan.models.biggan import BigGAN
from tinygan.train import biggan as trainer
from tinygan.train import kinds
from tinygan.train.biggan import BigGANStepper, train_biggan
from tinygan.train.biggan_pictures import THRESHOLDS, truncation_sweep

from gan_helpers import assert_same_state, latest, records

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)

CFG = dict(optimizer="adam", lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.999), n_critic=2, ortho_reg=0.0,
           seed=0)


def _stepper(**overrides):
    tinygan.manual_seed(0)
    return BigGANStepper(BigGAN("cpu"), {**CFG, **overrides})


def _batch(n=4, seed=1):
    rng = np.random.default_rng(seed)
    x = tinygan.tensor(rng.uniform(-1, 1, (n, 1, 32, 32)).astype(np.float32))
    y = tinygan.tensor(rng.integers(0, 10, n), dtype=tinygan.int64)
    return x, y


def _params(module):
    return {k: np.array(p.data) for k, p in module.named_parameters()}


def _no_check(value, which=None):
    pass


def test_two_d_steps_then_a_g_step():
    s = _stepper()
    g0, d0 = _params(s.family.G), _params(s.family.D)
    logged, stepped = s.step(*_batch(), _no_check)
    assert not stepped and set(logged) == {"d_loss", "d_real", "d_fake"}
    g1, d1 = _params(s.family.G), _params(s.family.D)
    # exact: no G step yet, so G's parameters are untouched
    assert all(np.array_equal(g0[k], g1[k]) for k in g0)
    assert any(not np.array_equal(d0[k], d1[k]) for k in d0)
    logged, stepped = s.step(*_batch(seed=2), _no_check)
    assert stepped and "g_loss" in logged and "ortho_reg" not in logged
    g2 = _params(s.family.G)
    assert any(not np.array_equal(g1[k], g2[k]) for k in g1)
    assert s.opt_g.param_groups[0]["lr"] == 1e-4 and s.opt_d.param_groups[0]["lr"] == 4e-4
    assert tuple(s.opt_g.param_groups[0]["betas"]) == (0.0, 0.999)


def test_ortho_reg_adds_exactly_beta_times_the_regularizer(monkeypatch):
    """G's loss with --ortho-reg B is the hinge loss plus B * R(G's weights but the shared
    embedding): spies catch the two terms, and the regularizer is recomputed on its own."""
    beta = 1e-3
    s = _stepper(ortho_reg=beta)
    seen = {}
    g_loss = BigGAN.g_loss

    def spy_g_loss(self, n, labels=None):
        loss, stats = g_loss(self, n, labels)
        seen["hinge"] = np.array(loss.data)
        return loss, stats

    def spy_reg(params, b):
        params = list(params)
        seen["params"], seen["beta"] = params, b
        reg = orthogonal_regularization(params, b)
        seen["reg"] = np.array(reg.data)
        return reg

    monkeypatch.setattr(BigGAN, "g_loss", spy_g_loss)
    monkeypatch.setattr(trainer, "orthogonal_regularization", spy_reg)
    weights = [np.array(p.data) for p in s.family.ortho_parameters()]
    loss, stats = s.generator_loss(4, _batch()[1])
    assert seen["beta"] == beta
    assert all(p is not s.family.G.shared.weight for p in seen["params"])
    # exact: the loss is the one float32 addition of the two terms the spies saw
    assert float(loss.data) == float(np.float32(seen["hinge"]) + np.float32(seen["reg"]))
    assert float(stats["ortho_reg"]) == float(seen["reg"])
    # The regularizer itself: beta * sum ||W W^T (.) (1 - I)||_F^2 over the >= 2-d weights.
    ref = 0.0
    for w in weights:
        if w.ndim >= 2:
            m = w.reshape(w.shape[0], -1).astype(np.float64)
            gram = m @ m.T
            ref += ((gram * (1 - np.eye(len(gram)))) ** 2).sum()
    assert float(seen["reg"]) == pytest.approx(beta * ref, rel=1e-4)
    assert float(seen["reg"]) > 0
    # Off by default: the G loss is the hinge loss alone.
    s = _stepper()
    seen.clear()
    loss, stats = s.generator_loss(4, _batch()[1])
    assert "reg" not in seen and "ortho_reg" not in stats
    assert float(loss.data) == float(seen["hinge"])       # exact: the same value, returned as is


def test_truncation_sweep_has_class_rows_and_threshold_columns():
    tinygan.manual_seed(0)
    model = BigGAN("cpu")
    state = tinygan.random.get_rng_state()
    a = truncation_sweep(model, seed=3, n=2)
    assert a.shape == (10, 2 * len(THRESHOLDS), 1, 32, 32)
    assert np.abs(a).max() <= 1
    # exact: deterministic given the seed, and the training's generator is put back
    np.testing.assert_array_equal(a, truncation_sweep(model, seed=3, n=2))
    assert_same_state(tinygan.random.get_rng_state(), state)
    # Rows differ by their class, the columns of one row by the z's and thresholds.
    assert np.abs(a[0] - a[5]).max() > 0 and np.abs(a[0, 0] - a[0, -1]).max() > 0


def test_the_kind_and_its_options():
    assert kinds.KINDS["biggan"].stepper is BigGANStepper
    assert kinds.KINDS["biggan"].train is train_biggan
    assert {"--preset", "--ortho-reg", "--ema-kimg", "--n-critic", "--no-spectral-norm",
            "--no-attention"} <= set(kinds.KINDS["biggan"].flags())


def test_bad_settings_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="ema .* and ema_kimg .* give one"):
        train_biggan(out=tmp_path / "a", ema=0.9, ema_kimg=1.0)
    with pytest.raises(ValueError, match="ortho_reg must be a finite number >= 0"):
        train_biggan(out=tmp_path / "b", ortho_reg=-1.0)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        train_biggan(out=tmp_path / "c", preset="huge")
    assert not any(tmp_path.iterdir())


@needs_mnist
def test_resume_is_bit_exact_including_the_u_buffers(tmp_path, monkeypatch):
    """6 G steps (12 D steps) straight == 3, stop, resume for 3: with orthogonal regularization
    and the default EMA (its beta follows the images seen) on."""
    monkeypatch.setenv("TINYGAN_FAST", "1")
    kw = dict(batch_size=4, ortho_reg=1e-4, progress=False)
    tinygan.manual_seed(0)
    fresh = BigGAN("cpu").state_dict()          # the u's a run starts with (seed 0, as below)
    train_biggan(out=tmp_path / "straight", max_steps=6, **kw)
    train_biggan(out=tmp_path / "split", max_steps=3, **kw)
    half = latest(tmp_path / "split")
    assert (int(half["step"]), int(half["d_steps"])) == (3, 6)
    train_biggan(out=tmp_path / "split", max_steps=6, resume=True, **kw)
    a, b = latest(tmp_path / "straight"), latest(tmp_path / "split")
    assert int(a["step"]) == int(b["step"]) == 6 and int(b["d_steps"]) == 12
    u_keys = [k for k in a["model"] if k.endswith("weight_u")]
    assert len(u_keys) > 30
    # The u's moved (power iteration in every training forward) and are in the checkpoint.
    assert any(not np.array_equal(a["model"][k], fresh[k].data) for k in u_keys)
    # Every weight, u and v, optimizer moment, the EMA, the counters and the logs, bit for bit.
    assert_same_state(a, b)
    assert records(tmp_path / "straight") == records(tmp_path / "split")
    assert a["config"]["ortho_reg"] == 1e-4 and a["config"]["ema_kimg"] == trainer.EMA_KIMG
    assert a["ema"] is not None and 0 < float(a["ema"]["beta"]) < 1
    # The sample grids have a row per class: row r of the 10 x 10 fixed noise is class r.
    np.testing.assert_array_equal(a["fixed"]["labels"], np.repeat(np.arange(10), 10))  # exact: ints


@needs_mnist
def test_cli_train_sample_and_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "run"
    assert main(["train", "biggan", "--preset", "cpu", "--max-steps", "2", "--batch-size", "8",
                 "--ortho-reg", "1e-4", "--out", str(run), "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 2 and np.isfinite(result["d_loss"]) and np.isfinite(result["g_loss"])
    for picture in ("samples", "truncation", "losses"):
        assert (run / f"{picture}.png").is_file(), picture
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_options"] == {"preset": "cpu"} and cfg["ortho_reg"] == 1e-4
    assert (cfg["n_critic"], cfg["lr_g"], cfg["lr_d"]) == (2, 1e-4, 4e-4)

    # sample --label Y --truncation T: G sees label Y for every sample and |z_i| <= T.
    seen = []
    forward = biggan_model.Generator.forward

    def spy(self, z, labels):
        seen.append((z.detach().numpy().copy(), labels.detach().numpy().copy()))
        return forward(self, z, labels)

    monkeypatch.setattr(biggan_model.Generator, "forward", spy)
    out = tmp_path / "s.npz"
    assert main(["sample", str(run), "--n", "6", "--label", "7", "--truncation", "0.5",
                 "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        saved = {k: f[k] for k in f.files}
    assert set(saved) == {"images", "labels", "truncation_threshold"}
    assert saved["images"].shape == (6, 1, 32, 32) and np.isfinite(saved["images"]).all()
    # exact: integer labels and the recorded setting
    np.testing.assert_array_equal(saved["labels"], np.full(6, 7))
    assert saved["truncation_threshold"] == 0.5
    z, labels = seen[-1]
    np.testing.assert_array_equal(labels, np.full(6, 7))       # exact: integers
    assert np.abs(z).max() <= 0.5
    monkeypatch.setattr(biggan_model.Generator, "forward", forward)
    capsys.readouterr()

    # A threshold must be > 0, and the cutoff is StyleGAN's.
    assert main(["sample", str(run), "--truncation", "0", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "biggan's truncation is a threshold on |z_i|, which must be > 0" in err
    assert main(["sample", str(run), "--truncation", "1", "--truncation-cutoff", "1",
                 "--out", str(tmp_path / "x.npz")]) == 2
    assert "the cutoff (which ws psi truncates) is StyleGAN's" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()

    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert np.isfinite(scores["fid"]) and 0 <= scores["label_accuracy"] <= 1


@needs_mnist
def test_cli_ablation_without_spectral_norm_and_attention(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "run"
    assert main(["train", "biggan", "--no-spectral-norm", "--no-attention", "--max-steps", "1",
                 "--batch-size", "8", "--out", str(run), "--quiet"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_options"] == {"preset": "cpu", "spectral_norm": False, "attention": False}
    # No attention, so no attention picture; the other pictures are there.
    assert (run / "truncation.png").is_file() and not (run / "attention.png").exists()
    capsys.readouterr()
    # The run loads back as the model it was trained as.
    assert main(["eval", str(run), "--n", "128", "--json"]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["fid"])
