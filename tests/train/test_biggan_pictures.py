"""BigGAN-lite's pictures: every cell against G called directly on the batch the picture
stands for, determinism, and the random generator, the mode and the buffers put back.

G normalizes with the statistics of the batch it draws (``loop.sampling``, as the sample
grids), so a cell is compared with G on the whole batch it was drawn in, built here from its
own parts: the z's, the labels or the embeddings of every row and column.
"""
import matplotlib.image as mpimg
import numpy as np
import pytest

import tinygan
from tinygan.models.biggan import BigGAN
from tinygan.train import biggan_pictures as bp
from tinygan.train.loop import sampling
from tinygan.train.stylegan_pictures import slerp

from gan_helpers import assert_same_state
from tolerances import assert_within, eps

K = 10


@pytest.fixture(scope="module")
def model():
    tinygan.manual_seed(1)
    m = BigGAN("cpu")
    # The attention's gamma away from 0 (as after training), so that the map acts on the images.
    m.G.attention.gamma.data[...] = 0.5
    return m


def _direct(model, z, labels=None, shared=None):
    """G on one batch, as the pictures draw it: (N, C, 32, 32) clipped to [-1, 1]."""
    with sampling(model):
        z = tinygan.tensor(np.ascontiguousarray(z))
        if shared is not None:
            out = model.G.from_embedding(z, tinygan.tensor(np.ascontiguousarray(shared)))
        else:
            out = model.G(z, tinygan.tensor(np.asarray(labels, np.int64)))
    return np.clip(out.numpy(), -1, 1)


def _buffers(model):
    return {k: np.array(b.data) for k, b in model.named_buffers()}


def _z(rows, seed):
    return np.random.default_rng(seed).standard_normal((rows, 64)).astype(np.float32)


def test_within_class_ends_are_the_two_z_at_every_class(model):
    z = _z(2, 0)
    pic = bp.interpolation_within_class(model, z=tinygan.tensor(z), steps=2)
    assert pic.shape == (K, 2, 1, 32, 32)
    # Two steps: the ends only, z_0 and z_1 for every class.
    direct = _direct(model, np.tile(z, (K, 1)), np.repeat(np.arange(K), 2))
    # exact: slerp returns the ends as given, so this is G's very call on the same batch
    np.testing.assert_array_equal(pic, direct.reshape(K, 2, 1, 32, 32))


def test_within_class_cells_are_g_of_the_slerp_path(model):
    z = _z(2, 1)
    classes, steps = (3, 8), 5
    pic = bp.interpolation_within_class(model, z=tinygan.tensor(z), steps=steps, classes=classes)
    path = slerp(z[0], z[1], np.linspace(0, 1, steps))        # tests/train/test_stylegan_pictures
    direct = _direct(model, np.tile(path, (2, 1)), np.repeat(classes, steps))
    # exact: the same z's (slerp is deterministic), labels and batch through the same call
    np.testing.assert_array_equal(pic, direct.reshape(2, steps, 1, 32, 32))
    # The path keeps the norm between the ends' (the middle of a line would lose ~1/sqrt(2)).
    norms = np.linalg.norm(path, axis=1)
    assert (norms >= min(norms[0], norms[-1]) * (1 - 1e-6)).all()
    assert not np.array_equal(pic[0, 2], pic[0, 0]) and not np.array_equal(pic[0, 2], pic[1, 2])


def test_between_classes_ends_are_the_two_classes_at_one_z(model):
    pairs = ((1, 7), (3, 8), (0, 9))
    z = _z(3, 2)
    pic = bp.interpolation_between_classes(model, z=tinygan.tensor(z), steps=2, pairs=pairs)
    assert pic.shape == (3, 2, 1, 32, 32)
    # Two steps: row r is G(z_r, a_r), G(z_r, b_r) -- the plain class-conditional G by labels.
    direct = _direct(model, np.repeat(z, 2, axis=0), np.array(pairs).reshape(-1))
    # exact: (1 - t) e_a + t e_b at t = 0, 1 is e_a, e_b bit for bit, and G(z, y) is
    # from_embedding(z, shared(y)): the same call on the same batch
    np.testing.assert_array_equal(pic, direct.reshape(3, 2, 1, 32, 32))


def test_between_classes_cells_are_g_of_the_embedding_line(model):
    pairs, steps = ((4, 9), (2, 5)), 4
    z = _z(2, 3)
    pic = bp.interpolation_between_classes(model, z=tinygan.tensor(z), steps=steps, pairs=pairs)
    table = model.G.shared.weight.detach().numpy()
    t = np.linspace(0, 1, steps, dtype=np.float32)
    shared = np.stack([(1 - s) * table[a] + s * table[b] for a, b in pairs for s in t])
    direct = _direct(model, np.repeat(z, steps, axis=0), shared=shared)
    # exact: the same float32 arithmetic on the same numbers, the same batch and call
    np.testing.assert_array_equal(pic, direct.reshape(2, steps, 1, 32, 32))
    # Each row holds its z: the columns differ by the class alone, and change along the row.
    assert not np.array_equal(pic[0, 1], pic[0, 0]) and not np.array_equal(pic[0, 1], pic[0, 2])


def test_attention_maps_are_gs_beta_at_the_queries(model):
    z = _z(K, 4)
    queries = ((8, 8), (0, 15), (15, 0))
    label = 6
    image, maps = bp.attention_maps(model, z=tinygan.tensor(z), label=label, queries=queries)
    assert image.shape == (1, 32, 32) and maps.shape == (3, 8, 8)
    with sampling(model):
        out, beta = model.G(tinygan.tensor(z), tinygan.tensor(np.arange(K)), return_attention=True)
    beta = beta.numpy()
    assert beta.shape == (K, 256, 64)
    # exact: the same call on the same batch; the query (r, c) is row r * 16 + c
    np.testing.assert_array_equal(image, np.clip(out.numpy()[label], -1, 1))
    for q, (r, c) in enumerate(queries):
        np.testing.assert_array_equal(maps[q], beta[label, r * 16 + c].reshape(8, 8))
    # A softmax over the 64 keys: each map sums to 1 up to the rounding of 64 float32 terms.
    assert_within(maps.sum(axis=(1, 2)), np.ones(3), 2 * 64 * eps(np.float32), "sum of a map")
    assert (maps >= 0).all()
    assert not np.array_equal(maps[0], maps[1])       # another query looks elsewhere
    with pytest.raises(ValueError, match="16x16 grid"):
        bp.attention_maps(model, queries=((16, 0),))
    with pytest.raises(ValueError, match="classes must be whole numbers in 0..9"):
        bp.attention_maps(model, label=10)


def _arrays(result) -> tuple:
    """A picture's arrays: attention_maps gives (image, maps), the others one array."""
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("picture", [bp.truncation_sweep, bp.interpolation_within_class,
                                     bp.interpolation_between_classes, bp.attention_maps])
def test_deterministic_rng_mode_and_buffers_restored(model, picture):
    for training in (True, False):
        model.train(training)
        tinygan.manual_seed(7)
        state, buffers = tinygan.random.get_rng_state(), _buffers(model)
        a = _arrays(picture(model, seed=5))
        assert model.training is training                           # the mode is put back,
        assert_same_state(tinygan.random.get_rng_state(), state)    # the generator,
        assert_same_state(_buffers(model), buffers)   # BatchNorm's averages and the u's
        b, c = _arrays(picture(model, seed=5)), _arrays(picture(model, seed=6))
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)       # exact: same seed, same computation
            assert np.isfinite(x).all()
        assert not np.array_equal(a[0], c[0])         # another seed, other z's


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match=r"interpolation_within_class: z must have shape \(2, 64\)"):
        bp.interpolation_within_class(model, z=tinygan.randn(3, 64))
    with pytest.raises(ValueError, match="steps must be a whole number >= 2"):
        bp.interpolation_within_class(model, steps=1)
    with pytest.raises(ValueError, match="pairs must be"):
        bp.interpolation_between_classes(model, pairs=((1, 2, 3),))
    with pytest.raises(ValueError, match=r"classes must be whole numbers in 0..9, got \[12\]"):
        bp.interpolation_between_classes(model, pairs=((1, 12),))


def test_pngs_written(model, tmp_path):
    paths = bp.biggan_pictures(model, tmp_path, seed=2, title="t")
    assert sorted(p.name for p in paths) == ["attention.png", "interpolation_between_classes.png",
                                             "interpolation_within_class.png", "truncation.png"]
    for p in paths:
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 32 and img.shape[1] > 32
        assert img.std() > 0                          # not a blank page
