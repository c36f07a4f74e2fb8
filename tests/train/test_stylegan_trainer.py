"""StyleGAN-lite's training step (tinygan/train/stylegan.py) and its kind "stylegan".

The Stepper is driven directly on random 32x32 batches (no data needed) to see what one step
changes, when the lazy regularizers run (spies count their calls), the style mixing and the
Adam settings; the trainer runs on MNIST (TINYGAN_FAST=1) through ``train_stylegan`` for the
bit-exact resume and through the command line for its options.
"""
import json

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint
from tinygan.cli import main
from tinygan.models import registry
from tinygan.models.stylegan import PRESETS, StyleGAN
from tinygan.train import kinds
from tinygan.train import stylegan as trainer
from tinygan.train.loop import class_noise, fixed_inputs, load_run
from tinygan.train.stylegan import StyleGANStepper, train_stylegan

from gan_helpers import assert_same_state, latest, records

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)

CFG = dict(lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99), r1_gamma=0.1, r1_interval=16,
           pl_weight=2.0, pl_interval=4, mixing=0.9)


def _stepper(conditional=False, **overrides):
    tinygan.manual_seed(0)
    family = StyleGAN("cpu", conditional=conditional)
    return StyleGANStepper(family, {**CFG, **overrides})


def _batch(n=4, seed=1):
    rng = np.random.default_rng(seed)
    x = tinygan.tensor(rng.uniform(-1, 1, (n, 1, 32, 32)).astype(np.float32))
    y = tinygan.tensor(rng.integers(0, 10, n), dtype=tinygan.int64)
    return x, y


def _weights(module):
    return {k: np.array(v.data) for k, v in module.state_dict().items()}


def _no_check(value, which=None):
    pass


@pytest.mark.parametrize("conditional", [False, True])
def test_one_step_changes_both_networks(conditional):
    s = _stepper(conditional)
    g0, d0 = _weights(s.family.G), _weights(s.family.D)
    logged, stepped = s.step(*_batch(), _no_check)
    assert stepped and {"d_loss", "g_loss", "r1_penalty", "pl_penalty"} <= set(logged)
    assert all(np.isfinite(float(v)) for v in logged.values())
    g1, d1 = _weights(s.family.G), _weights(s.family.D)
    assert any(not np.array_equal(g0[k], g1[k]) for k in g0 if "weight" in k)
    assert any(not np.array_equal(d0[k], d1[k]) for k in d0 if "weight" in k)
    assert s.pl_mean != 0                                   # the running mean moved off 0


def test_lazy_regularizers_run_on_steps_0_16_and_0_4_8(monkeypatch):
    s = _stepper(r1_gamma=0.1, pl_weight=2.0)
    r1_at, pl_at = [], []
    r1, pl = trainer.r1_penalty, trainer.path_length_penalty
    monkeypatch.setattr(trainer, "r1_penalty",
                        lambda *a, **k: (r1_at.append(s.d_steps), r1(*a, **k))[1])
    monkeypatch.setattr(trainer, "path_length_penalty",
                        lambda *a, **k: (pl_at.append(s.g_steps), pl(*a, **k))[1])
    x, y = _batch(n=2)
    for _ in range(17):
        s.step(x, y, _no_check)
    assert r1_at == [0, 16]
    assert pl_at == [0, 4, 8, 12, 16]
    assert (s.d_steps, s.g_steps) == (17, 17)


def test_regularizers_switch_off(monkeypatch):
    s = _stepper(r1_gamma=0.0, pl_weight=0.0)
    called = []
    monkeypatch.setattr(trainer, "r1_penalty", lambda *a, **k: called.append("r1"))
    monkeypatch.setattr(trainer, "path_length_penalty", lambda *a, **k: called.append("pl"))
    logged, _ = s.step(*_batch(n=2), _no_check)
    assert called == [] and set(logged) == {"d_loss", "g_loss"}


def test_style_mixing_crosses_over_once_per_batch():
    s = _stepper(mixing=1.0)
    for _ in range(3):
        ws, _ = s.styles(5, None, "cpu")
        ws = np.array(ws.data)
        differs = [not np.array_equal(ws[:, 0], ws[:, i]) for i in range(ws.shape[1])]
        cut = differs.index(True)                           # ws[:, cut:] come from a second z
        assert 1 <= cut < ws.shape[1] and all(differs[cut:])
        # exact: the layers of one z are copies of the same w
        assert all(np.array_equal(ws[:, cut], ws[:, i]) for i in range(cut, ws.shape[1]))
    s = _stepper(mixing=0.0)
    ws = np.array(s.styles(5, None, "cpu")[0].data)
    # exact: without mixing every layer is a copy of the same w
    assert all(np.array_equal(ws[:, 0], ws[:, i]) for i in range(ws.shape[1]))


def test_lazy_adam_settings_are_applied():
    s = _stepper()
    d, g = s.opt_d.param_groups[0], s.opt_g.param_groups[0]
    assert d["lr"] == pytest.approx(0.0025 * 16 / 17, rel=1e-12)
    assert tuple(d["betas"]) == pytest.approx((0.0, 0.99 ** (16 / 17)), rel=1e-12)
    assert g["lr"] == pytest.approx(0.0025 * 4 / 5, rel=1e-12)
    assert tuple(g["betas"]) == pytest.approx((0.0, 0.99 ** (4 / 5)), rel=1e-12)
    # Without a regularizer its network's Adam keeps the plain settings.
    s = _stepper(r1_gamma=0.0, pl_weight=0.0)
    for group in (s.opt_d.param_groups[0], s.opt_g.param_groups[0]):
        assert group["lr"] == pytest.approx(0.0025, rel=1e-12)
        assert tuple(group["betas"]) == pytest.approx((0.0, 0.99), rel=1e-12)


def test_the_registry_entry_is_of_kind_stylegan():
    assert registry.get("stylegan").kind == "stylegan"
    assert kinds.KINDS["stylegan"].stepper is StyleGANStepper


# The EMA of the resume test: a fixed beta, or the half-life of 100 images ramped up over the
# first 200 (0.5 x the images seen), so that every one of its 6 steps has a beta of its own.
FIXED_EMA, RAMPED_EMA = dict(ema=0.99), dict(ema_kimg=0.1, ema_rampup=0.5)


@needs_mnist
@pytest.mark.parametrize("ema", [FIXED_EMA, RAMPED_EMA], ids=["fixed-ema", "ramped-ema"])
def test_resume_is_bit_exact_when_the_intervals_straddle_the_stop(tmp_path, monkeypatch, ema):
    """6 steps straight == 3 steps, stop, resume for 3: R1 (every 4 D steps) and path length
    (every 4 G steps) are next due at step 4, after the stop; mixing and the EMA are on (the
    ramped EMA's beta depends on the images seen, which the resumed run reads back)."""
    monkeypatch.setenv("TINYGAN_FAST", "1")
    kw = dict(batch_size=4, r1_gamma=0.1, r1_interval=4, pl_weight=2.0, pl_interval=4, mixing=0.9,
              progress=False, **ema)
    train_stylegan("stylegan", out=tmp_path / "straight", max_steps=6, **kw)
    train_stylegan("stylegan", out=tmp_path / "split", max_steps=3, **kw)
    half = checkpoint.load(checkpoint.latest_checkpoint(tmp_path / "split" / "checkpoints"))
    assert (int(half["d_steps"]), int(half["g_steps"]), int(half["step"])) == (3, 3, 3)
    train_stylegan("stylegan", out=tmp_path / "split", max_steps=6, resume=True, **kw)
    a, b = latest(tmp_path / "straight"), latest(tmp_path / "split")
    assert int(a["step"]) == int(b["step"]) == 6 and int(b["d_steps"]) == int(b["g_steps"]) == 6
    assert float(a["pl_mean"]) != 0
    # exact: same seed, thread count and machine give bit-identical runs (tinygan's promise)
    np.testing.assert_array_equal(a["pl_mean"], b["pl_mean"])
    # Every weight, buffer, optimizer moment, the EMA, the counters and the logs, bit for bit.
    assert_same_state(a, b)
    assert records(tmp_path / "straight") == records(tmp_path / "split")
    if ema is RAMPED_EMA:
        # The checkpoint's beta is the last update's: the 6th step saw 20 images before it,
        # half-life min(100, 0.5 * 20) = 10 images, beta 0.5 ** (4 / 10); the 3rd step's, 8 before.
        assert float(b["ema"]["beta"]) == pytest.approx(0.5 ** (4 / 10), rel=1e-15)
        assert float(half["ema"]["beta"]) == pytest.approx(0.5 ** (4 / 4), rel=1e-15)
        assert (b["config"]["ema_kimg"], b["config"]["ema_rampup"], b["config"]["ema"]) == \
            (0.1, 0.5, None)


@needs_mnist
def test_the_ramped_ema_starts_as_a_copy_of_g(tmp_path, monkeypatch):
    """The first update's half-life is min(ema_nimg, 0 x R) = 0 images (the reference counts
    the images seen before the step): beta 0, so after one step the EMA is G's weights."""
    monkeypatch.setenv("TINYGAN_FAST", "1")
    train_stylegan("stylegan", out=tmp_path / "run", max_steps=1, batch_size=4, progress=False,
                   ema_kimg=10, ema_rampup=0.05)
    state = latest(tmp_path / "run")
    assert float(state["ema"]["beta"]) == 0.0
    g = {k[len("G."):]: v for k, v in state["model"].items() if k.startswith("G.")}
    assert set(state["ema"]["params"]) <= set(g)
    moved = 0
    for name, value in state["ema"]["params"].items():
        # exact: beta 0 is ema * 0 + 1 * p, which is p bit for bit
        np.testing.assert_array_equal(value, g[name], err_msg=name)
        moved += not np.array_equal(value, tinygan.zeros(*value.shape).numpy())
    assert moved > 0


@needs_mnist
def test_cli_smoke_run_and_options_reach_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    assert main(["train", "stylegan", "--max-steps", "3", "--batch-size", "4",
                 "--out", str(tmp_path / "plain"), "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 3 and np.isfinite(result["d_loss"]) and np.isfinite(result["g_loss"])
    for picture in ("samples", "style_mixing", "truncation", "noise_variation", "interpolation"):
        assert (tmp_path / "plain" / f"{picture}.png").is_file(), picture

    run = tmp_path / "run"
    assert main(["train", "stylegan", "--max-steps", "1", "--batch-size", "4", "--conditional",
                 "--preset", "cpu", "--r1-gamma", "0.5", "--r1-interval", "8", "--pl-weight", "0",
                 "--pl-interval", "2", "--mixing", "0", "--lr-g", "0.001", "--ema-kimg", "0",
                 "--linear-output", "--out", str(run), "--quiet"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_options"] == {"preset": "cpu", "conditional": True, "linear_output": True}
    # ... and the run reloads as it was built: the ablation's G has no tanh, the default's has.
    assert load_run(run)[0].G.synthesis.linear_output is True
    assert load_run(tmp_path / "plain")[0].G.synthesis.linear_output is False
    assert (cfg["r1_gamma"], cfg["r1_interval"], cfg["pl_weight"], cfg["pl_interval"],
            cfg["mixing"], cfg["lr_g"]) == (0.5, 8, 0.0, 2, 0.0, 0.001)
    defaults = json.loads((tmp_path / "plain" / "config.json").read_text())
    # The defaults are the cpu preset's recipe (tinygan/models/stylegan.py PRESETS).
    recipe = PRESETS["cpu"]["recipe"]
    assert (defaults["r1_gamma"], defaults["r1_interval"], defaults["pl_weight"],
            defaults["pl_interval"], defaults["mixing"], defaults["lr_g"], defaults["lr_d"]) == (
        recipe["r1_gamma"], 16, recipe["pl_weight"], 4, recipe["mixing"], recipe["lr_g"],
        recipe["lr_d"])
    assert defaults["model_options"] == {"preset": "cpu", "conditional": False}
    # The EMA by default: the preset's half-life (10k images), ramped up from the start: after
    # 3 steps of 4 images the last update saw 8 images, so its half-life was 8 * ramp-up.
    assert (defaults["ema_kimg"], defaults["ema_rampup"], defaults["ema"]) == (
        recipe["ema_kimg"], recipe["ema_rampup"], None)
    assert float(latest(tmp_path / "plain")["ema"]["beta"]) == \
        pytest.approx(0.5 ** (4 / (8 * recipe["ema_rampup"])), rel=1e-12)
    # --ema-kimg 0 switches it off; --ema-kimg and --ema-rampup reach the config.
    assert latest(run)["ema"] is None and cfg["ema_kimg"] == 0.0
    ramped = tmp_path / "ramped"
    assert main(["train", "stylegan", "--max-steps", "1", "--batch-size", "4", "--ema-kimg",
                 "2.5", "--ema-rampup", "0.05", "--out", str(ramped), "--quiet"]) == 0
    cfg = json.loads((ramped / "config.json").read_text())
    assert (cfg["ema_kimg"], cfg["ema_rampup"], cfg["ema"]) == (2.5, 0.05, None)
    assert latest(ramped)["ema"] is not None
    # --ema BETA, the fixed beta of every kind, still works for StyleGAN.
    fixed = tmp_path / "fixed"
    assert main(["train", "stylegan", "--max-steps", "1", "--batch-size", "4", "--ema", "0.9",
                 "--out", str(fixed), "--quiet"]) == 0
    cfg = json.loads((fixed / "config.json").read_text())
    assert (cfg["ema_kimg"], cfg["ema_rampup"], cfg["ema"]) == (None, None, 0.9)
    assert float(latest(fixed)["ema"]["beta"]) == 0.9


def test_options_of_other_kinds_are_refused(tmp_path, capsys):
    assert main(["train", "stylegan", "--n-critic", "2", "--out", str(tmp_path / "a")]) == 2
    assert "stylegan is a StyleGAN: --n-critic is a GAN option" in capsys.readouterr().err
    assert main(["train", "stylegan", "--latent-dim", "2", "--out", str(tmp_path / "b")]) == 2
    assert "--latent-dim" in capsys.readouterr().err
    assert main(["train", "dcgan", "--r1-gamma", "1", "--out", str(tmp_path / "c")]) == 2
    assert "dcgan is a GAN: --r1-gamma is a StyleGAN option" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "stylegan", "--mixing", "1.5", "--out", str(tmp_path / "d")])
    assert "--mixing: must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert main(["train", "dcgan", "--ema-kimg", "10", "--out", str(tmp_path / "e")]) == 2
    assert "dcgan is a GAN: --ema-kimg is a StyleGAN option" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in "abcde")


@pytest.mark.parametrize("argv, words", [
    (["--ema", "0.999", "--ema-kimg", "10"],
     "ema (--ema BETA, a fixed beta) and ema_kimg (--ema-kimg) (the half-life in images) both "
     "set the generator EMA; give one"),
    (["--ema", "0.999", "--ema-rampup", "0.05"],
     "ema (--ema BETA, a fixed beta) and ema_rampup (--ema-rampup) (the half-life in images)"),
    (["--ema-kimg", "0", "--ema-rampup", "0.05"],
     "ema_rampup=0.05 ramps up the EMA, but ema_kimg=0 switches it off"),
])
def test_ema_settings_that_contradict_each_other_are_refused(tmp_path, capsys, argv, words):
    out = tmp_path / "run"
    assert main(["train", "stylegan", *argv, "--out", str(out)]) == 2
    assert f"tinygan train: train_stylegan: {words}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--ema-kimg", "-1"], "--ema-kimg: must be in [0, inf), got -1"),
    (["--ema-kimg", "nan"], "--ema-kimg: must be in [0, inf), got nan"),
    (["--ema-rampup", "0"], "--ema-rampup: must be in (0, inf), got 0"),
])
def test_ema_values_out_of_range_are_refused(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        main(["train", "stylegan", *argv, "--out", str(tmp_path / "run")])
    assert exc.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_conditional_model_has_a_class_per_row_of_the_grid():
    """The registry gives StyleGAN its 10 classes (without them the fixed grid's rows were
    all class 0, and the evaluation's labels too); the unconditional model draws none."""
    assert registry.get("stylegan").num_classes == 10
    tinygan.manual_seed(0)
    fixed = fixed_inputs(StyleGAN("cpu", conditional=True), "cpu")
    # exact: integer labels, row r of the 10x10 grid is class r
    np.testing.assert_array_equal(fixed["labels"].numpy(), np.repeat(np.arange(10), 10))
    z, classes = class_noise(StyleGAN("cpu", conditional=True), 25, "cpu")
    np.testing.assert_array_equal(classes, np.arange(25) % 10)
    assert fixed_inputs(StyleGAN("cpu"), "cpu")["labels"] is None
    assert class_noise(StyleGAN("cpu"), 4, "cpu")[1] is None
