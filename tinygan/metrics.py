"""How good is a generator?  FID, the classifier score, label and code accuracy.

All of them look at samples through the eyes of a frozen classifier trained on the real
data (``tinygan.models.pretrained_classifier``; its 128 ``features`` play the part of
Inception-v3's pool features for 299x299 photos, its softmax the part of Inception's
class probabilities):

* **FID**, the Frechet Inception Distance (Heusel et al., "GANs Trained by a Two Time-Scale
  Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017, eq. 6): fit a Gaussian
  to the features of the samples and one to the features of real images; their Frechet
  (2-Wasserstein) distance is

      d^2 = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

  Lower is better, 0 for identical statistics.  It depends on the number of samples
  (it is biased upwards for small n), so compare FIDs computed with the same n.
* **Classifier score**, the Inception Score of Salimans et al. ("Improved Techniques for
  Training GANs", NeurIPS 2016, sec. 4) with our classifier:
  ``exp(E_x KL(p(y|x) || p(y)))``.  High when each sample is confidently one class (low
  entropy p(y|x)) and the classes are used evenly (high entropy p(y)); between 1 and the
  number of classes (10).
* **Label accuracy** (conditional GANs): how often the classifier recognises the class the
  generator was asked for.
* **Domain FID** (translation between the domains of ``tinygan.data.domains``): FID against
  a domain's test images on that domain's own digit classifier (``domain_fid``).
* **Code accuracy** (InfoGAN): InfoGAN learns its categorical code without labels, so code 3
  need not draw a 3; the score is the accuracy of the code as a digit predictor under the
  best one-to-one mapping code -> digit (Chen et al., "InfoGAN", NeurIPS 2016, sec. 7.1
  report 5% error), found with the Hungarian algorithm (``linear_assignment``).

Images are ``(N, C, H, W)`` float arrays (NumPy, CuPy or Tensors) in [-1, 1].  The frozen
classifier sees (N, 1, 28, 28): images of any other registered shape reach it through
``classifier_input``, the one place that maps them (crop the centre 28x28 -- the trainers pad
28x28 digits to larger entries, so this takes the padding back off -- and average the
channels to gray, the inverse of repeating gray into colour).  The statistics are computed in
float64 with NumPy; no SciPy is needed.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import Tensor, no_grad

FEATURE_DIM = 128        # the classifier's penultimate layer (tinygan.models.Classifier.features)

__all__ = ["FEATURE_DIM", "load_classifier", "classifier_outputs", "feature_statistics",
           "frechet_distance", "fid", "classifier_score", "classifier_score_from_probs",
           "label_accuracy", "linear_assignment", "best_mapping_accuracy", "real_images",
           "classifier_input", "domain_fid", "domain_statistics"]


# ----------------------------------------------------------------------------
# the frozen classifier
# ----------------------------------------------------------------------------
def load_classifier(dataset: str = "mnist", device=None):
    """The frozen classifier of ``dataset`` (tinygan/weights/classifier_<dataset>.npz), in eval mode."""
    from .models.classifier import pretrained_classifier
    model = pretrained_classifier(dataset)
    return model.to(device) if device is not None else model


def real_images(dataset: str = "mnist", train: bool = False, n: int | None = None) -> np.ndarray:
    """The first ``n`` real images of a split as float32 (n, 1, 28, 28) in [-1, 1]."""
    from .data import get_dataset, normalize, to_float
    data = get_dataset(dataset, train=train).data
    return normalize(to_float(data[:n] if n is not None else data))


def _as_array(images):
    if isinstance(images, Tensor):
        images = images.data
    return images if backend.is_cupy_array(images) else np.asarray(images)


def classifier_input(images):
    """Images (N, C, H, W) with H, W >= 28 as the classifier's input (N, 1, 28, 28).

    The centre 28x28 (the trainers centre the digits when they pad them, see
    ``tinygan.data.to_shape``), channels averaged to gray.  Data movement and a mean only:
    (N, 1, 28, 28) comes back unchanged, and a gray image repeated into C channels comes back
    exactly (up to float rounding of the mean).
    """
    images = _as_array(images)
    if images.ndim != 4 or images.shape[2] < 28 or images.shape[3] < 28:
        raise ValueError(f"metrics: expected images of shape (N, C, H, W) with H, W >= 28 (the "
                         f"classifier takes (N, 1, 28, 28)), got {tuple(images.shape)}")
    h, w = images.shape[2:]
    top, left = (h - 28) // 2, (w - 28) // 2
    images = images[:, :, top:top + 28, left:left + 28]
    return images if images.shape[1] == 1 else images.mean(axis=1, keepdims=True, dtype=images.dtype)


def classifier_outputs(images, classifier, batch_size: int = 500, device=None) -> tuple:
    """``(features, probs)`` of ``images`` (N, C, H, W): float64 arrays (N, 128) and (N, 10)
    on the CPU.  Images of another shape than (1, 28, 28) go through ``classifier_input``.

    One pass in eval mode under ``no_grad`` (the classifier's mode is restored after).
    ``device`` is where the classifier runs (default: where its weights are).
    """
    images = classifier_input(images)       # any registered shape -> (N, 1, 28, 28)
    if device is None:
        device = next((p.device for p in classifier.parameters()), "cpu")
    was_training = classifier.training
    classifier.eval()
    feats, probs = [], []
    try:
        with no_grad():
            for a in range(0, len(images), batch_size):
                x = Tensor(backend.to_device(np.asarray(images[a:a + batch_size], np.float32)
                                             if not backend.is_cupy_array(images)
                                             else images[a:a + batch_size].astype("float32"), device))
                f = classifier.features(x)
                logits = classifier.head(f) if hasattr(classifier, "head") else classifier(x)
                feats.append(backend.to_device(f.data, "cpu").astype(np.float64))
                probs.append(backend.to_device(logits.softmax(1).data, "cpu").astype(np.float64))
    finally:
        classifier.train(was_training)
    return np.concatenate(feats), np.concatenate(probs)


# ----------------------------------------------------------------------------
# FID
# ----------------------------------------------------------------------------
def _check_enough(n: int, dim: int, what: str = "samples") -> None:
    if n < dim:
        raise ValueError(f"FID: {n} {what} are fewer than the {dim} feature dimensions, so their "
                         f"covariance matrix would be singular and the distance meaningless; use at "
                         f"least {dim} (10,000 is the usual number)")


def feature_statistics(features: np.ndarray) -> tuple:
    """``(mu, sigma)``: mean (D,) and covariance (D, D) of features (N, D), float64.

    Refuses N < D: fewer samples than dimensions give a singular covariance.
    """
    f = np.asarray(features, dtype=np.float64)
    _check_enough(f.shape[0], f.shape[1])
    mu = f.mean(0)
    d = f - mu
    sigma = d.T @ d / (f.shape[0] - 1)        # unbiased, as numpy.cov and the FID reference code
    return mu, sigma


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (eigh; tiny
    negative eigenvalues from rounding are set to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    r"""``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr (S1 S2)^(1/2)`` (Heusel et al. 2017, eq. 6).

    The trace of the square root without a general (non-symmetric) matrix square root:
    with R = S1^(1/2) (symmetric), S1 S2 = R (R S2 R) R^(-1) is similar to R S2 R, which is
    symmetric positive semi-definite, so the eigenvalues of (S1 S2)^(1/2) are the square roots
    of those of R S2 R:  tr (S1 S2)^(1/2) = sum_i sqrt(eig_i(R S2 R)).  Two ``eigh`` calls on
    symmetric matrices -- stable, and no SciPy ``sqrtm`` with its complex round-off.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: shapes don't match: mu {mu1.shape} {mu2.shape}, "
                         f"sigma {s1.shape} {s2.shape}")
    r = _sqrt_psd(s1)
    m = r @ s2 @ r
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    diff = mu1 - mu2
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    return float(max(d2, 0.0))            # rounding can give -1e-12 for identical statistics


def _stats_of(x, classifier, batch_size) -> tuple:
    if isinstance(x, tuple) and len(x) == 2:
        return x                           # precomputed (mu, sigma)
    images = _as_array(x)
    _check_enough(len(images), FEATURE_DIM, "images")
    return feature_statistics(classifier_outputs(images, classifier, batch_size)[0])


def fid(images, reference, classifier=None, dataset: str = "mnist", batch_size: int = 500) -> float:
    """FID between ``images`` (N, C, H, W) in [-1, 1] and ``reference``: other images, or
    their ``(mu, sigma)`` from ``feature_statistics``.  N must be at least 128."""
    classifier = classifier if classifier is not None else load_classifier(dataset)
    return frechet_distance(*_stats_of(images, classifier, batch_size),
                            *_stats_of(reference, classifier, batch_size))


# ----------------------------------------------------------------------------
# FID against an image domain (translation: CycleGAN)
# ----------------------------------------------------------------------------
_DOMAIN_STATS: dict = {}


def domain_statistics(domain: str, split: str = "test") -> tuple:
    """``(mu, sigma)`` of the real images of ``domain`` ("A" or "B" of the pair "mnist-thick",
    ``tinygan.data.domains``) on that domain's digit classifier; computed once per process."""
    from .data import domains
    from .models.classifier import pretrained_classifier
    domains.check_domain(domain, split, "domain_statistics")
    key = (domain, split)
    if key not in _DOMAIN_STATS:
        images = domains.load_domain(domain, split)[0]
        classifier = pretrained_classifier(domains.DIGIT_CLASSIFIERS[domain])
        _DOMAIN_STATS[key] = feature_statistics(classifier_outputs(images, classifier)[0])
    return _DOMAIN_STATS[key]


def domain_fid(images, domain: str, split: str = "test", batch_size: int = 500) -> float:
    """FID of ``images`` (N, 1, 28, 28) in [-1, 1] (N >= 128) against the real images of
    ``domain`` (its ``split``: 5,000 test images), both seen through the digit classifier of
    that domain (A: the MNIST classifier; B: ``pretrained_classifier("mnist-thick-b")``).

    For a translation into ``domain`` (G_AB(a) against "B"): low when the translations have
    the target domain's look *and* its variety of digits, where the domain classifier
    (``tinygan.models.DomainClassifier``) may be satisfied by the background alone.
    """
    from .data import domains
    from .models.classifier import pretrained_classifier
    domains.check_domain(domain, split, "domain_fid")
    reference = domain_statistics(domain, split)
    classifier = pretrained_classifier(domains.DIGIT_CLASSIFIERS[domain])
    return fid(images, reference, classifier=classifier, batch_size=batch_size)


# ----------------------------------------------------------------------------
# classifier score, label accuracy
# ----------------------------------------------------------------------------
def classifier_score_from_probs(probs) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` for class probabilities (N, K); in [1, K].

    p(y) is the marginal over the samples, ``mean_x p(y|x)``.  Terms with p(y|x) = 0
    contribute 0 (the limit of p log p).
    """
    p = np.asarray(probs, dtype=np.float64)
    py = p.mean(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(py)), 0.0)
    return float(np.exp(terms.sum(1).mean()))


def classifier_score(images, classifier=None, dataset: str = "mnist", batch_size: int = 500) -> float:
    """The classifier score of images (N, C, H, W) in [-1, 1] (see the module docstring)."""
    classifier = classifier if classifier is not None else load_classifier(dataset)
    return classifier_score_from_probs(classifier_outputs(images, classifier, batch_size)[1])


def label_accuracy(images, labels, classifier=None, dataset: str = "mnist",
                   batch_size: int = 500) -> float:
    """Fraction of images (N, C, H, W) the classifier assigns to the class ``labels`` (N,)
    they were generated for (conditional GANs)."""
    classifier = classifier if classifier is not None else load_classifier(dataset)
    pred = classifier_outputs(images, classifier, batch_size)[1].argmax(1)
    labels = np.asarray(backend.to_device(_as_array(labels), "cpu")).reshape(-1)
    return float((pred == labels).mean())


# ----------------------------------------------------------------------------
# InfoGAN: the best one-to-one mapping code -> digit
# ----------------------------------------------------------------------------
def linear_assignment(cost, maximize: bool = False) -> np.ndarray:
    """The Hungarian algorithm: ``cols`` such that row i is assigned column cols[i], with the
    smallest (``maximize``: largest) total ``sum_i cost[i, cols[i]]``.  cost: (n, m), n <= m.

    Kuhn (1955) and Munkres (1957), in the O(n^2 m) form with row and column potentials
    u, v (dual variables: u_i + v_j <= cost_ij, tight on the assigned pairs).  Rows are
    added one at a time; for each, Dijkstra-like steps over "reduced costs"
    cost_ij - u_i - v_j grow a tree of alternating paths until a free column is reached,
    then the assignment is flipped along that augmenting path.
    """
    c = np.asarray(cost, dtype=np.float64)
    if maximize:
        c = -c
    n, m = c.shape
    if n > m:
        raise ValueError(f"linear_assignment: needs rows <= columns, got {c.shape}")
    inf = np.inf
    u, v = np.zeros(n + 1), np.zeros(m + 1)      # potentials; index 0 is a sentinel
    p = np.zeros(m + 1, dtype=np.int64)          # p[j]: the row (1-based) assigned to column j
    way = np.zeros(m + 1, dtype=np.int64)        # way[j]: previous column on the path to j
    for i in range(1, n + 1):
        p[0] = i                                 # start an augmenting path at the new row i
        j0 = 0
        minv = np.full(m + 1, inf)               # smallest reduced cost seen for each column
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = c[i0 - 1] - u[i0] - v[1:]      # reduced costs from row i0 to every column
            better = ~used[1:] & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            free = np.flatnonzero(~used[1:]) + 1
            j1 = free[np.argmin(minv[free])]
            delta = minv[j1]
            u[p[used]] += delta                  # move the potentials so that the tree's edges
            v[used] -= delta                     # stay tight and column j1's edge becomes tight
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:                       # a free column: augment
                break
        while j0:                                # flip the assignment along the path
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.empty(n, dtype=np.int64)
    for j in range(1, m + 1):
        if p[j]:
            cols[p[j] - 1] = j - 1
    return cols


def best_mapping_accuracy(codes, digits, num_classes: int = 10) -> tuple:
    """``(accuracy, mapping)``: the accuracy of ``codes`` (N,) as predictions of ``digits`` (N,)
    under the one-to-one ``mapping[code] = digit`` that makes it largest."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    digits = np.asarray(digits, dtype=np.int64).reshape(-1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (codes, digits), 1)
    mapping = linear_assignment(confusion, maximize=True)
    hits = confusion[np.arange(num_classes), mapping].sum()
    return float(hits / max(len(codes), 1)), mapping
