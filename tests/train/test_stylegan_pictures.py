"""StyleGAN-lite's pictures: shapes, truncation ends, the mixing rule, noise variation, PNGs."""
import matplotlib.image as mpimg
import numpy as np
import pytest

import tinygan
from tinygan import no_grad
from tinygan.models.stylegan import StyleGAN
from tinygan.train import stylegan_pictures as sp


@pytest.fixture(scope="module")
def model():
    tinygan.manual_seed(1)
    m = StyleGAN("cpu")
    # A w_avg away from 0 (as after training), so that psi 0 is a real picture.
    m.G.mapping.w_avg.data[...] = tinygan.randn(m.G.w_dim).data * 0.5
    return m


def _clipped(images):
    return np.clip(images, -1.0, 1.0)


def test_shapes(model):
    grid = sp.style_mixing_grid(model, seed=3, rows=2, cols=3)
    assert grid.shape == (3, 4, 1, 32, 32)
    sweep = sp.truncation_sweep(model, seed=3, n=3)
    assert sweep.shape == (len(sp.TRUNCATION_PSIS), 3, 1, 32, 32)
    images, std = sp.noise_variation(model, seed=3, draws=3)
    assert images.shape == (3, 1, 32, 32) and std.shape == (1, 32, 32)
    interp = sp.interpolation(model, seed=3, steps=4)
    assert interp.shape == (2, 4, 1, 32, 32)
    for a in (grid, sweep, images, interp):
        assert a.min() >= -1.0 and a.max() <= 1.0
        assert np.isfinite(a).all()


def test_deterministic_mode_and_rng_restored(model):
    model.train()
    tinygan.manual_seed(7)
    before = tinygan.random.get_rng_state()
    a = sp.truncation_sweep(model, seed=5, n=2)
    assert model.training                             # the mode is put back
    assert tinygan.random.get_rng_state() == before   # and the generator's state
    b = sp.truncation_sweep(model, seed=5, n=2)
    c = sp.truncation_sweep(model, seed=6, n=2)
    np.testing.assert_array_equal(a, b)               # exact: same seed, same computation
    assert not np.array_equal(a, c)
    model.eval()
    sp.truncation_sweep(model, seed=5, n=2)
    assert not model.training


def test_truncation_ends(model):
    tinygan.manual_seed(11)
    z = tinygan.randn(4, model.latent_dim)
    sweep = sp.truncation_sweep(model, z=z)
    psi0 = sweep[sp.TRUNCATION_PSIS.index(0.0)]
    # exact: at psi 0 every w is w_avg + 0 * (w - w_avg) = w_avg bit for bit.
    with no_grad():
        ws = model.G.mapping(z, None, 0.0).numpy()
    np.testing.assert_array_equal(ws, np.broadcast_to(model.G.mapping.w_avg.numpy(), ws.shape))
    # So every column is the image of the same ws -- but at another row of the batch, and a BLAS
    # may round a row's products differently by its position (seen with OpenBLAS's Haswell
    # kernels: 7.6e-7 apart).  Bound: float32 rounding of each of the synthesis's 11 conv/ToRGB
    # layers, each a sum of at most 64 * 3 * 3 = 576 products, on images of size <= 1.
    bound = 11 * 576 * np.finfo(np.float32).eps * max(1.0, np.abs(psi0).max())
    for j in range(1, 4):
        np.testing.assert_allclose(psi0[j], psi0[0], rtol=0, atol=bound)
    # ... and it is the image of w_avg, not of any of the z's.
    assert not np.array_equal(psi0, sweep[0])
    model.eval()
    with no_grad():
        plain = model.generate(z, noise_mode="const").numpy()
    # exact: psi 1 skips truncation, so this is the same call on the same batch.
    np.testing.assert_array_equal(sweep[sp.TRUNCATION_PSIS.index(1.0)], _clipped(plain))


def test_mixing_rule(model):
    # 4x4 has one conv, 8x8 two: ws[0], ws[1], ws[2] drive the coarse convs.
    coarse = 0
    for block in model.G.synthesis.blocks:
        if block.resolution <= 8:
            coarse += block.num_conv
    assert sp.num_coarse_ws(model) == coarse == 3

    tinygan.manual_seed(12)
    za, zb = tinygan.randn(2, model.latent_dim), tinygan.randn(3, model.latent_dim)
    grid = sp.style_mixing_grid(model, z_rows=za, z_cols=zb)
    model.eval()
    with no_grad():
        wa, wb = model.G.mapping(za, None).numpy(), model.G.mapping(zb, None).numpy()
        num_ws = wa.shape[1]
        # The ws of every cell, layer by layer, written without mix_ws.
        ws = np.empty((2, 3, num_ws, wa.shape[2]), wa.dtype)
        for i in range(2):
            for j in range(3):
                for layer in range(num_ws):
                    ws[i, j, layer] = wa[i, layer] if layer < 3 else wb[j, layer]
        direct = model.G.synthesis(tinygan.tensor(ws.reshape(6, num_ws, -1)),
                                   noise_mode="const").numpy().reshape(2, 3, 1, 32, 32)
        src_a = model.G.synthesis(tinygan.tensor(wa), noise_mode="const").numpy()
        src_b = model.G.synthesis(tinygan.tensor(wb), noise_mode="const").numpy()
    # exact: the same synthesis call on the same batch of ws.
    np.testing.assert_array_equal(grid[1:, 1:], _clipped(direct))
    np.testing.assert_array_equal(grid[1:, 0], _clipped(src_a))
    np.testing.assert_array_equal(grid[0, 1:], _clipped(src_b))
    assert (grid[0, 0] == -1).all()                   # exact: the blank corner is filled with -1
    # Mixing changes the picture: a cell is neither of its sources.
    assert not np.array_equal(grid[1, 1], grid[1, 0]) and not np.array_equal(grid[1, 1], grid[0, 1])


def test_noise_variation_std(model):
    strengths = [p for n, p in model.named_parameters() if n.endswith("noise_strength")]
    assert len(strengths) == 7
    # At init every strength is 0: the draws are the same image.
    images, std = sp.noise_variation(model, seed=4, draws=4)
    assert (std == 0).all()                           # exact: x + noise * 0 is x
    saved = [p.data.copy() for p in strengths]
    try:
        strengths[-1].data[...] = 0.5                 # the last 32x32 conv's noise
        images, std = sp.noise_variation(model, seed=4, draws=4)
        assert (std > 0).mean() > 0.5
        assert not np.array_equal(images[0], images[1])
    finally:
        for p, s in zip(strengths, saved):
            p.data[...] = s


def test_interpolation_ends(model):
    tinygan.manual_seed(13)
    z = tinygan.randn(2, model.latent_dim)
    # Two steps: the ends only, so both paths are the same batch as generating the two z's.
    interp = sp.interpolation(model, z=z, steps=2)
    model.eval()
    with no_grad():
        ends = model.generate(z, noise_mode="const").numpy()
    # exact: at t = 0 and 1 lerp gives 1 * w + 0 * w' = w and slerp returns the z's
    # themselves, so both rows are the very computation of ``generate`` on the same batch.
    np.testing.assert_array_equal(interp[0], _clipped(ends))
    np.testing.assert_array_equal(interp[1], _clipped(ends))
    longer = sp.interpolation(model, z=z, steps=5)
    assert not np.array_equal(longer[0, 2], longer[0, 0])
    assert not np.array_equal(longer[0, 2], longer[1, 2])      # W and Z paths differ midway


def test_slerp():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(16), rng.standard_normal(16)
    t = np.linspace(0, 1, 7)
    path = sp.slerp(a, b, t)
    np.testing.assert_array_equal(path[0], a)          # exact: the ends are returned as given
    np.testing.assert_array_equal(path[-1], b)
    # constant angular speed: equal angles between neighbours
    u = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip((u[1:] * u[:-1]).sum(1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-9)
    # the norm goes linearly from |a| to |b|
    np.testing.assert_allclose(np.linalg.norm(path, axis=1),
                               (1 - t) * np.linalg.norm(a) + t * np.linalg.norm(b), rtol=1e-12)


def test_pngs_written(model, tmp_path):
    paths = sp.stylegan_pictures(model, tmp_path, seed=2)
    names = sorted(p.name for p in paths)
    assert names == ["interpolation.png", "noise_variation.png", "style_mixing.png",
                     "truncation.png"]
    for p in paths:
        img = mpimg.imread(p)
        assert img.ndim == 3 and img.shape[0] > 32 and img.shape[1] > 32
        assert img.std() > 0                          # not a blank page


def test_conditional_model():
    tinygan.manual_seed(2)
    m = StyleGAN("cpu", conditional=True)
    assert sp.style_mixing_grid(m, seed=1, rows=2, cols=2).shape == (3, 3, 1, 32, 32)
    assert sp.truncation_sweep(m, seed=1, n=2).shape == (4, 2, 1, 32, 32)
    assert sp.noise_variation(m, seed=1, draws=2)[1].shape == (1, 32, 32)
    assert sp.interpolation(m, seed=1, steps=3).shape == (2, 3, 1, 32, 32)
