"""``tinygan train classifier`` on the domain pair's data sets (TINYGAN_FAST=1: a tiny slice)."""
import json

import pytest

from tinygan import checkpoint
from tinygan.cli import main
from tinygan.models import Classifier, DomainClassifier
from tinygan.train.classifier import load_classifier_weights

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)


@needs_mnist
@pytest.mark.parametrize("dataset, arch, chance", [("mnist-thick-b", Classifier, 0.1),
                                                   ("mnist-thick-domains", DomainClassifier, 0.5)])
def test_train_classifier_on_a_domain_data_set(tmp_path, monkeypatch, capsys, dataset, arch, chance):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    out = tmp_path / "run"
    rc = main(["train", "classifier", "--dataset", dataset, "--epochs", "1", "--out", str(out),
               "--quiet"])
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # One epoch on 1024 images: above chance (measured about 0.6 and 1.0), far from the full recipe.
    assert result["test_accuracy"] > chance + 0.2
    meta = checkpoint.load(out / "classifier.npz")["meta"]
    assert meta["dataset"] == dataset and meta["arch"] == arch.__name__
    model = load_classifier_weights(out / "classifier.npz")
    assert type(model) is arch and not model.training
    assert json.loads((out / "config.json").read_text())["dataset"] == dataset


def test_domain_data_sets_are_the_classifiers_only(capsys):
    rc = main(["train", "dcgan", "--dataset", "mnist-thick-b", "--epochs", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--dataset mnist-thick-b is a data set of the classifier only" in err
