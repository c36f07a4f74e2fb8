"""The domain pair "mnist-thick" (tinygan/data/domains.py): halves, restyle, determinism, errors.

- the two domains are MNIST's images with i % 4 in {0, 1} and in {2, 3}: disjoint, covering
  each split, labels kept, and alike in handwriting (unlike MNIST's even and odd images);
- ``restyle`` is a 3x3 max filter and an inversion, against a reference written with plain
  loops over pixels (and, on MNIST, in uint8 pixels: 255 - max);
- repeated loads give the same arrays, which no caller can change;
- bad input is refused with a message naming the function and the value at fault.
"""
import numpy as np
import pytest

from tinygan.data import MNIST, domains, normalize, to_float
from tinygan.data.domains import (DOMAINS, PAIR, dilate, domain_classification_data,
                                  load_domain, restyle, restyled_mnist)

from tolerances import assert_within, eps

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)


def reference_dilation(x: np.ndarray) -> np.ndarray:
    """The 3x3 max filter by definition: each pixel the max of its in-image neighbours."""
    n, c, h, w = x.shape
    out = np.empty_like(x)
    for b in range(n):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    out[b, ch, i, j] = x[b, ch, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].max()
    return out


def test_restyle_is_dilation_then_inversion_on_awkward_shapes():
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 1, 1), (2, 1, 5, 7), (3, 1, 28, 28), (1, 1, 2, 9)]:
        for dtype in (np.float32, np.float64):
            x = rng.uniform(-1, 1, shape).astype(dtype)
            y = restyle(x)
            assert y.shape == x.shape and y.dtype == x.dtype
            # exact: a max and a negation only select and flip values, no rounding
            np.testing.assert_array_equal(dilate(x), reference_dilation(x))
            np.testing.assert_array_equal(y, -reference_dilation(x))
            assert y is not x and not np.shares_memory(x, y)


def test_dilation_of_a_single_dot_is_a_3x3_square_clipped_at_the_border():
    x = -np.ones((1, 1, 6, 6), np.float32)
    x[0, 0, 0, 4] = 1.0            # on the top edge: the square loses its top row
    x[0, 0, 3, 1] = 0.5
    expected = -np.ones_like(x)
    expected[0, 0, 0:2, 3:6] = 1.0
    expected[0, 0, 2:5, 0:3] = 0.5
    np.testing.assert_array_equal(dilate(x), expected)     # exact: see above
    np.testing.assert_array_equal(restyle(x), -expected)


@needs_mnist
def test_domains_are_the_two_halves_of_each_split():
    for split, train, n in [("train", True, 60000), ("test", False, 10000)]:
        mnist = MNIST(train=train)
        in_a = np.array([i % 4 in (0, 1) for i in range(n)])
        a, ya = load_domain("A", split)
        b, yb = load_domain("B", split)
        assert a.shape == b.shape == (n // 2, 1, 28, 28), split
        assert a.dtype == b.dtype == np.float32 and ya.dtype == yb.dtype == np.int64
        assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1
        # Covering and disjoint: A is MNIST's images in_a, B the others restyled, so together
        # they are every image of the split once, and never one image in both.
        # exact: pure selection of pixels, then the same arithmetic as restyle's own inputs
        np.testing.assert_array_equal(a, normalize(to_float(mnist.data[in_a])))
        np.testing.assert_array_equal(b, restyle(normalize(to_float(mnist.data[~in_a]))))
        labels = np.empty(n, np.int64)
        labels[in_a], labels[~in_a] = ya, yb
        np.testing.assert_array_equal(labels, mnist.targets)   # exact: integers
        np.testing.assert_array_equal(domains.domain_of_index(n), (~in_a).astype(np.int64))
        # B's pixels from uint8 by another route: dilate the pixels, invert with 255 - p.
        pixels = mnist.data[~in_a][:20, None].astype(np.int64)
        ref = (255 - reference_dilation(pixels)).astype(np.uint8)
        assert_within(b[:20], normalize(to_float(ref)), 4 * eps(np.float32), f"B {split} vs 255 - max")


@needs_mnist
def test_domain_b_looks_as_documented_and_the_halves_alike():
    a, _ = load_domain("A", "test")
    b, _ = load_domain("B", "test")
    # White page: the corners are background, +1 in B and -1 in A.
    assert (b[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]] == 1).all()
    assert (a[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]] == -1).all()
    # Thicker: dilation only grows the ink, and by a lot for 1-2 pixel wide strokes.
    ink_a, ink_b = (a > -1).mean(), (b < 1).mean()
    assert ink_b > 1.5 * ink_a, (ink_a, ink_b)     # measured: 0.321 against 0.192 (1.67x)


@needs_mnist
def test_the_halves_share_their_writers():
    """The training halves differ in style only: A's digits and B's digits before restyling
    have the same mean ink, where MNIST's even and odd images (two populations of writers)
    do not (measured: 0.1309 and 0.1305 here; 0.1227 and 0.1386 for even and odd)."""
    pixels = MNIST(train=True).data.astype(np.float64) / 255
    in_b = domains.domain_of_index(len(pixels)) == 1
    gap = abs(pixels[in_b].mean() - pixels[~in_b].mean())
    parity_gap = abs(pixels[0::2].mean() - pixels[1::2].mean())
    assert parity_gap > 0.01 > 10 * gap, (gap, parity_gap)


@needs_mnist
def test_loading_is_deterministic_and_read_only():
    a1, y1 = load_domain("B", "test")
    a1, y1 = a1.copy(), y1.copy()
    domains._cached.cache_clear()             # recompute from the files
    a2, y2 = load_domain("B", "test")
    np.testing.assert_array_equal(a1, a2)     # exact: no RNG, the same arithmetic
    np.testing.assert_array_equal(y1, y2)
    assert load_domain("B", "test")[0] is a2  # cached: computed once
    with pytest.raises(ValueError, match="read-only"):
        a2[0, 0, 0, 0] = 0.0


@needs_mnist
def test_domain_classification_data_keeps_mnist_order():
    x, d = domain_classification_data("test")
    a, _ = load_domain("A", "test")
    b, _ = load_domain("B", "test")
    assert x.shape == (10000, 1, 28, 28) and d.dtype == np.int64
    np.testing.assert_array_equal(d, [0, 0, 1, 1] * 2500)      # exact: integers
    np.testing.assert_array_equal(x[d == 0], a)                # exact: copies
    np.testing.assert_array_equal(x[d == 1], b)


@needs_mnist
def test_restyled_mnist_is_both_halves_in_b_style():
    x, y = restyled_mnist("test")
    b, yb = load_domain("B", "test")
    a, _ = load_domain("A", "test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    in_b = domains.domain_of_index(10000) == 1
    np.testing.assert_array_equal(x[in_b], b)             # exact: the same arithmetic
    np.testing.assert_array_equal(x[~in_b], restyle(a))
    np.testing.assert_array_equal(y[in_b], yb)            # exact: integers


def test_pair_and_names():
    assert PAIR == "mnist-thick" and DOMAINS == ("A", "B")
    assert domains.DIGIT_CLASSIFIERS == {"A": "mnist", "B": "mnist-thick-b"}


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((2, 28, 28), np.float32), ValueError, r"restyle: expected images of shape \(N, 1, H, W\), got \(2, 28, 28\)"),
    (np.zeros((2, 3, 28, 28), np.float32), ValueError, r"restyle: .*got \(2, 3, 28, 28\)"),
    (np.zeros((2, 1, 28, 28), np.uint8), TypeError, "restyle: expected float images .* uint8"),
    (np.full((1, 1, 4, 4), 2.0, np.float32), ValueError, r"restyle: expected values in \[-1, 1\], got values in \[2.0, 2.0\]"),
    (np.full((1, 1, 4, 4), np.nan, np.float32), ValueError, r"restyle: expected values in \[-1, 1\].*nan"),
    ([[[[0.0]]]], TypeError, "restyle: expected a NumPy array .* got list"),
])
def test_restyle_refuses_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        restyle(bad)


def test_load_domain_refuses_unknown_domain_and_split():
    with pytest.raises(ValueError, match=r"load_domain: unknown domain 'C' of the pair 'mnist-thick'; expected one of A, B"):
        load_domain("C")
    with pytest.raises(ValueError, match=r"load_domain: unknown domain 'a'"):
        load_domain("a")
    with pytest.raises(ValueError, match=r"load_domain: unknown split 'valid'; expected one of train, test"):
        load_domain("A", "valid")
    with pytest.raises(ValueError, match=r"domain_classification_data: unknown split 'val'"):
        domain_classification_data("val")
    with pytest.raises(ValueError, match=r"restyled_mnist: unknown split 'all'"):
        restyled_mnist("all")
