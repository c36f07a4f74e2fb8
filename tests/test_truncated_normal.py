"""tinygan.truncated_normal (creation.py): BigGAN's truncation trick (Brock et al. 2019, sec. 4.1).

Every value within the threshold, exactly, in float32 and float64; the values drawn inside
it kept as ``randn`` would have drawn them, the others redrawn (not clipped): the law of
N(0, 1) conditioned on |z| <= t, checked by its variance and fourth moment; threshold None
is ``randn``; the same z's under the same seed; a generator of its own; bad arguments.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
from tinygan import random


@pytest.fixture(autouse=True)
def _keep_rng_state(monkeypatch):
    """Tests here reseed the generator; give the next test the stream it would have had."""
    monkeypatch.setattr(random, "_seed", random._seed)
    state = tinygan.get_rng_state()
    yield
    tinygan.set_rng_state(state)


def _phi(t):
    return math.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def truncated_moments(t):
    """E z^2 and E z^4 of N(0, 1) conditioned on |z| <= t (integration by parts:
    int_{-t}^{t} z^2 phi = p - 2 t phi(t), int z^4 phi = 3 (p - 2 t phi(t)) - 2 t^3 phi(t),
    with p = P(|z| <= t) = erf(t / sqrt 2))."""
    p = math.erf(t / math.sqrt(2))
    m2 = (p - 2 * t * _phi(t)) / p
    m4 = (3 * (p - 2 * t * _phi(t)) - 2 * t ** 3 * _phi(t)) / p
    return m2, m4


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("t", [2.0, 1.0, 0.5, 0.25, 0.1, 0.04])
def test_every_value_is_within_the_threshold_and_inside_ones_are_kept(t, dtype):
    tinygan.manual_seed(1)
    plain = tinygan.randn(64, 96, dtype=dtype).numpy()
    tinygan.manual_seed(1)
    z = tinygan.truncated_normal(64, 96, t, dtype=dtype)
    assert tuple(z.shape) == (64, 96) and z.dtype == dtype and not z.requires_grad
    z = z.numpy()
    # exact: the promise is |z_i| <= t as real numbers; float64 holds every float32 exactly
    assert (np.abs(z.astype(np.float64)) <= t).all()
    inside = np.abs(plain.astype(np.float64)) <= t
    assert (~inside).sum() > 0                     # some were drawn outside: the test resamples
    # exact: the first draw is randn's (the same counters), and inside values stay as drawn
    np.testing.assert_array_equal(z[inside], plain[inside])
    assert not np.any(z[~inside] == plain[~inside])


@pytest.mark.parametrize("t", [2.0, 1.0, 0.25])
def test_the_law_is_the_normal_conditioned_on_the_threshold(t):
    """Redrawn, not clipped: clipping would pile the outside mass at +-t and raise E z^2.
    Both the whole sample and the redrawn places alone follow the truncated law."""
    tinygan.manual_seed(2)
    plain = tinygan.randn(200, 500, dtype=np.float64).numpy()
    tinygan.manual_seed(2)
    z = tinygan.truncated_normal(200, 500, t, dtype=np.float64).numpy()
    m2, m4 = truncated_moments(t)
    redrawn = z[np.abs(plain) > t]
    for sample in (z.ravel(), redrawn):
        se = math.sqrt((m4 - m2 * m2) / sample.size)      # standard error of the mean of z^2
        assert abs((sample ** 2).mean() - m2) < 5 * se, (t, sample.size)
        assert abs(sample.mean()) < 5 * math.sqrt(m2 / sample.size)
    clipped = np.clip(plain, -t, t)
    assert abs((clipped ** 2).mean() - m2) > 5 * math.sqrt((m4 - m2 * m2) / clipped.size)


def test_none_is_randn():
    tinygan.manual_seed(3)
    a = tinygan.randn(5, 7).numpy()
    after = tinygan.get_rng_state()
    tinygan.manual_seed(3)
    b = tinygan.truncated_normal(5, 7).numpy()
    np.testing.assert_array_equal(a, b)            # exact: the same counters
    assert tinygan.get_rng_state() == after


def test_the_same_seed_gives_the_same_z():
    tinygan.manual_seed(4)
    a = tinygan.truncated_normal(16, 32, 0.5).numpy()
    state = tinygan.get_rng_state()
    b = tinygan.truncated_normal(16, 32, 0.5).numpy()
    tinygan.manual_seed(4)
    np.testing.assert_array_equal(tinygan.truncated_normal(16, 32, 0.5).numpy(), a)   # exact
    assert tinygan.get_rng_state() == state
    assert not np.array_equal(a, b)                # the stream moved on


def test_a_tiny_threshold_finishes_and_holds():
    tinygan.manual_seed(5)
    z = tinygan.truncated_normal(8, 64, 1e-3, dtype=np.float64).numpy()
    assert (np.abs(z) <= 1e-3).all()
    assert len(np.unique(z)) == z.size             # real draws, not one value repeated


def test_a_generator_of_its_own_leaves_the_shared_stream_alone():
    tinygan.manual_seed(6)
    before = tinygan.get_rng_state()
    gen = random.Generator(77)
    a = tinygan.truncated_normal(4, 8, 1.0, generator=gen).numpy()
    assert tinygan.get_rng_state() == before
    b = tinygan.truncated_normal(4, 8, 1.0, generator=random.Generator(77)).numpy()
    np.testing.assert_array_equal(a, b)            # exact: the same key and counters
    assert tinygan.truncated_normal(0, 8, 1.0).shape == (0, 8)


@pytest.mark.parametrize("threshold,error,words", [
    (0.0, ValueError, "positive finite number"), (-1.0, ValueError, "positive finite number"),
    (float("nan"), ValueError, "got nan"), (float("inf"), ValueError, "got inf"),
    (True, TypeError, "bool True"), ("1", TypeError, "str '1'"),
])
def test_bad_thresholds_are_refused(threshold, error, words):
    with pytest.raises(error, match=f"truncated_normal: threshold .*{words}"):
        tinygan.truncated_normal(2, 3, threshold)


def test_bad_sizes_and_dtypes_are_refused():
    with pytest.raises(ValueError, match=r"truncated_normal: n must be an int >= 0, got -1"):
        tinygan.truncated_normal(-1, 3, 1.0)
    with pytest.raises(ValueError, match=r"truncated_normal: dim must be an int >= 0, got 2.5"):
        tinygan.truncated_normal(2, 2.5, 1.0)
    with pytest.raises(TypeError, match=r"truncated_normal: dtype must be float32 or float64, "
                                        r"got float16"):
        tinygan.truncated_normal(2, 3, 1.0, dtype=np.float16)
    with pytest.raises(TypeError, match=r"truncated_normal: needs a floating point dtype"):
        tinygan.truncated_normal(2, 3, 1.0, dtype=np.int64)


@pytest.mark.gpu
def test_on_a_gpu_the_z_are_made_there_and_within_the_threshold():
    if not tinygan.cuda_is_available():
        pytest.skip("CuPy with a GPU is not available")
    tinygan.manual_seed(8)
    plain = tinygan.randn(64, 96, device="cpu").numpy()
    tinygan.manual_seed(8)
    z = tinygan.truncated_normal(64, 96, 0.5, device="cuda")
    assert z.is_cuda and z.dtype == np.float32
    z = z.cpu().numpy()
    assert (np.abs(z.astype(np.float64)) <= 0.5).all()         # exact, as on the CPU
    # The first draw is the CPU's (the one stream, normals to the last bits of log/cos/sin):
    # where it was well inside, it was kept.
    inside = np.abs(plain) < 0.49
    np.testing.assert_allclose(z[inside], plain[inside], rtol=0, atol=1e-5)
