"""tinygan/metrics.py against closed forms and independent computations.

The feature network is a randomly initialized Classifier (any fixed network gives a valid
FID; the shipped pretrained weights are not needed to test the arithmetic).
"""
import itertools

import numpy as np
import pytest

import tinygan
from tinygan import metrics

import gan_helpers
from tolerances import assert_within, eps, network_tolerance


@pytest.fixture(scope="module")
def clf():
    return gan_helpers.small_classifier(seed=3)


def blobs(n, rng, shift=0.0):
    """Images in [-1, 1] with structure (a blurred random blob per image), shifted by ``shift``."""
    yy, xx = np.mgrid[:28, :28]
    cy, cx = rng.uniform(8, 20, (2, n, 1, 1))
    r = rng.uniform(3, 7, (n, 1, 1))
    img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2)) * 2 - 1
    return np.clip(img + shift, -1, 1)[:, None].astype(np.float32)


# ----------------------------------------------------------------------------
# the Frechet distance
# ----------------------------------------------------------------------------
def test_frechet_distance_diagonal_closed_form(rng):
    """Diagonal covariances commute: d^2 = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2."""
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    a, b = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # 1-d Gaussians: the 2-Wasserstein distance (mu1 - mu2)^2 + (s1 - s2)^2.
    assert metrics.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)


def test_frechet_distance_general_against_eigvals_of_the_product(rng):
    """tr sqrt(S1 S2) = sum sqrt(eig(S1 S2)): S1 S2 is not symmetric, but similar to a PSD matrix."""
    d = 12
    x, y = rng.standard_normal((d, 3 * d)), rng.standard_normal((d, 3 * d)) * 0.5
    s1, s2 = x @ x.T / d, y @ y.T / d + 0.1 * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    tr_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-9)
    # Singular (rank-deficient) covariances are fine: the square roots are of PSD matrices.
    z = rng.standard_normal((d, 3))
    assert np.isfinite(metrics.frechet_distance(mu1, z @ z.T, mu2, s2))
    with pytest.raises(ValueError, match="shapes"):
        metrics.frechet_distance(mu1, s1, mu2[:3], s2)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift(clf):
    rng = np.random.default_rng(0)
    x = blobs(300, rng)
    assert metrics.fid(x, x, clf) == pytest.approx(0, abs=1e-6)
    stats = metrics.feature_statistics(metrics.classifier_outputs(x, clf)[0])
    assert metrics.fid(x, stats, clf) == pytest.approx(0, abs=1e-6)     # reference as (mu, sigma)
    same = metrics.fid(blobs(300, np.random.default_rng(1)), x, clf)     # another draw: small
    shifted = [metrics.fid(x + 0.0, x - s, clf) for s in (0.25, 0.5, 1.0)]
    assert same < shifted[0] < shifted[1] < shifted[2]


def test_fid_refuses_fewer_samples_than_feature_dimensions(clf):
    x = blobs(300, np.random.default_rng(0))
    with pytest.raises(ValueError, match="100 images are fewer than the 128 feature dimensions"):
        metrics.fid(x[:100], x, clf)
    with pytest.raises(ValueError, match="fewer than the 128"):
        metrics.feature_statistics(np.zeros((50, 128)))


def test_classifier_outputs_shapes_and_mode(clf):
    x = blobs(7, np.random.default_rng(0))
    clf.train()
    f, p = metrics.classifier_outputs(tinygan.tensor(x), clf, batch_size=3)
    assert f.shape == (7, 128) and p.shape == (7, 10) and f.dtype == np.float64
    # float32 softmax: ten positive terms, each within a few ulps: relative to 1
    np.testing.assert_allclose(p.sum(1), 1, rtol=20 * eps(np.float32))
    assert clf.training                  # the mode it was in is restored
    clf.eval()
    # Batched in eval mode: the same as one pass, up to rounding -- GEMMs of other shapes may
    # be rounded differently.  (A sample out of place, or batch statistics instead of the
    # running ones, moves features by far more than the bound.)
    f1, _ = metrics.classifier_outputs(x, clf, batch_size=100)
    assert_within(f, f1, network_tolerance(clf.body, x), "features, batched vs one pass")
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.classifier_outputs(np.zeros((2, 28, 28), np.float32), clf)


# ----------------------------------------------------------------------------
# classifier score and label accuracy
# ----------------------------------------------------------------------------
def test_classifier_score_bounds():
    one = np.tile(np.eye(10)[3], (50, 1))                  # every sample confidently a 3
    assert metrics.classifier_score_from_probs(one) == pytest.approx(1.0)
    same = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (50, 1))   # identical p(y|x)
    assert metrics.classifier_score_from_probs(same) == pytest.approx(1.0)
    uniform_onehot = np.eye(10)[np.arange(100) % 10]       # confident and evenly spread: the max
    assert metrics.classifier_score_from_probs(uniform_onehot) == pytest.approx(10.0)
    p = np.random.default_rng(1).dirichlet(np.ones(10) * 0.3, size=200)
    assert 1.0 < metrics.classifier_score_from_probs(p) < 10.0


class Fixed(tinygan.nn.Module):
    """A 'classifier' that predicts the class written in pixel (0, 0) (as a value 0..9)."""

    def features(self, x):
        return x.reshape(x.shape[0], -1)[:, :128]

    def forward(self, x):
        idx = np.asarray(x.data[:, 0, 0, 0]).astype(np.int64)
        return tinygan.Tensor(np.eye(10, dtype=np.float32)[idx] * 20)


def test_label_accuracy_and_classifier_score_of_images():
    x = np.zeros((20, 1, 28, 28), np.float32)
    x[:, 0, 0, 0] = np.arange(20) % 10
    labels = np.arange(20) % 10
    labels[:5] = (labels[:5] + 1) % 10
    assert metrics.label_accuracy(x, labels, Fixed()) == pytest.approx(15 / 20)
    assert metrics.classifier_score(x, Fixed()) == pytest.approx(10.0, rel=1e-4)


# ----------------------------------------------------------------------------
# the Hungarian algorithm and InfoGAN's code accuracy
# ----------------------------------------------------------------------------
def _brute_force(cost, maximize):
    n, m = cost.shape
    best = max if maximize else min
    return best(sum(cost[i, p[i]] for i in range(n)) for p in itertools.permutations(range(m), n))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 5), (6, 6), (3, 5), (4, 6)])
@pytest.mark.parametrize("maximize", [False, True])
def test_linear_assignment_against_brute_force(shape, maximize, rng):
    for trial in range(5):
        cost = rng.integers(0, 20, shape).astype(float) if trial % 2 else rng.standard_normal(shape)
        cols = metrics.linear_assignment(cost, maximize=maximize)
        assert len(set(cols.tolist())) == shape[0] and cols.min() >= 0 and cols.max() < shape[1]
        total = cost[np.arange(shape[0]), cols].sum()
        assert total == pytest.approx(_brute_force(cost, maximize))


def test_hungarian_recovers_a_permuted_confusion_matrix():
    rng = np.random.default_rng(5)
    perm = rng.permutation(10)
    confusion = rng.integers(0, 8, (10, 10))
    confusion[np.arange(10), perm] += 100                  # code i mostly draws digit perm[i]
    np.testing.assert_array_equal(metrics.linear_assignment(confusion, maximize=True), perm)
    # Codes that are a relabelling of the digits are a perfect predictor.
    digits = rng.integers(0, 10, 500)
    codes = np.argsort(perm)[digits]                        # code c draws digit perm[c]
    acc, mapping = metrics.best_mapping_accuracy(codes, digits)
    assert acc == 1.0 and np.array_equal(mapping, perm)
    # One code drawing two digits: the best one-to-one mapping can't get both.
    acc, _ = metrics.best_mapping_accuracy([0, 0, 0, 0, 1, 1], [5, 5, 7, 7, 5, 5])
    assert acc == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="rows <= columns"):
        metrics.linear_assignment(np.zeros((3, 2)))


def test_hungarian_is_fast_for_10x10():
    import time
    cost = np.random.default_rng(0).random((10, 10))
    t = time.perf_counter()
    for _ in range(20):
        metrics.linear_assignment(cost)
    assert time.perf_counter() - t < 1.0
