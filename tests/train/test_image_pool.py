"""The image pool (tinygan/train/image_pool.py): the reference's contract -- until full a
fresh image enters and is returned; then half the time a stored image is returned and the
fresh one takes its place, else the fresh one is returned -- its state round trip, and its
errors."""
import numpy as np
import pytest

import tinygan
from tinygan.train.image_pool import ImagePool


def _batch(start, n=4):
    """Images whose every pixel is their serial number: each image is recognizable."""
    ids = np.arange(start, start + n, dtype=np.float32)
    return tinygan.tensor(np.broadcast_to(ids[:, None, None, None], (n, 1, 2, 2)).copy())


def _ids(t):
    return [int(v) for v in t.data[:, 0, 0, 0]]


def test_until_full_every_fresh_image_enters_and_is_returned():
    pool = ImagePool(10, seed=0)
    for k in range(2):
        out = pool.query(_batch(4 * k))
        assert _ids(out) == list(range(4 * k, 4 * k + 4))
    assert pool.count == 8 and _ids(tinygan.tensor(pool.images[:8])) == list(range(8))
    out = pool.query(_batch(8))           # 8 and 9 fill it; 10 and 11 meet a full pool
    assert _ids(out)[:2] == [8, 9] and pool.count == 10


def test_once_full_half_the_images_are_old_ones_swapped_for_the_fresh():
    """One image per query, so that each answer can be checked against the pool before it."""
    pool = ImagePool(50, seed=1)
    for k in range(50):
        assert _ids(pool.query(_batch(k, 1))) == [k]
    fresh_returned = old_returned = 0
    for k in range(50, 50 + 2000):
        stored_before = _ids(tinygan.tensor(pool.images))
        (got,) = _ids(pool.query(_batch(k, 1)))
        stored_after = _ids(tinygan.tensor(pool.images))
        if got == k:                                   # the fresh one, returned and not stored
            fresh_returned += 1
            assert stored_after == stored_before
        else:                                          # a stored one, whose place k took
            old_returned += 1
            j = stored_before.index(got)
            assert stored_after == stored_before[:j] + [k] + stored_before[j + 1:]
    assert fresh_returned + old_returned == 2000
    # p = 1/2 each: 2000 draws, the binomial's sd is 22.4; 5 sd either way
    assert abs(old_returned - 1000) < 5 * 22.4


def test_a_batch_is_the_same_as_its_images_one_by_one():
    a, b = ImagePool(6, seed=4), ImagePool(6, seed=4)
    a.query(_batch(0, 6))
    b.query(_batch(0, 6))
    out = _ids(a.query(_batch(6, 5)))
    # the same draws applied in order: replay them image by image on b's pool
    rng = np.random.default_rng([4, 1])
    coins, picks = rng.random(5), rng.integers(0, 6, 5)
    stored, expected = _ids(tinygan.tensor(b.images)), []
    for i, fresh in enumerate(range(6, 11)):
        if coins[i] > 0.5:
            expected.append(stored[picks[i]])
            stored[picks[i]] = fresh
        else:
            expected.append(fresh)
    assert out == expected and _ids(tinygan.tensor(a.images)) == stored


def test_the_old_image_comes_from_anywhere_in_the_pool():
    pool = ImagePool(8, seed=2)
    pool.query(_batch(0, 8))
    seen = set()
    for k in range(1, 200):
        out = _ids(pool.query(_batch(8 * k, 8)))
        seen.update(v for v in out if v < 8)       # one of the first eight, still stored
    assert seen == set(range(8))


def test_no_pool_returns_the_batch():
    pool = ImagePool(0)
    x = _batch(3)
    out = pool.query(x)
    assert _ids(out) == [3, 4, 5, 6] and pool.images is None
    assert out is not x and not out.requires_grad


def test_returned_images_are_detached():
    pool = ImagePool(4, seed=0)
    x = tinygan.tensor(np.zeros((2, 1, 2, 2)), requires_grad=True)
    y = pool.query(x * 2)
    assert not y.requires_grad


def test_state_round_trip_gives_the_same_choices():
    a = ImagePool(6, seed=5)
    for k in range(3):
        a.query(_batch(4 * k))
    state = a.state_dict()
    assert state["count"] == 6 and state["images"].shape == (6, 1, 2, 2)
    b = ImagePool(6, seed=0)
    b.load_state_dict(state)
    for k in range(3, 8):
        # exact: the same draws and copies
        np.testing.assert_array_equal(a.query(_batch(4 * k)).data, b.query(_batch(4 * k)).data)
    np.testing.assert_array_equal(a.images, b.images)    # exact: the same copies


def test_empty_state_round_trip():
    b = ImagePool(6)
    b.load_state_dict(ImagePool(6, seed=3).state_dict())
    assert b.images is None and b.count == 0 and b.seed == 3


def test_errors():
    with pytest.raises(ValueError, match="ImagePool: pool_size must be a whole number >= 0, got -1"):
        ImagePool(-1)
    pool = ImagePool(4)
    with pytest.raises(ValueError, match=r"ImagePool.query: expected images \(N, C, H, W\), got \(2, 2\)"):
        pool.query(tinygan.zeros(2, 2))
    pool.query(tinygan.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"images of shape \(1, 3, 3\) for a pool of images of "
                                         r"shape \(1, 2, 2\)"):
        pool.query(tinygan.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="the state is of a pool of 4 images, this pool holds 5"):
        ImagePool(5).load_state_dict(pool.state_dict())
