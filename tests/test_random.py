"""tinygan.random: the (seed, offset) state of the one Philox stream, how draws move it, and
the numpy.random.Generator methods tinygan uses."""
from __future__ import annotations

import json

import numpy as np
import pytest

import tinygan
from tinygan import random
from tinygan.kernels import philox


@pytest.fixture(autouse=True)
def _keep_rng_state(monkeypatch):
    """Tests here reseed the generator; give the next test the stream it would have had."""
    monkeypatch.setattr(random, "_seed", random._seed)
    state = tinygan.get_rng_state()
    yield
    tinygan.set_rng_state(state)


def test_the_state_is_seed_and_offset_and_survives_json():
    tinygan.manual_seed(2 ** 64 - 1)
    assert tinygan.get_rng_state() == {"generator": "philox4x32-10", "seed": 2 ** 64 - 1, "offset": 0}
    tinygan.randn(10)
    state = json.loads(json.dumps(tinygan.get_rng_state()))
    a = tinygan.randn(6).numpy()
    tinygan.manual_seed(3)
    tinygan.set_rng_state(state)
    # exact: the same counters under the same key
    np.testing.assert_array_equal(tinygan.randn(6).numpy(), a)


@pytest.mark.parametrize("draw,counters", [
    (lambda g: g.random(5, dtype=np.float32), 2),          # a word each: ceil(5 / 4)
    (lambda g: g.random(5), 3),                             # two words each: ceil(10 / 4)
    (lambda g: g.standard_normal((3, 3), dtype=np.float32), 3),
    (lambda g: g.standard_normal(7), 4),
    (lambda g: g.integers(0, 10, size=3), 2),
    (lambda g: g.permutation(9), 5),
    (lambda g: g.random(0), 0),
])
def test_a_draw_moves_the_offset_by_the_counters_it_used(draw, counters):
    tinygan.manual_seed(1)
    tinygan.randn(1)
    before = tinygan.get_rng_state()["offset"]
    draw(random.generator_for("cpu"))
    assert tinygan.get_rng_state()["offset"] - before == counters


def test_draws_are_the_stream_read_in_order():
    # draws that end on counter boundaries read the stream with no gap: 8 + 4 float32 = 3 counters
    tinygan.manual_seed(42)
    g = random.generator_for("cpu")
    parts = np.concatenate([g.random(8, dtype=np.float32), g.random(4, dtype=np.float32)])
    # exact: the same words
    np.testing.assert_array_equal(parts, philox.uniform_reference(42, 0, 12, np.float32))
    # and the next draw starts at counter 3
    np.testing.assert_array_equal(g.integers(0, 100, size=5), philox.integers_reference(42, 3, 5, 0, 100))


def test_every_device_generator_shares_the_one_stream():
    tinygan.manual_seed(8)
    a = random.generator_for("cpu").standard_normal(4)
    b = random.generator_for(None).standard_normal(4)
    tinygan.manual_seed(8)
    ab = random.generator_for("cpu").standard_normal(8)
    # exact: the same counters under the same key
    np.testing.assert_array_equal(np.concatenate([a, b]), ab)


def test_a_generator_of_its_own_leaves_the_shared_one_alone():
    tinygan.manual_seed(4)
    state = tinygan.get_rng_state()
    g = random.Generator(4)
    x = g.standard_normal(5)
    assert tinygan.get_rng_state() == state
    assert g.get_state() == {"generator": "philox4x32-10", "seed": 4, "offset": 3}
    # exact: a Generator with the shared stream's seed and offset draws the same numbers
    np.testing.assert_array_equal(random.generator_for("cpu").standard_normal(5), x)
    g.set_state({"generator": "philox4x32-10", "seed": 4, "offset": 0})
    np.testing.assert_array_equal(g.standard_normal(5), x)


def test_methods_follow_numpy_generator():
    g = random.Generator(5)
    assert g.random().shape == () and g.random().dtype == np.float64
    assert g.random((2, 3), dtype="float32").dtype == np.float32
    assert g.standard_normal([4]).shape == (4,)
    v = g.integers(7, size=(50,))
    assert v.dtype == np.int64 and v.min() >= 0 and v.max() < 7
    v = g.integers(-3, 3, size=100, dtype=np.int32)
    assert v.dtype == np.int32 and v.min() >= -3 and v.max() < 3
    p = g.permutation(10)
    assert p.dtype == np.int64
    np.testing.assert_array_equal(np.sort(p), np.arange(10))
    x = np.arange(12).reshape(6, 2)
    px = g.permutation(x)
    np.testing.assert_array_equal(np.sort(px[:, 0]), x[:, 0])
    np.testing.assert_array_equal(px[:, 1], px[:, 0] + 1)        # rows move whole
    assert g.permutation(0).shape == (0,)


def test_permutations_differ_by_seed_and_offset():
    a = random.Generator(1).permutation(50)
    assert not np.array_equal(a, random.Generator(2).permutation(50))
    assert not np.array_equal(a, random.Generator(1, offset=1 << 64).permutation(50))
    # exact: integer arithmetic
    np.testing.assert_array_equal(a, random.Generator(1).permutation(50))


def test_negative_seeds_wrap_as_in_torch():
    tinygan.manual_seed(-1)
    assert tinygan.get_rng_state()["seed"] == 2 ** 64 - 1


@pytest.mark.parametrize("bad,error,words", [
    (1.5, TypeError, "must be an int"), ("7", TypeError, "must be an int"),
    (2 ** 64, ValueError, "[-2**63, 2**64)"), (-2 ** 63 - 1, ValueError, "[-2**63, 2**64)"),
])
def test_bad_seeds_are_refused(bad, error, words):
    with pytest.raises(error, match="manual_seed") as info:
        tinygan.manual_seed(bad)
    assert words in str(info.value)


def test_an_old_pcg64_state_gets_a_clear_error():
    old = {"bit_generator": "PCG64", "state": {"state": 2 ** 127 + 5, "inc": 2 ** 64 + 1},
           "has_uint32": 0, "uinteger": 0}
    with pytest.raises(ValueError, match="PCG64 state.*cannot be continued"):
        tinygan.set_rng_state(old)
    with pytest.raises(ValueError, match="expected"):
        tinygan.set_rng_state({"generator": "philox4x32-10", "seed": 1})
    with pytest.raises(ValueError, match="offset"):
        tinygan.set_rng_state({"generator": "philox4x32-10", "seed": 1, "offset": -1})
    with pytest.raises(TypeError, match="set_rng_state"):
        tinygan.set_rng_state([1, 2])


def test_bad_draw_arguments_name_the_method():
    g = random.Generator(0)
    with pytest.raises(ValueError, match="integers: need low < high"):
        g.integers(5, 5)
    with pytest.raises(ValueError, match="integers"):
        g.integers(0, 2 ** 64)
    with pytest.raises(TypeError, match="random: dtype must be float32 or float64"):
        g.random(3, dtype=np.int32)
    with pytest.raises(TypeError, match="standard_normal: dtype"):
        g.standard_normal(3, dtype=np.float16)
    with pytest.raises(ValueError, match="permutation"):
        g.permutation(np.float64(3.0) * np.ones(()))
