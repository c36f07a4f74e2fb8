"""``tinygan sample RUN --truncation PSI [--truncation-cutoff N] [--label Y]`` and the line
``tinygan eval`` prints about the classifier's 28x28 crop of 32x32 samples.

A conditional StyleGAN-lite run of one step on MNIST (TINYGAN_FAST=1) is sampled; a spy on
the mapping network sees the ws and one-hot labels it gives the synthesis network.  The
shipped DCGAN and conditional GAN show what a model without truncation (or labels) does.
"""
import numpy as np
import pytest

from tinygan.cli import _classifier_input_note, main
from tinygan.models import stylegan as stylegan_model
from tinygan.models.cgan import ConditionalGAN
from tinygan.train.loop import sample_run
from tinygan.train.stylegan import train_stylegan


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist):
    """A conditional StyleGAN run trained one step, with a w_avg away from 0."""
    folder = tmp_path_factory.mktemp("sample") / "stylegan"
    with pytest.MonkeyPatch.context() as m:
        m.setenv("TINYGAN_FAST", "1")
        train_stylegan("stylegan", out=folder, max_steps=1, batch_size=4, conditional=True,
                       progress=False)
    return folder


@pytest.fixture
def mapped(monkeypatch):
    """Every call of the mapping network: ``{"ws", "w_avg", "c"}`` as NumPy arrays."""
    calls = []
    forward = stylegan_model.MappingNetwork.forward

    def spy(self, z, c=None, *args, **kwargs):
        ws = forward(self, z, c, *args, **kwargs)
        calls.append({"ws": ws.numpy().copy(), "w_avg": self.w_avg.numpy().copy(),
                      "c": None if c is None else c.numpy().copy()})
        return ws

    monkeypatch.setattr(stylegan_model.MappingNetwork, "forward", spy)
    return calls


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_psi_0_gives_w_avg_for_every_sample_of_the_label(run, tmp_path, mapped, capsys):
    out = tmp_path / "psi0.npz"
    assert main(["sample", str(run), "--n", "12", "--truncation", "0", "--label", "3",
                 "--out", str(out)]) == 0
    assert "wrote 12 samples" in capsys.readouterr().out
    saved = _load(out)
    assert set(saved) == {"images", "labels", "truncation_psi"}
    # exact: the recorded settings and integer labels
    assert saved["truncation_psi"] == 0.0 and saved["truncation_psi"].dtype == np.float64
    np.testing.assert_array_equal(saved["labels"], np.full(12, 3, np.int64))
    assert saved["images"].shape == (12, 1, 32, 32) and saved["images"].dtype == np.float32
    (call,) = mapped
    assert call["ws"].shape[0] == 12
    # exact: at psi 0 every w is w_avg + 0 * (w - w_avg) = w_avg bit for bit
    np.testing.assert_array_equal(call["ws"], np.broadcast_to(call["w_avg"], call["ws"].shape))
    assert np.abs(call["w_avg"]).max() > 0       # a w_avg that training moved: a real check
    # --label: every sample's one-hot label is class 3.
    # exact: one-hot rows of 0s and a 1
    np.testing.assert_array_equal(call["c"].argmax(1), np.full(12, 3))


def test_cutoff_truncates_only_the_first_ws_and_psi_1_changes_nothing(run, mapped):
    plain = sample_run(run, 6, seed=5)
    cut = sample_run(run, 6, seed=5, truncation=0.0, truncation_cutoff=2)
    one = sample_run(run, 6, seed=5, truncation=1.0)
    ws_plain, ws_cut = mapped[0]["ws"], mapped[1]["ws"]
    w_avg = mapped[1]["w_avg"]
    # exact: psi 0 on the first 2 ws gives w_avg; the rest are the untruncated ws of the
    # same noise (the options change what is done with the noise, not the noise)
    np.testing.assert_array_equal(ws_cut[:, :2], np.broadcast_to(w_avg, ws_cut[:, :2].shape))
    np.testing.assert_array_equal(ws_cut[:, 2:], ws_plain[:, 2:])
    assert not np.array_equal(ws_plain[:, :2], ws_cut[:, :2])
    assert int(cut["truncation_cutoff"]) == 2 and cut["truncation_cutoff"].dtype == np.int64
    # exact: psi 1 skips truncation, so the same calls on the same noise
    np.testing.assert_array_equal(one["images"], plain["images"])
    assert float(one["truncation_psi"]) == 1.0 and "truncation_psi" not in plain
    # Without --label a conditional model's samples cycle the classes, as before.
    np.testing.assert_array_equal(plain["labels"], np.arange(6) % 10)


def test_label_on_a_conditional_gan(tmp_path, monkeypatch):
    given = []
    generate = ConditionalGAN.generate

    def spy(self, z, labels=None):
        given.append(labels.numpy().copy())
        return generate(self, z, labels)

    monkeypatch.setattr(ConditionalGAN, "generate", spy)
    out = tmp_path / "seven.npz"
    assert main(["sample", "pretrained:cgan", "--n", "20", "--label", "7", "--out", str(out)]) == 0
    saved = _load(out)
    assert set(saved) == {"images", "labels"}
    # exact: integer labels, given to the generator and recorded
    np.testing.assert_array_equal(saved["labels"], np.full(20, 7, np.int64))
    np.testing.assert_array_equal(np.concatenate(given), np.full(20, 7))


@pytest.mark.parametrize("argv, words", [
    (["pretrained:dcgan", "--truncation", "0.5"],
     "--truncation: dcgan has no truncation (a model that has: stylegan, whose T is psi "
     "towards w_avg, and biggan, whose T is a threshold on |z|)"),
    (["pretrained:cgan", "--truncation-cutoff", "1"], "--truncation-cutoff: cgan has no truncation"),
    (["pretrained:dcgan", "--label", "1"], "--label: dcgan is not conditional"),
    (["RUN", "--label", "10"], "--label: stylegan has classes 0..9, got 10"),
    (["RUN", "--truncation-cutoff", "2"],
     "--truncation-cutoff 2: give --truncation PSI too"),
    (["RUN", "--truncation", "0.5", "--truncation-cutoff", "99"],
     "--truncation-cutoff: must be a whole number in [0, "),
])
def test_options_the_model_has_no_use_for_are_refused(run, tmp_path, capsys, argv, words):
    out = tmp_path / "x.npz"
    argv = [str(run) if a == "RUN" else a for a in argv]
    assert main(["sample", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinygan sample: ") and words in err
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--truncation", "nan"], "--truncation: must be a finite number, got nan"),
    (["--truncation", "inf"], "--truncation: must be a finite number, got inf"),
    (["--truncation", "x"], "--truncation: expected a number, got 'x'"),
    (["--label", "-1"], "--label: must be at least 0, got -1"),
])
def test_bad_values_are_refused_by_the_parser(tmp_path, capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "pretrained:cgan", *argv, "--out", str(tmp_path / "x.npz")])
    assert exc.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_sample_run_refuses_a_psi_that_is_not_finite(run):
    with pytest.raises(ValueError, match="--truncation: psi must be a finite number, got nan"):
        sample_run(run, 4, truncation=float("nan"))


def test_eval_says_that_32x32_samples_are_cropped_for_the_classifier(run, capsys, monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    assert main(["eval", str(run), "--n", "128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "samples 32x32 cropped to the centre 28x28 for the classifier (FID, classifier score)" \
        in lines


def test_the_crop_note_says_only_what_is_done():
    assert _classifier_input_note((1, 28, 28)) == ""
    assert _classifier_input_note((3, 28, 28)) == \
        "samples 3 channels averaged to gray for the classifier (FID, classifier score)"
    assert _classifier_input_note((3, 32, 32)) == ("samples 32x32 cropped to the centre 28x28, "
                                                    "their 3 channels averaged to gray for the "
                                                    "classifier (FID, classifier score)")
