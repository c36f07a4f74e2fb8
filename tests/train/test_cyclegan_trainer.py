"""CycleGAN-lite's training (tinygan/train/cyclegan.py), its kind "cyclegan", and its commands.

Made-up domains (cyclegan_domains.py) stand in for tinygan.data.domains and a tiny preset
for the cpu one, so each run takes a second or two: one step's updates, the learning-rate
schedule, the B batches, the picture rows, a bit-exact resume with both pools full, and the
command line's train, translate (and its refusals) and eval."""
import json
import re

import numpy as np
import pytest

import tinygan
from tinygan.cli import main
from tinygan.models import cyclegan as model_file
from tinygan.train import kinds
from tinygan.train.cyclegan import CycleGANStepper, lr_factor, train_cyclegan

import cyclegan_domains
from gan_helpers import assert_same_state, latest, records

TINY = dict(ngf=2, n_blocks=1, ndf=2, n_layers=1)


@pytest.fixture
def tiny(monkeypatch):
    """The made-up domains, the tiny networks, fast mode."""
    monkeypatch.setitem(model_file.PRESETS, "cpu", TINY)
    monkeypatch.setenv("TINYGAN_FAST", "1")
    return cyclegan_domains.install(monkeypatch)


def _cfg(**overrides):
    return {**dict(lr=2e-4, betas=[0.5, 0.999], epochs=2, seed=0, no_pool=False, batch_size=4,
                   device="cpu", lambda_cyc=10.0, lambda_id=5.0), **overrides}


def _stepper(domains, steps_per_epoch=5, **overrides):
    tinygan.manual_seed(0)
    b, _ = domains.load_domain("B")
    return CycleGANStepper(model_file.CycleGAN("cpu"), _cfg(**overrides), b, steps_per_epoch)


def _params(module):
    return {k: np.array(p.data) for k, p in module.named_parameters()}


def test_kind_is_registered():
    kind = kinds.KINDS["cyclegan"]
    assert kind.stepper is CycleGANStepper and kind.train is train_cyclegan
    assert kind.flags() == ["--preset", "--lambda-cyc", "--lambda-id", "--no-pool", "--lr"]
    assert [c.name for c in kind.commands] == ["translate"]


def test_a_kind_command_may_not_take_an_existing_name(monkeypatch):
    from dataclasses import replace
    from tinygan.cli import build_parser
    kind = kinds.KINDS["cyclegan"]
    clash = replace(kind.commands[0], name="sample")
    monkeypatch.setitem(kinds.KINDS, "cyclegan", replace(kind, commands=(clash,)))
    with pytest.raises(ValueError, match="the CycleGAN command 'sample' is already a command"):
        build_parser()


def test_one_step_updates_all_four_networks_and_logs_each_term(tiny):
    s = _stepper(tiny)
    a, _ = tiny.load_domain("A")
    before = {n: _params(getattr(s.family, n)) for n in ("G_AB", "G_BA", "D_A", "D_B")}
    checked = []
    logged, stepped = s.step(tinygan.tensor(a[:4]), None, lambda v, w: checked.append(w))
    assert stepped and checked == ["generator", "D_A", "D_B"]
    assert set(logged) == {"g_loss", "g_adv", "cycle_a", "cycle_b", "idt_a", "idt_b", "d_a",
                           "d_b", "lr"}
    for name, old in before.items():
        new = _params(getattr(s.family, name))
        assert all(not np.array_equal(old[k], new[k]) for k in old), name
    assert s.pool_a.count == 4 and s.pool_b.count == 4


def test_lr_constant_then_linear_to_zero():
    assert [lr_factor(t, 10, 5) for t in range(10)] == [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert lr_factor(10, 10, 5) == 0.0


def test_stepper_follows_the_schedule(tiny):
    s = _stepper(tiny, steps_per_epoch=2, epochs=2)          # T = 4 steps, constant for 2
    a, _ = tiny.load_domain("A")
    lrs = [s.step(tinygan.tensor(a[:4]), None, lambda *_: None)[0]["lr"] for _ in range(4)]
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4], rel=1e-12)
    assert s.opt_d.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-20)   # after the last step


def test_b_batches_cover_b_once_per_pass_in_a_new_order(tiny):
    s = _stepper(tiny)
    b, _ = tiny.load_domain("B")
    per_pass = len(b) // 4
    ids = lambda t: [int(np.flatnonzero((b == t.data[i]).all(axis=(1, 2, 3)))[0])
                     for i in range(t.shape[0])]
    first = sum((ids(s.next_b()) for _ in range(per_pass)), [])
    second = sum((ids(s.next_b()) for _ in range(per_pass)), [])
    assert len(set(first)) == len(first) == per_pass * 4
    assert first != second and s.b_pass == 1


def test_no_pool_shows_d_the_newest_fakes(tiny):
    s = _stepper(tiny, no_pool=True)
    a, _ = tiny.load_domain("A")
    s.step(tinygan.tensor(a[:4]), None, lambda *_: None)
    assert s.pool_a.pool_size == 0 and s.pool_a.images is None


def test_picture_rows(tiny):
    s = _stepper(tiny)
    x = tinygan.tensor(np.concatenate([tiny.load_domain("A", "test")[0][:3],
                                       tiny.load_domain("B", "test")[0][:3]]))
    images, nrow = s.sample_grid({"z": x, "labels": None}, 10)
    assert images.shape == (18, 1, 28, 28) and nrow == 3
    with tinygan.no_grad():
        fb = s.family.G_AB(x[:3]).data
    np.testing.assert_array_equal(images[:3], x.data[:3])      # exact: row 1 is a as it is
    np.testing.assert_allclose(images[3:6], fb, rtol=0, atol=1e-6)   # float32, same ops
    np.testing.assert_array_equal(images[9:12], x.data[3:])    # exact: row 4 is b


def test_resume_is_bit_exact_with_both_pools(tiny, tmp_path):
    """10 steps an epoch of 4 images, 2 epochs: the 50-image pools fill during the second
    epoch (step 13); the broken run stops at step 14, mid-epoch, and resumes."""
    opts = dict(epochs=2, batch_size=4, progress=False, seed=3)
    straight = train_cyclegan(out=tmp_path / "straight", **opts)
    train_cyclegan(out=tmp_path / "broken", max_steps=14, **opts)
    mid = latest(tmp_path / "broken")
    assert mid["pool_a"]["count"] == 50 and mid["pool_a"]["queries"] == 14
    resumed = train_cyclegan(out=tmp_path / "broken", resume=True, **opts)
    assert straight["step"] == resumed["step"] == 20
    a, b = latest(tmp_path / "straight"), latest(tmp_path / "broken")
    assert_same_state(a, b)
    assert b["pool_b"]["count"] == 50 and b["b_position"] == {"pass": 1, "batch": 10}
    assert records(tmp_path / "straight") == records(tmp_path / "broken")


def test_trainer_refuses_bad_settings_before_writing(tiny, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cyclegan keeps no EMA"):
        train_cyclegan(out=out, ema=0.999)
    with pytest.raises(ValueError, match="--dataset fashion-mnist has none"):
        train_cyclegan(out=out, dataset="fashion-mnist")
    with pytest.raises(ValueError, match="lambda_cyc must be a finite number >= 0, got -1"):
        train_cyclegan(out=out, lambda_cyc=-1)
    with pytest.raises(ValueError, match="batch size 600 is larger than the 40 training images "
                                         "of domain A"):
        train_cyclegan(out=out, batch_size=600)
    assert not out.exists()


def test_command_line_train_translate_eval(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--out", str(run), "--epochs", "1", "--batch-size", "4",
                 "--lambda-id", "0", "--no-pool", "--lr", "1e-4", "--quiet"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["lambda_id"] == 0.0 and cfg["no_pool"] is True and cfg["pair"] == "made-up"
    assert cfg["lr"] == 1e-4 and cfg["lambda_cyc"] == 10.0
    assert "idt_a" not in records(run)[-1]
    assert (run / "samples" / "epoch_001.png").is_file()
    # translate: through the run's G_AB, labels carried along, written atomically
    a, ya = tiny.load_domain("A", "test")
    np.savez(tmp_path / "in.npz", images=a[:5], labels=ya[:5])
    capsys.readouterr()
    assert main(["translate", str(run), "--direction", "AB", "--in", str(tmp_path / "in.npz"),
                 "--out", str(tmp_path / "out.npz")]) == 0
    assert "wrote 5 images translated A -> B" in capsys.readouterr().out
    with np.load(tmp_path / "out.npz", allow_pickle=False) as f:
        got, labels = f["images"], f["labels"]
    from tinygan.train.loop import load_run
    family = load_run(run)[0]
    with tinygan.no_grad():
        expected = family.G_AB(tinygan.tensor(a[:5])).data
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)        # float32, same ops
    np.testing.assert_array_equal(labels, ya[:5])                       # exact: copied
    # eval
    assert main(["eval", str(run), "--n", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"digit_kept_ab", "digit_kept_ba", "look_ab", "look_ba", "fid_ab",
                           "fid_ba", "cycle_l1_a", "cycle_l1_b", "n_a", "n_b"}
    assert result["n_a"] == 8 and 0 <= result["digit_kept_ab"] <= 1
    assert result["cycle_l1_a"] > 0
    assert records(run)[-1]["type"] == "eval"


def test_translate_refuses_bad_input(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--out", str(run), "--max-steps", "1", "--batch-size",
                 "4", "--quiet"]) == 0
    cases = {
        "shape": (np.zeros((2, 28, 28), np.float32), r"images must have shape \(N, 1, 28, 28\) "
                                                      r"with N >= 1, got \(2, 28, 28\)"),
        "range": (np.full((2, 1, 28, 28), 255, np.float32), r"must be in \[-1, 1\].*got values "
                                                             r"in \[255, 255\]"),
        "nan": (np.full((2, 1, 28, 28), np.nan, np.float32), "not finite"),
        "dtype": (np.zeros((2, 1, 28, 28), np.uint8), "must be floating point"),
    }
    for name, (images, message) in cases.items():
        np.savez(tmp_path / f"{name}.npz", images=images)
        capsys.readouterr()
        assert main(["translate", str(run), "--direction", "BA", "--in",
                     str(tmp_path / f"{name}.npz"), "--out", str(tmp_path / "o.npz")]) == 2, name
        err = capsys.readouterr().err
        assert re.search(message, err), (name, err)
        assert not (tmp_path / "o.npz").exists()
    np.savez(tmp_path / "none.npz", pictures=np.zeros(3))
    assert main(["translate", str(run), "--direction", "AB", "--in", str(tmp_path / "none.npz"),
                 "--out", str(tmp_path / "o.npz")]) == 2
    assert "it has no 'images' array (it has pictures)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:                 # the parser's one line, status 2
        main(["translate", str(run), "--direction", "XY", "--in", "x.npz", "--out", "o"])
    assert exc.value.code == 2 and "invalid choice: 'XY'" in capsys.readouterr().err
    assert main(["sample", str(run), "--out", str(tmp_path / "s.npz")]) == 2
    assert "cyclegan draws no noise" in capsys.readouterr().err


def test_options_of_another_kind_are_refused(tiny, tmp_path, capsys):
    assert main(["train", "dcgan", "--out", str(tmp_path / "d"), "--lambda-cyc", "3"]) == 2
    assert "--lambda-cyc is a CycleGAN option" in capsys.readouterr().err
    assert main(["train", "cyclegan", "--out", str(tmp_path / "c"), "--lr-g", "1e-3"]) == 2
    assert "cyclegan is a CycleGAN: --lr-g" in capsys.readouterr().err
