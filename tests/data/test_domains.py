"""The domain pair "mnist-thick" (tinygan/data/domains.py): halves, restyle, determinism, errors.

- the two domains are MNIST's even and odd images: disjoint, covering each split, labels kept;
- ``restyle`` is a 3x3 max filter and an inversion, against a reference written with plain
  loops over pixels (and, on MNIST, in uint8 pixels: 255 - max);
- repeated loads give the same arrays, which no caller can change;
- bad input is refused with a message naming the function and the value at fault.
"""
import numpy as np
import pytest

from tinygan.data import MNIST, domains, normalize, to_float
from tinygan.data.domains import (DOMAINS, PAIR, dilate, domain_classification_data,
                                  load_domain, restyle)

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
def test_domains_are_the_even_and_odd_halves_of_each_split():
    for split, train, n in [("train", True, 60000), ("test", False, 10000)]:
        mnist = MNIST(train=train)
        a, ya = load_domain("A", split)
        b, yb = load_domain("B", split)
        assert a.shape == b.shape == (n // 2, 1, 28, 28), split
        assert a.dtype == b.dtype == np.float32 and ya.dtype == yb.dtype == np.int64
        assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1
        # Covering and disjoint: A's image i is MNIST's 2i, B's image i MNIST's 2i + 1 restyled,
        # so together they are every image of the split once, and never one image in both.
        # exact: pure selection of pixels, then the same arithmetic as restyle's own inputs
        np.testing.assert_array_equal(a, normalize(to_float(mnist.data[0::2])))
        np.testing.assert_array_equal(b, restyle(normalize(to_float(mnist.data[1::2]))))
        labels = np.empty(n, np.int64)
        labels[0::2], labels[1::2] = ya, yb
        np.testing.assert_array_equal(labels, mnist.targets)   # exact: integers
        # B's pixels from uint8 by another route: dilate the pixels, invert with 255 - p.
        pixels = mnist.data[1:41:2][:, None].astype(np.int64)
        ref = (255 - reference_dilation(pixels)).astype(np.uint8)
        assert_within(b[:20], normalize(to_float(ref)), 4 * eps(np.float32), f"B {split} vs 255 - max")


@needs_mnist
def test_domain_b_looks_as_documented():
    a, _ = load_domain("A", "test")
    b, _ = load_domain("B", "test")
    # White page: the corners are background, +1 in B and -1 in A.
    assert (b[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]] == 1).all()
    assert (a[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]] == -1).all()
    # Thicker: dilation only grows the ink, and by a lot for 1-2 pixel wide strokes.
    ink_a, ink_b = (a > -1).mean(), (b < 1).mean()
    assert ink_b > 1.5 * ink_a, (ink_a, ink_b)     # measured: 0.321 against 0.192 (1.67x)


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
def test_domain_classification_data_interleaves_the_domains_in_mnist_order():
    x, d = domain_classification_data("test")
    a, _ = load_domain("A", "test")
    b, _ = load_domain("B", "test")
    assert x.shape == (10000, 1, 28, 28) and d.dtype == np.int64
    np.testing.assert_array_equal(d, np.arange(10000) % 2)     # exact: integers
    np.testing.assert_array_equal(x[0::2], a)                  # exact: copies
    np.testing.assert_array_equal(x[1::2], b)


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
