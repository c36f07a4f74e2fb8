"""The frozen classifiers of the domain pair "mnist-thick" and ``tinygan.metrics.domain_fid``.

- the shipped digit classifier of domain B reads B's test digits, where a fresh one and the
  MNIST classifier (trained on domain A's style) do not;
- the shipped domain classifier tells A from B, where fresh ones do not -- and is fooled, as its
  docstring says, by a page that has only B's background;
- ``domain_fid`` ranks real images of the target domain far below the other domain's.
Bounds are set from the figures measured on the shipped files (comments), far from both sides.
"""
import numpy as np
import pytest

import tinygan
from tinygan import metrics
from tinygan.data.domains import PAIR, domain_classification_data, load_domain, restyle
from tinygan.models import (Classifier, DomainClassifier, pretrained_classifier,
                            pretrained_domain_classifier)
from tinygan.models.classifier import WEIGHTS
from tinygan.train.classifier import accuracy

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)
N = 1000        # test images per check: a binomial standard error of about 0.5% at 97%


def _fresh(cls, seed):
    tinygan.manual_seed(seed)
    return cls().eval()


@needs_mnist
def test_digit_classifier_of_domain_b_reads_b():
    b, labels = load_domain("B", "test")
    shipped = pretrained_classifier("mnist-thick-b")
    assert isinstance(shipped, Classifier) and not shipped.training
    # Measured on these 1000 images: the shipped file 0.982 (all 5000: 0.9888); fresh networks
    # 0.09-0.13; the MNIST classifier 0.40, as B's white page and dark strokes are the
    # negative of what it learnt.
    assert accuracy(shipped, b[:N], labels[:N]) > 0.95
    for seed in range(3):
        assert accuracy(_fresh(Classifier, seed), b[:N], labels[:N]) < 0.3
    assert accuracy(pretrained_classifier("mnist"), b[:N], labels[:N]) < 0.6


@needs_mnist
def test_domain_classifier_tells_a_from_b():
    x, domains = domain_classification_data("test")
    shipped = pretrained_domain_classifier(PAIR)
    assert isinstance(shipped, DomainClassifier) and not shipped.training
    with tinygan.no_grad():
        logits = shipped(tinygan.tensor(x[:4]))
    assert logits.shape == (4, 2)
    # Measured: the shipped file 1.000 (all 10,000 test images too); fresh networks 0.50-0.82
    # (a random network may already split by brightness, never cleanly).
    assert accuracy(shipped, x[:N], domains[:N]) > 0.98
    for seed in range(3):
        assert accuracy(_fresh(DomainClassifier, seed), x[:N], domains[:N]) < 0.9


def test_domain_classifier_judges_by_the_background():
    """What its docstring warns of: a blank white page is 'B', a blank black page 'A'."""
    shipped = pretrained_domain_classifier(PAIR)
    pages = np.concatenate([np.ones((4, 1, 28, 28), np.float32), -np.ones((4, 1, 28, 28), np.float32)])
    with tinygan.no_grad():
        verdict = shipped(tinygan.tensor(pages)).numpy().argmax(1)
    np.testing.assert_array_equal(verdict, [1, 1, 1, 1, 0, 0, 0, 0])   # exact: class indices


def test_unknown_weights_are_refused():
    with pytest.raises(FileNotFoundError, match=r"pretrained_domain_classifier: no weights for the "
                       r"pair 'mnist-thin'.*available: mnist-thick"):
        pretrained_domain_classifier("mnist-thin")
    with pytest.raises(FileNotFoundError, match=r"pretrained_classifier: no weights for 'mnist-thick-a'"):
        pretrained_classifier("mnist-thick-a")


def test_shipped_files_are_small():
    assert (WEIGHTS / "domains_mnist_thick.npz").stat().st_size < 200_000
    assert (WEIGHTS / "classifier_mnist_thick_b.npz").stat().st_size < 2_000_000


@needs_mnist
def test_domain_fid_ranks_the_target_domain_first():
    a, _ = load_domain("A", "test")
    b, _ = load_domain("B", "test")
    # Images the B classifier never saw, in B's style: restyled test digits of domain A.
    # Measured (1000 images against the 5000 of the reference): restyle(A) against B 14.5, A
    # against B 425.7; A's training digits against A 13.0, B against A 626.5.  (In between:
    # thin inverted digits against B 124.7, thick uninverted ones against A 70.9.)
    same_b, other_b = metrics.domain_fid(restyle(a[:N]), "B"), metrics.domain_fid(a[:N], "B")
    same_a, other_a = metrics.domain_fid(a[:N], "A", split="train"), metrics.domain_fid(b[:N], "A")
    assert same_b < 60 < 250 < other_b, (same_b, other_b)
    assert same_a < 60 < 250 < other_a, (same_a, other_a)
    # The reference statistics are computed once per (domain, split).
    assert metrics.domain_statistics("B") is metrics.domain_statistics("B")


def test_domain_fid_refuses_unknown_domain():
    with pytest.raises(ValueError, match=r"domain_fid: unknown domain 'AB'"):
        metrics.domain_fid(np.zeros((200, 1, 28, 28), np.float32), "AB")
    with pytest.raises(ValueError, match=r"domain_fid: unknown split 'dev'"):
        metrics.domain_fid(np.zeros((200, 1, 28, 28), np.float32), "B", split="dev")
