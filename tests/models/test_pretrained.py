"""The trained models shipped in tinygan/weights/ (tinygan.models.pretrained, ``pretrained:NAME``)
and ``tinygan export``, which makes such files from a run.

- every shipped file loads, is at most 2 MB, and samples the right shapes, dtypes and range;
- the shipped weights are trained: on 200 samples the frozen MNIST classifier
  (``pretrained_classifier``, not a stand-in) scores them far above a freshly initialized
  family of the same kind, and cgan draws the digit it is asked for (the margins are set from
  the measured figures in the comments below);
- the shipped CycleGAN (the whole family: both generators and both PatchGANs) translates both
  ways and keeps the digit, far above a freshly initialized one; it draws no samples;
- ``tinygan sample pretrained:dcgan``, ``tinygan eval pretrained:cgan``, ``tinygan translate
  pretrained:cyclegan`` and ``tinygan eval pretrained:cyclegan`` through the CLI's entry, with
  nothing written into the package;
- unknown names, corrupt copies, files that don't fit their family and a run's checkpoint in
  place of an exported file are refused with one line naming the file;
- ``tinygan export`` round-trips tiny real runs (TINYGAN_FAST=1): float32 gives the run's own
  samples bit for bit (the EMA's, when kept), float16 the same up to its rounding.
"""
import json
import os
import shutil

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint, metrics
from tinygan.checkpoint import CheckpointError
from tinygan.cli import main
from tinygan.models import PRETRAINED, pretrained, pretrained_classifier, pretrained_names
from tinygan.models.classifier import WEIGHTS
from tinygan.models.shipped import load_pretrained
from tinygan.train.export import export_run
from tinygan.train import load_run, sample_run
from tinygan.train.loop import build_family, class_noise, generate

needs_mnist = pytest.mark.skipif(
    not os.path.isdir(os.path.join(os.environ.get("TINYGAN_DATA", "/nonexistent"), "mnist")),
    reason="needs MNIST under $TINYGAN_DATA (CI points it at ../shared/data)")

MAX_BYTES = 2 * 1000 * 1000
N = 200                              # samples scored by the quality checks


def shipped_file(name):
    return WEIGHTS / PRETRAINED[name][0]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# ----------------------------------------------------------------------------
# the shipped files
# ----------------------------------------------------------------------------
# The shipped models that draw samples; cyclegan translates images instead (its own tests below).
SAMPLERS = sorted(set(PRETRAINED) - {"cyclegan"})


def test_the_shipped_models_are_listed():
    assert pretrained_names() == ["biggan", "cgan", "cyclegan", "dcgan", "stylegan", "vae"]
    assert SAMPLERS == ["biggan", "cgan", "dcgan", "stylegan", "vae"]


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_shipped_file_loads_is_small_and_samples(name):
    path = shipped_file(name)
    assert path.stat().st_size <= MAX_BYTES
    stored = checkpoint.load(path)
    assert stored["model"] == name and stored["dtype"] == "float16"
    assert {v.dtype for v in stored["weights"].values() if v.dtype.kind == "f"} == {np.dtype(np.float16)}

    family = pretrained(name)
    assert family.name == name and not family.training
    assert all(p.dtype == np.float32 for p in family.parameters())
    out = sample_run(f"pretrained:{name}", n=12, seed=1)
    images = out["images"]
    assert images.shape == (12, *family.image_shape) and images.dtype == np.float32   # biggan, stylegan: 32x32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1
    if name in ("cgan", "biggan"):          # the class-conditional ones
        assert set(out) == {"images", "labels"}
        assert out["labels"].dtype == np.int64 and out["labels"].tolist() == [i % 10 for i in range(12)]
    else:
        assert set(out) == {"images"}
    # The same seed gives the same samples; loading leaves tinygan's random stream alone.
    np.testing.assert_array_equal(sample_run(f"pretrained:{name}", n=12, seed=1)["images"], images)
    tinygan.manual_seed(5)
    expected = tinygan.randn(3).numpy()
    tinygan.manual_seed(5)
    pretrained(name)
    np.testing.assert_array_equal(tinygan.randn(3).numpy(), expected)


def _probs(images):
    return metrics.classifier_outputs(images, pretrained_classifier("mnist"))[1]


def _fresh_samples(name, n, seed=0):
    """n samples of a freshly initialized family ``name``, drawn as sample_run draws them."""
    tinygan.manual_seed(seed)
    family = build_family(name).eval()
    z, classes = class_noise(family, n, "cpu")
    labels = None if classes is None else tinygan.tensor(classes)
    return np.clip(generate(family, z, labels), -1, 1), classes


# Measured on 200 samples (seed 0) with the frozen MNIST classifier, the shipped file against
# a freshly initialized family (initialization seeds 0, 1, 2):
#   dcgan  classifier score 6.39 against 1.016-1.025   (10,000 samples: 6.10; weights/README.md)
#   cgan   classifier score 9.43 against 1.019-1.024;  label accuracy 0.965 against 0.100
#   vae    classifier score 5.25 against 1.011-1.015
#   biggan classifier score 9.69 against 1.31-1.40   (10,000 samples: 9.73, label accuracy 0.990)
#   stylegan classifier score 8.12 against 1.79-1.95 (10,000 samples: 8.29)
# (dcgan's file after 1 epoch of its run scored 4.84, after 2 epochs 5.94.)  An untrained
# generator draws the same grey smudge every time, which the classifier puts in one class:
# score 1; an untrained StyleGAN-lite draws varied blobs (its styles modulate every layer from
# the start), which score nearer 2.  The thresholds sit far from both: a quarter below the
# trained score, and about a third above the untrained one (twice it where that is near 1).
SCORE_ABOVE = {"dcgan": 4.5, "cgan": 7.0, "vae": 4.0, "biggan": 7.2, "stylegan": 6.0}
UNTRAINED_BELOW = {"stylegan": 2.6}


@pytest.mark.parametrize("name", SAMPLERS)
def test_the_shipped_weights_are_trained(name):
    images = sample_run(f"pretrained:{name}", n=N, seed=0)["images"]
    score = metrics.classifier_score_from_probs(_probs(images))
    fresh, _ = _fresh_samples(name, N)
    untrained = metrics.classifier_score_from_probs(_probs(fresh))
    assert untrained < UNTRAINED_BELOW.get(name, 2.0), untrained   # it separates the two kinds
    assert score > SCORE_ABOVE[name], (score, untrained)


def test_the_shipped_cgan_draws_the_digit_it_is_asked_for():
    out = sample_run("pretrained:cgan", n=N, seed=0)
    accuracy = float((_probs(out["images"]).argmax(1) == out["labels"]).mean())
    fresh, classes = _fresh_samples("cgan", N)
    untrained = float((_probs(fresh).argmax(1) == classes).mean())
    assert untrained < 0.3 and accuracy > 0.9, (accuracy, untrained)   # measured 0.965, 0.100


@needs_mnist
def test_the_shipped_vae_bounds_the_likelihood_of_test_digits():
    # -ELBO of the first 200 binarized test digits: measured 100.04 nats for the shipped VAE
    # (10,000 digits: 102.08), 552.4 for a freshly initialized one.
    from tinygan.train.vae import evaluation_images, mean_neg_elbo
    family = pretrained("vae")
    x, labels = evaluation_images("mnist", family.likelihood, n=N)
    assert mean_neg_elbo(family, x, labels, eps_seed=0) < 120.0


# ----------------------------------------------------------------------------
# the shipped CycleGAN: it translates, it draws no samples
# ----------------------------------------------------------------------------
def _test_digits(domain, n=N):
    from tinygan.data import domains
    images, labels = domains.load_domain(domain, "test")
    return images[:n], labels[:n]


def _digit_kept(family, a, ya, b, yb):
    """(G_AB(a) read as a's digit by B's classifier, G_BA(b) as b's by A's): fractions."""
    from tinygan.train.translation import digit_classifier, translate
    read = (lambda domain, x: metrics.classifier_outputs(x, digit_classifier(domain))[1].argmax(1))
    return (float((read("B", translate(family, a, "AB")) == ya).mean()),
            float((read("A", translate(family, b, "BA")) == yb).mean()))


@needs_mnist
def test_the_shipped_cyclegan_loads_whole_is_small_and_translates():
    from tinygan.train.translation import translate
    path = shipped_file("cyclegan")
    assert path.stat().st_size <= MAX_BYTES
    stored = checkpoint.load(path)
    assert stored["model"] == "cyclegan" and stored["dtype"] == "float16" and stored["part"] == ""
    # the whole family ships: both generators and both PatchGANs
    assert {k.split(".")[0] for k in stored["weights"]} == {"G_AB", "G_BA", "D_A", "D_B"}
    family = pretrained("cyclegan")
    assert family.name == "cyclegan" and not family.training
    assert all(p.dtype == np.float32 for p in family.parameters())
    fresh = build_family("cyclegan")
    for (k, mine), (_, theirs) in zip(family.state_dict().items(), fresh.state_dict().items()):
        assert not np.array_equal(mine.numpy(), theirs.numpy()), f"{k} was not loaded"
    a, _ = _test_digits("A", 12)
    b, _ = _test_digits("B", 12)
    for x, direction in ((a, "AB"), (b, "BA")):
        out = translate(family, x, direction)
        assert out.shape == x.shape and out.dtype == np.float32
        assert out.min() >= -1 and out.max() <= 1 and out.std() > 0.1
        np.testing.assert_array_equal(translate(pretrained("cyclegan"), x, direction), out)
    tinygan.manual_seed(5)
    expected = tinygan.randn(3).numpy()
    tinygan.manual_seed(5)
    pretrained("cyclegan")
    np.testing.assert_array_equal(tinygan.randn(3).numpy(), expected)
    with pytest.raises(ValueError, match="cyclegan draws no noise: it translates images"):
        sample_run("pretrained:cyclegan", n=4)


# Digit kept A -> B / B -> A on the first 200 test digits of each domain, measured:
#   freshly initialized families (seeds 0, 1, 2)       0.080-0.095 / 0.065
#   the shipped file: the cpu preset (D with n_layers 2, a 34x34 field) after the whole
#   default epoch of `tinygan train cyclegan` (3,750 steps, seed 0, float16)
#                                                      0.990 / 0.975   (5,000 digits: 0.991 / 0.983)
#   the same run after 1,800 steps                      0.995 / 0.975   (5,000 digits: 0.991 / 0.980)
#   the old preset's 16x16 PatchGAN (n_layers 1), for comparison: 0.200 / 0.200 after 600
#   steps, 0.500 / 0.545 after a whole epoch (3,750 steps)
# A fresh generator draws nearly the same grey image whatever its input, which a classifier
# reads as one digit: about 0.1.  The bound is the goal a shipped model must reach (issue 17
# asks 0.9 of the cpu preset in 30 minutes), 0.075 under the shipped model's weaker direction.
DIGIT_KEPT_ABOVE = 0.9
UNTRAINED_KEPT_BELOW = 0.3


@needs_mnist
def test_the_shipped_cyclegan_keeps_the_digit_both_ways():
    a, ya = _test_digits("A")
    b, yb = _test_digits("B")
    kept_ab, kept_ba = _digit_kept(pretrained("cyclegan"), a, ya, b, yb)
    tinygan.manual_seed(0)
    fresh_ab, fresh_ba = _digit_kept(build_family("cyclegan").eval(), a, ya, b, yb)
    assert max(fresh_ab, fresh_ba) < UNTRAINED_KEPT_BELOW, (fresh_ab, fresh_ba)  # the bound separates
    assert min(kept_ab, kept_ba) >= DIGIT_KEPT_ABOVE, (kept_ab, kept_ba, fresh_ab, fresh_ba)


@needs_mnist
def test_cli_translate_pretrained_cyclegan(tmp_path, capsys):
    from tinygan.train.translation import translate_run
    a, ya = _test_digits("A", 16)
    source = tmp_path / "a.npz"
    np.savez(source, images=a, labels=ya)
    out = tmp_path / "b.npz"
    before = sorted(os.listdir(WEIGHTS))
    assert main(["translate", "pretrained:cyclegan", "--direction", "AB", "--in", str(source),
                 "--out", str(out)]) == 0
    assert "16 images" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as f:
        assert set(f.files) == {"images", "labels"}
        images, labels = f["images"], f["labels"]
    assert images.shape == (16, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, ya)
    np.testing.assert_array_equal(images, translate_run("pretrained:cyclegan", a, "AB"))
    assert sorted(os.listdir(WEIGHTS)) == before


@needs_mnist
def test_cli_translate_to_a_png_draws_each_row_above_its_translations(tmp_path, capsys, drawn_grids):
    """--out NAME.png: ten images to a row, each row of sources followed by the row of their
    translations (the very images the .npz would hold), a short last row filled with the
    grid's background."""
    from tinygan.train.translation import translate_run
    a, ya = _test_digits("A", 13)
    source = tmp_path / "a.npz"
    np.savez(source, images=a, labels=ya)
    out = tmp_path / "t.png"
    assert main(["translate", "pretrained:cyclegan", "--direction", "BA", "--in", str(source),
                 "--out", str(out)]) == 0
    (drawn,) = drawn_grids
    assert f"wrote a picture of 13 images and their translations B -> A to {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    want = translate_run("pretrained:cyclegan", a, "BA")
    grid = drawn["images"]
    assert drawn["nrow"] == 10 and grid.shape == (40, 1, 28, 28)
    np.testing.assert_array_equal(grid[0:10], a[0:10])           # exact: copies and the same run
    np.testing.assert_array_equal(grid[10:20], want[0:10])
    np.testing.assert_array_equal(grid[20:23], a[10:13])
    np.testing.assert_array_equal(grid[30:33], want[10:13])
    assert (grid[23:30] == 1).all() and (grid[33:40] == 1).all()


@needs_mnist
def test_cli_eval_pretrained_cyclegan_prints_and_writes_nothing(monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    before = sorted(os.listdir(WEIGHTS))
    assert main(["eval", "pretrained:cyclegan", "--n", "200", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"digit_kept_ab", "digit_kept_ba", "look_ab", "look_ba", "fid_ab",
                           "fid_ba", "cycle_l1_a", "cycle_l1_b", "n_a", "n_b"}
    assert result["n_a"] == result["n_b"] == 200
    assert min(result["digit_kept_ab"], result["digit_kept_ba"]) >= DIGIT_KEPT_ABOVE, result
    assert sorted(os.listdir(WEIGHTS)) == before           # no metrics.jsonl in the package
    assert main(["eval", "pretrained:cyclegan", "--n", "200"]) == 0
    assert "digit_kept_ab" in capsys.readouterr().out


# ----------------------------------------------------------------------------
# the CLI
# ----------------------------------------------------------------------------
def test_cli_sample_pretrained_dcgan(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", "pretrained:dcgan", "--n", "16", "--out", str(out)]) == 0
    assert "wrote 16 samples" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as f:
        assert set(f.files) == {"images"}
        images = f["images"]
    assert images.shape == (16, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images, sample_run("pretrained:dcgan", n=16)["images"])


@needs_mnist
@pytest.mark.parametrize("name,keys", [
    ("cgan", {"fid", "classifier_score", "n_samples", "label_accuracy"}),
    ("vae", {"fid", "classifier_score", "n_samples", "neg_elbo_nats", "iwae_nats", "iwae_k"}),
])
def test_cli_eval_pretrained_prints_and_writes_nothing(name, keys, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")               # 1,000 test images
    before = sorted(os.listdir(WEIGHTS))
    extra = ["--iwae-k", "2"] if name == "vae" else []
    assert main(["eval", f"pretrained:{name}", "--n", "200", "--json", *extra]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == keys and result["n_samples"] == 200
    if name == "cgan":
        assert result["label_accuracy"] > 0.9
    assert sorted(os.listdir(WEIGHTS)) == before           # no metrics.jsonl in the package
    assert main(["eval", f"pretrained:{name}", "--n", "200", *extra]) == 0
    assert "classifier_score" in capsys.readouterr().out


def test_cli_models_and_help_name_the_shipped_models(capsys):
    assert main(["models"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert [m for m in listed if m.startswith("pretrained:")] == \
        ["pretrained:biggan", "pretrained:cgan", "pretrained:cyclegan", "pretrained:dcgan",
         "pretrained:stylegan", "pretrained:vae"]
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "pretrained:dcgan" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["translate", "--help"])
    assert "pretrained:cyclegan" in " ".join(capsys.readouterr().out.split())


# ----------------------------------------------------------------------------
# refusals
# ----------------------------------------------------------------------------
def test_an_unknown_name_lists_the_available_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown pretrained model 'nope'; available: biggan, cgan, cyclegan, dcgan, stylegan, vae"):
        pretrained("nope")
    with pytest.raises(ValueError, match="available: biggan, cgan, cyclegan, dcgan, stylegan, vae"):
        sample_run("pretrained:nope", n=4)
    assert main(["sample", "pretrained:nope", "--n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "unknown pretrained model 'nope'; available: biggan, cgan, cyclegan, dcgan, stylegan, vae" in err
    assert main(["eval", "pretrained:nope"]) == 2
    assert "available: biggan, cgan, cyclegan, dcgan, stylegan, vae" in one_line(capsys.readouterr().err)
    missing = tmp_path / "missing.npz"
    assert main(["sample", str(missing), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    assert f"{missing}: no such pretrained model file" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "s.npz").exists()


def _corrupt(data: bytes, how: str) -> bytes:
    if how == "truncated":
        return data[: len(data) // 2]
    middle = len(data) // 2                 # inside an array's bytes: the zip's CRC catches it
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:]


@pytest.mark.parametrize("how", ["truncated", "flipped bytes"])
def test_a_corrupt_copy_is_refused_in_one_line_naming_the_file(how, tmp_path, capsys):
    bad = tmp_path / "dcgan_copy.npz"
    bad.write_bytes(_corrupt(shipped_file("dcgan").read_bytes(), how))
    with pytest.raises(CheckpointError) as info:
        load_pretrained(bad)
    assert str(bad) in one_line(str(info.value))
    assert main(["sample", str(bad), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    assert str(bad) in one_line(capsys.readouterr().err)


def _rewrite(tmp_path, name, change):
    """A copy of the shipped ``name`` with ``change(state)`` applied to its contents."""
    state = checkpoint.load(shipped_file(name))
    change(state)
    return checkpoint.save(tmp_path / f"{name}_changed.npz", **state)


@pytest.mark.parametrize("change,why", [
    (lambda s: s["weights"].pop("net.0.bias"), 'Missing key(s) in state_dict: "net.0.bias"'),
    (lambda s: s["weights"].update({"net.0.bias": np.zeros(3, np.float16)}),
     "size mismatch for net.0.bias"),
    (lambda s: s.update(model="dcgan"), "Unexpected key(s)"),         # cgan's G has net. keys
    (lambda s: s.update(model="no_such_family"), "can't build its family 'no_such_family'"),
    (lambda s: s.update(part=""), "its part '' is not what a cgan ships"),
    (lambda s: s.update(version=99), "version 99"),
])
def test_a_file_that_does_not_fit_its_family_is_refused(change, why, tmp_path, capsys):
    bad = _rewrite(tmp_path, "cgan", change)
    with pytest.raises(CheckpointError) as info:
        load_pretrained(bad)
    message = one_line(str(info.value))
    assert message.startswith(f"{bad}: not a usable pretrained model file") and why in message
    assert main(["eval", str(bad), "--n", "128"]) == 2
    assert str(bad) in one_line(capsys.readouterr().err)


# ----------------------------------------------------------------------------
# tinygan export
# ----------------------------------------------------------------------------
@needs_mnist
@pytest.mark.parametrize("model,extra", [("dcgan", ["--ema", "0.9"]), ("cgan", []), ("vae", [])])
def test_export_round_trips_a_tiny_run(model, extra, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / model
    assert main(["train", model, "--out", str(run), "--max-steps", "3", "--batch-size", "16",
                 "--quiet", *extra]) == 0
    f32, f16 = tmp_path / "f32.npz", tmp_path / "f16.npz"
    assert main(["export", str(run), "--out", str(f32)]) == 0
    assert main(["export", str(run), "--out", str(f16), "--float16"]) == 0
    printed = capsys.readouterr().out
    assert ("the whole model" if model == "vae" else "the generator") in printed and "float16" in printed
    assert f16.stat().st_size < 0.6 * f32.stat().st_size

    expected = sample_run(run, n=20, seed=3)             # the run's own (EMA) samples
    exact = sample_run(str(f32), n=20, seed=3)
    rounded = sample_run(str(f16), n=20, seed=3)
    assert exact.keys() == expected.keys() == rounded.keys()
    np.testing.assert_array_equal(exact["images"], expected["images"])
    assert not np.array_equal(rounded["images"], expected["images"])     # really rounded
    np.testing.assert_allclose(rounded["images"], expected["images"], atol=2e-2)
    for key in set(expected) - {"images"}:
        np.testing.assert_array_equal(rounded[key], expected[key])

    # What was exported: G's weights only for a GAN (the EMA's), everything for a VAE.
    family, cfg, state = load_run(str(f32))
    trained, _, _ = load_run(run)
    assert cfg["model"] == model and state["step"] == 3 and state["path"] == str(f32)
    assert state["ema_beta"] == (0.9 if extra else None)
    part = (lambda f: f) if model == "vae" else (lambda f: f.G)
    for (k, a), (_, b) in zip(part(family).state_dict().items(), part(trained).state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


@needs_mnist
def test_export_round_trips_a_tiny_cyclegan_run(tmp_path, monkeypatch, capsys):
    # CycleGAN ships its whole family (its sampler is ""): both generators translate, both
    # PatchGANs come along trained, and translating with the file is translating with the run.
    from tinygan.train.translation import translate_run
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "cyclegan"
    assert main(["train", "cyclegan", "--out", str(run), "--max-steps", "2", "--batch-size", "4",
                 "--quiet"]) == 0
    f32, f16 = tmp_path / "f32.npz", tmp_path / "f16.npz"
    assert main(["export", str(run), "--out", str(f32)]) == 0
    assert main(["export", str(run), "--out", str(f16), "--float16"]) == 0
    assert "the whole model" in capsys.readouterr().out
    a, _ = _test_digits("A", 6)
    b, _ = _test_digits("B", 6)
    for x, direction in ((a, "AB"), (b, "BA")):
        expected = translate_run(run, x, direction)
        np.testing.assert_array_equal(translate_run(str(f32), x, direction), expected)
        rounded = translate_run(str(f16), x, direction)
        assert not np.array_equal(rounded, expected)                  # really rounded
        np.testing.assert_allclose(rounded, expected, atol=2e-2)
    family, cfg, state = load_run(str(f32))
    trained, _, _ = load_run(run)
    assert cfg["model"] == "cyclegan" and state["step"] == 2
    for (k, mine), (_, theirs) in zip(family.state_dict().items(), trained.state_dict().items()):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=k)   # D_A, D_B too


@needs_mnist
def test_export_refuses_a_checkpoint_in_place_of_a_run_and_vice_versa(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "run"
    assert main(["train", "dcgan", "--out", str(run), "--max-steps", "1", "--batch-size", "16",
                 "--quiet"]) == 0
    ckpt = checkpoint.latest_checkpoint(run / "checkpoints")
    assert main(["sample", str(ckpt), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 2
    err = one_line(capsys.readouterr().err)
    assert str(ckpt) in err and "not of format 'tinygan-pretrained'" in err
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "x.npz")]) == 2
    assert "not a run folder" in one_line(capsys.readouterr().err)


def test_a_shipped_file_can_be_copied_and_read_by_path(tmp_path):
    copy = tmp_path / "mine.npz"
    shutil.copyfile(shipped_file("vae"), copy)
    np.testing.assert_array_equal(sample_run(str(copy), n=8)["images"],
                                  sample_run("pretrained:vae", n=8)["images"])
