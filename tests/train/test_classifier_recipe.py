"""The classifier recipe and the CLI, on a tiny slice of real MNIST (TINYGAN_FAST=1)."""
import json

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint
from tinygan.cli import main
from tinygan.models import Classifier
from tinygan.train.classifier import accuracy, load_classifier_weights

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)


def test_classifier_shapes_and_bad_input():
    m = Classifier()
    x = tinygan.randn(3, 1, 28, 28)
    assert m(x).shape == (3, 10)
    assert m.features(x).shape == (3, 128)
    with pytest.raises(ValueError, match=r"Classifier: expected images of shape \(N, 1, 28, 28\)"):
        m(tinygan.randn(3, 1, 32, 32))


def test_accuracy_counts_correct_predictions():
    class Fixed(tinygan.nn.Module):          # predicts class = first pixel's value
        def forward(self, x):
            idx = x.data[:, 0, 0, 0].astype(np.int64)
            return tinygan.Tensor(np.eye(10, dtype=np.float32)[idx])
    x = np.zeros((5, 1, 28, 28), np.float32)
    x[:, 0, 0, 0] = [1, 2, 3, 4, 5]
    labels = np.array([1, 2, 0, 4, 0])
    assert accuracy(Fixed(), x, labels, batch_size=2) == pytest.approx(3 / 5)


@needs_mnist
def test_train_classifier_cli_writes_run_and_learns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    out = tmp_path / "run"
    rc = main(["train", "classifier", "--dataset", "mnist", "--epochs", "2", "--out", str(out),
               "--quiet", "--seed", "1"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 2 epochs on 1024 images: far above chance (0.1), though far from the full recipe's 99%.
    assert result["test_accuracy"] > 0.5
    for name in ("config.json", "metrics.jsonl", "losses.png", "classifier.npz"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001.npz", "epoch_002.npz"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["test_accuracy"] for r in records if "test_accuracy" in r][-1] == result["test_accuracy"]
    # The weights file reloads into an eval-mode model that reproduces the reported accuracy.
    model = load_classifier_weights(out / "classifier.npz")
    assert not model.training
    meta = checkpoint.load(out / "classifier.npz")["meta"]
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] == result["test_accuracy"]


@needs_mnist
def test_resume_continues_from_last_checkpoint(tmp_path, monkeypatch, capsys):
    """Epoch 2 redone from the epoch-1 checkpoint equals epoch 2 of the unbroken run, bit for bit."""
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "run"
    main(["train", "classifier", "--epochs", "2", "--out", str(run), "--quiet"])
    straight = checkpoint.load(run / "classifier.npz")["model"]
    # Lose everything after epoch 1, as if the run had been killed there.
    (run / "checkpoints" / "epoch_002.npz").unlink()
    (run / "classifier.npz").unlink()
    main(["train", "classifier", "--epochs", "2", "--out", str(run), "--quiet", "--resume"])
    resumed = checkpoint.load(run / "classifier.npz")["model"]
    epochs = [r["epoch"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
              if "test_accuracy" in r]
    assert epochs == [1, 2]          # epoch 2's records were redone, not duplicated
    assert straight.keys() == resumed.keys()
    for k in straight:   # same data order, same dropout masks, same optimizer and schedule state
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(np.asarray(straight[k].data), np.asarray(resumed[k].data), k)


def test_resume_refuses_a_run_with_other_settings(tmp_path):
    from tinygan.train.run import Run
    Run(tmp_path / "r", {"model": "classifier", "seed": 0})
    with pytest.raises(ValueError, match="different settings"):
        Run(tmp_path / "r", {"model": "classifier", "seed": 1}, resume=True)
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        Run(tmp_path / "nothing", {"model": "classifier"}, resume=True)


def test_models_lists_classifier(capsys):
    assert main(["models"]) == 0
    assert "classifier" in capsys.readouterr().out


@needs_mnist
def test_shipped_mnist_weights_classify_real_test_digits():
    """The committed frozen classifier (the FID feature network) really is a 99% classifier."""
    from tinygan.data import MNIST
    from tinygan.data.transforms import normalize, to_float
    from tinygan.models import pretrained_classifier
    model = pretrained_classifier("mnist")
    assert not model.training
    test = MNIST(train=False)
    x, y = normalize(to_float(test.data[:2000])), test.targets[:2000]
    # 99.19% on all 10k; the first 2000 test digits are not easier than the rest by much.
    assert accuracy(model, x, y) >= 0.985
    meta = checkpoint.load(pretrained_classifier.__globals__["WEIGHTS"] / "classifier_mnist.npz")["meta"]
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] >= 0.99


def test_pretrained_classifier_unknown_dataset():
    from tinygan.models import pretrained_classifier
    with pytest.raises(FileNotFoundError, match="no weights for 'svhn'"):
        pretrained_classifier("svhn")


@pytest.mark.usefixtures("fashion_mnist")
def test_shipped_fashion_weights_classify_real_test_images():
    from tinygan.data import FashionMNIST
    from tinygan.data.transforms import normalize, to_float
    from tinygan.models import pretrained_classifier
    model = pretrained_classifier("fashion-mnist")
    test = FashionMNIST(train=False)
    x, y = normalize(to_float(test.data[:2000])), test.targets[:2000]
    assert accuracy(model, x, y) >= 0.88          # 90.95% on all 10k test images
