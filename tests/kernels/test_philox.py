"""Philox4x32-10 (tinygan/kernels/philox.py): the block function against the published
known-answer vectors, the vectorized stream against a plain one-counter-at-a-time
reference in Python integers, and each distribution against its formula."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tinygan.kernels import philox
from tolerances import assert_within, eps

# Random123's tests/kat_vectors, the three "philox4x32 10" lines (Salmon et al. 2011):
# counter words c0..c3, key words k0 k1, expected output words.
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),   # digits of pi
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def plain_philox(counter: int, seed: int) -> list[int]:
    """Philox4x32-10 of one 128-bit counter under a 64-bit seed, in Python integers: the
    paper's round written out, with no arrays, views or word orders to get wrong."""
    c = [(counter >> (32 * j)) & 0xFFFFFFFF for j in range(4)]
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) % 2 ** 32, (k1 + 0xBB67AE85) % 2 ** 32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 % 2 ** 32, (p0 >> 32) ^ c[3] ^ k1, p0 % 2 ** 32]
    return c


def plain_words(seed: int, offset: int, n: int) -> list[int]:
    out = []
    i = 0
    while len(out) < n:
        out += plain_philox((offset + i) % 2 ** 128, seed)
        i += 1
    return out[:n]


# (seed, offset): small, a 32-bit carry, a 64-bit carry, the top of the 128-bit counter
CASES = [(0, 0), (12345, 7), (2 ** 64 - 1, 2 ** 32 - 3), (0xDEADBEEF12345678, 2 ** 64 - 5),
         (1, (3 << 64) + 2 ** 64 - 2), (2 ** 63, 2 ** 128 - 40)]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_known_answer_vectors(counter, key, expected):
    out = philox.philox4x32(np.array(counter, dtype=np.uint32).reshape(4, 1), key)
    # exact: integer arithmetic
    assert [int(v) for v in out[:, 0]] == list(expected)
    seed = key[0] | key[1] << 32
    assert plain_philox(sum(c << (32 * j) for j, c in enumerate(counter)), seed) == list(expected)


def test_a_wrong_round_count_would_fail_the_vectors():
    # the test above can fail: nine rounds give other words
    counter, key, expected = KAT[2]
    c = list(counter)
    k0, k1 = key
    for r in range(9):
        if r:
            k0, k1 = (k0 + philox.W0) % 2 ** 32, (k1 + philox.W1) % 2 ** 32
        p0, p1 = philox.M0 * c[0], philox.M1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 % 2 ** 32, (p0 >> 32) ^ c[3] ^ k1, p0 % 2 ** 32]
    assert c != list(expected)


@pytest.mark.parametrize("seed,offset", CASES)
@pytest.mark.parametrize("n", [1, 3, 4, 37])
def test_stream_words_are_the_counters_in_order(seed, offset, n):
    got = philox.words_reference(seed, offset, n)
    assert got.dtype == np.uint32 and got.shape == (n,)
    # exact: integer arithmetic
    assert [int(v) for v in got] == plain_words(seed, offset, n)


def test_counter_block_carries():
    for offset in (0, 2 ** 32 - 2, 2 ** 64 - 2, (5 << 64) + 2 ** 64 - 1):
        c = philox.counter_block(offset, 4, np)
        for i in range(4):
            value = sum(int(c[j, i]) << (32 * j) for j in range(4))
            assert value == (offset + i) % 2 ** 128


@pytest.mark.parametrize("seed,offset", CASES[:4])
def test_uniform_float32_is_the_top_24_bits(seed, offset):
    n = 23
    u = philox.uniform_reference(seed, offset, n, np.float32)
    expected = [(w >> 8) / 2 ** 24 for w in plain_words(seed, offset, n)]
    assert u.dtype == np.float32
    # exact: j / 2^24 with j < 2^24 is a float32
    np.testing.assert_array_equal(u, np.array(expected, dtype=np.float32))
    assert u.min() >= 0 and u.max() < 1


@pytest.mark.parametrize("seed,offset", CASES[:4])
def test_uniform_float64_is_53_bits_of_two_words(seed, offset):
    n = 11
    w = plain_words(seed, offset, 2 * n)
    expected = [((w[2 * i] >> 5) * 2 ** 26 + (w[2 * i + 1] >> 6)) / 2 ** 53 for i in range(n)]
    u = philox.uniform_reference(seed, offset, n, np.float64)
    # exact: j / 2^53 with j < 2^53 is a float64
    np.testing.assert_array_equal(u, np.array(expected))


def normal_tolerance(u, dtype):
    """|z_a - z_b| for two correct Box-Muller computations of z = r cos(t) (or sin) from the
    same uniforms: log, sqrt, cos and sin each within a few ulp (CUDA's logf 1 ulp, sinf/cosf
    2; NumPy's SIMD loops up to 4), so r is off by a few eps relative and cos/sin by a few eps
    absolute, times r: 8 eps (r + 1), with r computed from the uniforms."""
    r = np.sqrt(-2 * np.log1p(-np.asarray(u, dtype=np.float64)))
    return 8 * eps(dtype) * (r + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_normal_is_box_muller_of_the_uniforms(dtype, n):
    seed, offset = 99, 5
    z = philox.normal_reference(seed, offset, n, dtype)
    assert z.dtype == dtype and z.shape == (n,)
    u = philox.uniform_reference(seed, offset, n + n % 2, dtype).astype(np.float64)
    r = [math.sqrt(-2 * math.log(1 - a)) for a in u[0::2]]
    t = [2 * math.pi * b for b in u[1::2]]
    expected = np.ravel([[ri * math.cos(ti), ri * math.sin(ti)] for ri, ti in zip(r, t)])[:n]
    assert_within(z, expected, normal_tolerance(np.repeat(u[0::2], 2)[:n], dtype), "Box-Muller")


@pytest.mark.parametrize("low,high", [(0, 1), (-5, 7), (0, 10 ** 9 + 7), (0, 2 ** 63),
                                      (-2 ** 63, 2 ** 63 - 1), (2 ** 40, 2 ** 40 + 3)])
def test_integers_are_multiply_shift_of_64_bits(low, high):
    n = 19
    w = plain_words(7, 3, 2 * n)
    expected = [low + ((w[2 * i] << 32 | w[2 * i + 1]) * (high - low) >> 64) for i in range(n)]
    got = philox.integers_reference(7, 3, n, low, high)
    assert got.dtype == np.int64
    # exact: integer arithmetic
    assert [int(v) for v in got] == expected
    assert all(low <= v < high for v in expected)


def test_integers_are_uniform():
    # chi-square over 12 values from 120,000 draws: 11 degrees of freedom, the 1e-4 tail is 39.0
    v = philox.integers_reference(2024, 0, 120_000, -5, 7)
    counts = np.bincount(v + 5, minlength=12)
    chi2 = float(((counts - 10_000) ** 2 / 10_000).sum())
    assert counts.size == 12 and chi2 < 39.0, counts


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 1025])
def test_permutation_keys_are_distinct_with_the_index_below(n):
    keys = philox.permutation_keys_reference(31, 17, n)
    b = philox.index_bits(n)
    assert 2 ** b >= n and (b == 0 or 2 ** (b - 1) < n)
    low = keys & np.uint64(2 ** b - 1)
    # exact: integer arithmetic
    np.testing.assert_array_equal(low, np.arange(n, dtype=np.uint64))
    w = plain_words(31, 17, 2 * n)
    high = [(w[2 * i] << 32 | w[2 * i + 1]) >> b for i in range(n)]
    assert [int(k) >> b for k in keys] == high
    perm = np.argsort(keys)
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_statistics_of_a_large_draw():
    n = 400_000
    for dtype in (np.float32, np.float64):
        u = philox.uniform_reference(1, 0, n, dtype).astype(np.float64)
        # mean 1/2 and variance 1/12; 6 standard errors
        assert abs(u.mean() - 0.5) < 6 * math.sqrt(1 / 12 / n)
        assert abs(u.var() - 1 / 12) < 6 * math.sqrt(1 / 180 / n)
        z = philox.normal_reference(2, 0, n, dtype).astype(np.float64)
        assert abs(z.mean()) < 6 / math.sqrt(n)
        assert abs(z.var() - 1) < 6 * math.sqrt(2 / n)
        assert abs((z ** 4).mean() - 3) < 6 * math.sqrt(96 / n)      # Var(z^4) = 105 - 9
        # the pairs of Box-Muller are uncorrelated
        assert abs(np.mean(z[0::2] * z[1::2])) < 6 / math.sqrt(n / 2)


def test_counters_for_a_draw():
    assert philox.counters_for(0, 1) == 0
    assert philox.counters_for(5, 1) == 2
    assert philox.counters_for(5, 2) == 3
    assert philox.counters_for(8, 1) == 2
    assert philox.words_per_value("uniform", np.float32) == 1
    assert philox.words_per_value("normal", np.float64) == 2
    assert philox.words_per_value("integers") == 2


def test_empty_draws():
    for out in (philox.words_reference(1, 0, 0), philox.uniform_reference(1, 0, 0, np.float32),
                philox.normal_reference(1, 0, 0, np.float64), philox.integers_reference(1, 0, 0, 0, 5),
                philox.permutation_keys_reference(1, 0, 0)):
        assert out.shape == (0,)


@pytest.mark.parametrize("threads", [1, 3])
def test_chunks_and_threads_give_the_same_words(threads, monkeypatch):
    from tinygan.kernels import threads as pool
    monkeypatch.setattr(philox, "_CHUNK", 5)            # 37 words = 10 counters = chunks 5 + 5
    before = pool.get_num_threads()
    pool.set_num_threads(threads)
    try:
        got = philox.words_reference(2 ** 40 + 3, 2 ** 64 - 7, 37)
    finally:
        pool.set_num_threads(before)
    # exact: integer arithmetic, each counter computed alone
    assert [int(v) for v in got] == plain_words(2 ** 40 + 3, 2 ** 64 - 7, 37)
