"""Two unpaired image domains made from MNIST, for image-to-image translation (CycleGAN).

The pair is called ``PAIR = "mnist-thick"``:

* domain **A**: plain MNIST digits, white strokes on black -- the images of a split whose
  index i has ``i % 4`` in {0, 1} (0, 1, 4, 5, 8, 9, ...);
* domain **B**: the others, ``i % 4`` in {2, 3} (2, 3, 6, 7, ...), restyled by ``restyle``:
  strokes thickened by a 3x3 grey dilation and the contrast inverted, so dark, bold digits
  on a white page.

Why this pair.  CycleGAN (Zhu et al. 2017) learns a mapping between two domains from
*unpaired* examples: nothing says which image of B belongs to which image of A.  Taking A
and B from the two disjoint halves of MNIST makes the pairing truly absent -- no digit is
in both domains, so a translator can't memorize a partner -- while a known style function
lets us check what a translation should look like: ``restyle(a)`` is the "right answer" for
``G_AB(a)``, which a real unpaired data set never gives.  Dilation changes the shape of the
strokes (a generator must learn a spatial operation, not a per-pixel one), and inversion
changes every pixel of the background (the easy part, which the domain classifier can
judge by alone; see ``tinygan.models.DomainClassifier``).  The digit's class is kept by
both, so the frozen digit classifiers can check that a translation keeps the digit.

Halves by index, not a random split: deterministic (no RNG, nothing to seed), covering the
split exactly (every image is in exactly one domain), and balanced in classes, since
MNIST's files are not sorted by digit (each digit has 47-53% of its images in A, in both
splits).  Why pairs of indices and not simply even and odd: MNIST's training file
alternates between two populations of writers (it was built from NIST's SD-3 and SD-1,
30,000 digits each).  Its even and odd images differ measurably -- mean ink 0.123 against
0.139, FID 72 between 4,000 of each on the MNIST classifier's features, where two sets of
even images are 6.8 apart -- so even/odd domains would differ in handwriting as well as in
style, and a translator would be asked to change the writer too.  ``i % 4`` puts both
populations in both domains, half and half: 4,000 training images of A and 4,000 of B
before restyling are FID 5.4 apart, two sets of A's 5.0.  (The test file is not interleaved, its first
5,000 and last 5,000 digits come from the two populations; ``i % 4`` halves both.)  The test
split is halved the same way: 5,000 test images per domain, 30,000 training images.

The grey dilation (a "max filter", the morphological dilation of a grey image by a flat
3x3 structuring element; Soille, "Morphological Image Analysis", 2003, sec. 3.1):

    dilate(x)[i, j] = max { x[i + di, j + dj] : di, dj in {-1, 0, 1}, inside the image }

and the inversion in [-1, 1] is ``-x`` (the image of 255 - p in pixels).  Outside the image
counts as background (-1, black): the lowest value, so it never wins the max.

    from tinygan.data.domains import load_domain, restyle
    a, a_labels = load_domain("A")             # (30000, 1, 28, 28) float32 in [-1, 1], (30000,) int64
    b, b_labels = load_domain("B", "test")     # (5000, 1, 28, 28): dark thick digits on white

The arrays are computed once per (domain, split) and kept in memory (nothing is written
to disk); they are returned read-only, so that one caller can't change another's data
(``.copy()`` to modify them).
"""
from __future__ import annotations

import functools

import numpy as np

from .datasets import get_dataset
from .transforms import normalize, to_float

PAIR = "mnist-thick"
DOMAINS = ("A", "B")
SPLITS = ("train", "test")

# The frozen digit classifier that judges images of each domain
# (``tinygan.models.pretrained_classifier(name)``): A is plain MNIST; B's was trained on B.
DIGIT_CLASSIFIERS = {"A": "mnist", "B": "mnist-thick-b"}

# The data set names ``tinygan train classifier --dataset`` takes for this pair: the digits in
# domain B's style (10 classes; trained on ``restyled_mnist``, tested on B's test split), and
# the two domains themselves (2 classes: 0 = A, 1 = B).
DIGITS_B = "mnist-thick-b"
DOMAIN_LABELS = "mnist-thick-domains"

__all__ = ["PAIR", "DOMAINS", "SPLITS", "DIGIT_CLASSIFIERS", "DIGITS_B", "DOMAIN_LABELS",
           "restyle", "dilate", "load_domain", "domain_of_index", "domain_classification_data", "restyled_mnist",
           "check_domain"]


def _check_images(images, op: str) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{op}: expected a NumPy array (N, 1, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 1 or 0 in images.shape[2:]:
        raise ValueError(f"{op}: expected images of shape (N, 1, H, W), got {images.shape}")
    if images.dtype.kind != "f":
        raise TypeError(f"{op}: expected float images in [-1, 1], got dtype {images.dtype}")
    if images.size:
        lo, hi = float(images.min()), float(images.max())
        if not (-1.0 <= lo and hi <= 1.0):      # also catches NaN (every comparison is False)
            raise ValueError(f"{op}: expected values in [-1, 1], got values in [{lo}, {hi}]")
    return images


def dilate(images) -> np.ndarray:
    """The 3x3 grey dilation (max filter) of images (N, 1, H, W) in [-1, 1]; same shape, dtype.

    Pad with -1 (the background, the lowest value, so it never wins), then take the maximum
    of the 9 shifted copies: 9 whole-array operations, no loop over pixels.
    """
    images = _check_images(images, "dilate")
    h, w = images.shape[2:]
    padded = np.pad(images, [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=-1)
    out = padded[:, :, 1:1 + h, 1:1 + w].copy()
    for di in range(3):
        for dj in range(3):
            np.maximum(out, padded[:, :, di:di + h, dj:dj + w], out=out)
    return out


def restyle(images) -> np.ndarray:
    """The A -> B style: ``-dilate(images)``, thick dark strokes on white.

    Args:
        images: NumPy float array (N, 1, H, W) in [-1, 1] (domain A: (N, 1, 28, 28)).
    Returns:
        an array of the same shape and dtype, in [-1, 1].

    Not invertible: dilation forgets the strokes' exact width (a B -> A translator must guess
    it), which is part of what makes the pair a translation problem and not a lookup.
    """
    images = _check_images(images, "restyle")
    return np.negative(dilate(images))


def check_domain(domain, split, op: str) -> None:
    """Raise ValueError naming ``op`` unless ``domain`` is "A" or "B" and ``split`` "train" or "test"."""
    if domain not in DOMAINS:
        raise ValueError(f"{op}: unknown domain {domain!r} of the pair {PAIR!r}; "
                         f"expected one of {', '.join(DOMAINS)}")
    if split not in SPLITS:
        raise ValueError(f"{op}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def domain_of_index(n: int) -> np.ndarray:
    """int64 (n,): the domain of each image of a split of n, 0 = A (``i % 4`` in {0, 1}),
    1 = B (``i % 4`` in {2, 3}); see the module docstring for why pairs of indices."""
    return (np.arange(n, dtype=np.int64) // 2) % 2


@functools.lru_cache(maxsize=None)
def _cached(domain: str, split: str) -> tuple:
    mnist = get_dataset("mnist", train=(split == "train"))
    half = np.flatnonzero(domain_of_index(len(mnist)) == DOMAINS.index(domain))
    images = normalize(to_float(mnist.data[half]))          # (N, 1, 28, 28) in [-1, 1]
    if domain == "B":
        images = restyle(images)
    labels = np.ascontiguousarray(mnist.targets[half], dtype=np.int64)
    images = np.ascontiguousarray(images, dtype=np.float32)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_domain(domain: str, split: str = "train") -> tuple:
    """``(images, labels)`` of one domain of the pair ``"mnist-thick"`` (see the module docstring).

    Args:
        domain: "A" (plain digits, even indices) or "B" (restyled digits, odd indices).
        split: "train" (30,000 images each) or "test" (5,000 each).
    Returns:
        images: float32 (N, 1, 28, 28) in [-1, 1]; labels: int64 (N,) digits 0-9.
        Both read-only, shared by every caller (``.copy()`` to change them).
    """
    check_domain(domain, split, "load_domain")
    return _cached(domain, split)


def domain_classification_data(split: str = "train") -> tuple:
    """``(images, domains)``: the whole split, each image in its domain's style, labelled
    0 = A, 1 = B -- in MNIST's order, so image i is MNIST's image i and ``domains[i] =
    domain_of_index(N)[i]`` (any prefix holds both domains, nearly half and half).

    images: float32 (N, 1, 28, 28) in [-1, 1] (60,000 or 10,000); domains: int64 (N,).
    The data of the domain classifier (``tinygan train classifier --dataset mnist-thick-domains``).
    """
    check_domain("A", split, "domain_classification_data")
    (a, _), (b, _) = load_domain("A", split), load_domain("B", split)
    images = np.empty((len(a) + len(b),) + a.shape[1:], np.float32)
    domains = domain_of_index(len(a) + len(b))
    images[domains == 0], images[domains == 1] = a, b
    return images, domains


def restyled_mnist(split: str = "train") -> tuple:
    """``(images, labels)``: EVERY MNIST digit of ``split`` in domain B's style (both halves).

    images: float32 (N, 1, 28, 28) in [-1, 1] (60,000 or 10,000), ``restyle`` of MNIST in its
    own order; labels: int64 (N,).  Not a domain (it overlaps both): the training data of B's
    frozen digit classifier (``--dataset mnist-thick-b``), which learns the digits better from
    twice the examples -- it judges translations of *test* images, which it never saw.
    Computed afresh on each call (188 MB for the training split), not cached.
    """
    check_domain("B", split, "restyled_mnist")
    mnist = get_dataset("mnist", train=(split == "train"))
    return restyle(normalize(to_float(mnist.data))), mnist.targets.astype(np.int64)
