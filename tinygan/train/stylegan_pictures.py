"""StyleGAN-lite's pictures: the figures that show what the mapping network, the styles and
the noise do (Karras et al. 2019, "A Style-Based Generator Architecture", Figs. 3, 4, 8;
StyleGAN2, Karras et al. 2020, sec. 2.2).

Each figure is a function of a StyleGAN model that returns NumPy arrays, so that tests and
notebooks can look at the numbers; ``stylegan_pictures`` draws them all into PNG files.

- ``style_mixing_grid``: row sources A, column sources B; cell (i, j) takes A_i's ws for the
  coarse layers (the convolutions at 4x4 and 8x8) and B_j's for the fine ones (16x16, 32x32),
  so rows share the overall shape and columns the stroke details.  The first row and column
  show the sources themselves, as in StyleGAN's Fig. 3.
- ``truncation_sweep``: the same z's at psi 1, 0.7, 0.5, 0 (StyleGAN App. B,
  w' = w_avg + psi (w - w_avg)); psi 0 is the image of w_avg for every z.
- ``noise_variation``: one w, several noise draws, and the per-pixel standard deviation of
  the images over the draws (StyleGAN Fig. 4): where the noise matters.
- ``interpolation``: between the same two z's, linearly in W (the W path the paper measures
  with its perceptual path length, StyleGAN sec. 4.1) beside slerp in Z.  Slerp, not a straight
  line, in Z because z ~ N(0, I) lives near the sphere of radius sqrt(z_dim) and the mapping
  network normalizes z to that sphere anyway (normalize_2nd_moment): a straight line between
  two z's cuts inside the sphere, and after normalization it walks the same great circle at an
  uneven speed (and through 0, where normalization is undefined, for opposite z's); slerp walks
  it at constant speed, as the reference code's path-length metric does in Z.

Every figure except the noise variation uses noise_mode 'const' (each layer's fixed noise
image), so that the only thing varying across a figure is what the figure is about.

All of them are deterministic given ``seed``: the z's come from tinygan's generator seeded
with it, and the generator's state is put back afterwards, so drawing pictures in the middle
of training does not change the training's random numbers.  They run under no_grad with the
model in eval mode (its mode restored after).  G's output is in (-1, 1) (tanh), except with
``linear_output``, the reference code's unbounded image; images are clipped to [-1, 1] for
display either way.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..models.base import cycling_labels
from ..viz import save_image_rows

TRUNCATION_PSIS = (1.0, 0.7, 0.5, 0.0)
COARSE_RESOLUTIONS = (4, 8)       # the "coarse styles" of StyleGAN Fig. 3 (4^2 - 8^2)


def _cpu(t) -> np.ndarray:
    return np.asarray(backend.to_device(t.data if isinstance(t, Tensor) else t, "cpu"))


def _display(images: np.ndarray) -> np.ndarray:
    """G's output clipped to the data's range [-1, 1] (it leaves it only with linear_output)."""
    return np.clip(images, -1.0, 1.0)


@contextlib.contextmanager
def _picture_mode(model, seed: int):
    """Eval mode, no_grad, the generator seeded with ``seed``; all put back on exit."""
    was_training = model.training
    state = random.get_rng_state()
    model.eval()
    try:
        random.manual_seed(seed)
        with no_grad():
            yield
    finally:
        random.set_rng_state(state)
        model.train(was_training)


def _device(model):
    return model._device(None)


def _onehot(model, labels, n: int, dtype):
    """The one-hot labels the mapping network takes (None for an unconditional model);
    without labels a conditional model cycles the classes, as ``generate`` does."""
    if not model.conditional:
        return None
    if labels is None:
        labels = cycling_labels(n, model.num_classes, _device(model))
    return model._onehot(labels, n, dtype, "stylegan_pictures")


def mapping(model, z: Tensor, labels: Tensor | None = None, truncation_psi: float = 1,
            truncation_cutoff: int | None = None) -> Tensor:
    """z (N, z_dim) -> ws (N, num_ws, w_dim) through the model's mapping network."""
    c = _onehot(model, labels, z.shape[0], z.dtype)
    return model.G.mapping(z, c, truncation_psi, truncation_cutoff)


def num_coarse_ws(model) -> int:
    """How many ws (from the first) drive the convolutions at 4x4 and 8x8: 3 (one conv at 4x4,
    two at 8x8).  The 8x8 ToRGB shares ws[3] with the first 16x16 conv, as in the reference
    code, so it counts with the fine layers: the coarse ws decide the shape, the fine ones the
    strokes (and the last ToRGB)."""
    n = 0
    for block in model.G.synthesis.blocks:
        if block.resolution in COARSE_RESOLUTIONS:
            n += block.num_conv
    return n


def mix_ws(ws_coarse: Tensor, ws_fine: Tensor, crossover: int) -> Tensor:
    """Every pair: (A, num_ws, w_dim), (B, num_ws, w_dim) -> (A * B, num_ws, w_dim), row-major
    (pair (i, j) at i * B + j), the first ``crossover`` ws from A_i and the rest from B_j."""
    a, b = ws_coarse.shape[0], ws_fine.shape[0]
    wa, wb = _cpu(ws_coarse), _cpu(ws_fine)
    mixed = np.concatenate([np.repeat(wa[:, None, :crossover], b, axis=1),
                            np.repeat(wb[None, :, crossover:], a, axis=0)], axis=2)
    return Tensor(backend.to_device(np.ascontiguousarray(mixed.reshape(a * b, *wa.shape[1:])),
                                    ws_coarse.device))


def style_mixing_grid(model, seed: int = 0, rows: int = 4, cols: int = 6, z_rows=None,
                      z_cols=None) -> np.ndarray:
    """StyleGAN Fig. 3 -> (rows + 1, cols + 1, C, 32, 32) in [-1, 1].

    [0, 0] is blank (-1, the background); [0, 1 + j] is column source B_j, [1 + i, 0] row
    source A_i, [1 + i, 1 + j] A_i's coarse ws with B_j's fine ones.  ``z_rows`` (rows, z_dim)
    and ``z_cols`` (cols, z_dim) replace the seeded draws when given."""
    with _picture_mode(model, seed):
        dev = _device(model)
        za = randn(rows, model.latent_dim, device=dev) if z_rows is None else z_rows
        zb = randn(cols, model.latent_dim, device=dev) if z_cols is None else z_cols
        rows, cols = za.shape[0], zb.shape[0]
        ws_a, ws_b = mapping(model, za), mapping(model, zb)
        synth = model.G.synthesis
        img_a = _cpu(synth(ws_a, noise_mode="const"))
        img_b = _cpu(synth(ws_b, noise_mode="const"))
        mixed = _cpu(synth(mix_ws(ws_a, ws_b, num_coarse_ws(model)), noise_mode="const"))
    shape = img_a.shape[1:]
    grid = np.full((rows + 1, cols + 1) + shape, -1.0, dtype=img_a.dtype)
    grid[0, 1:] = img_b
    grid[1:, 0] = img_a
    grid[1:, 1:] = mixed.reshape(rows, cols, *shape)
    return _display(grid)


def truncation_sweep(model, seed: int = 0, n: int = 8, psis=TRUNCATION_PSIS,
                     truncation_cutoff: int | None = None, z=None) -> np.ndarray:
    """The same n z's at each psi -> (len(psis), n, C, 32, 32) in [-1, 1], one row per psi."""
    with _picture_mode(model, seed):
        z = randn(n, model.latent_dim, device=_device(model)) if z is None else z
        out = [_cpu(model.generate(z, truncation_psi=psi, truncation_cutoff=truncation_cutoff,
                                   noise_mode="const")) for psi in psis]
    return _display(np.stack(out))


def noise_variation(model, seed: int = 0, draws: int = 8, z=None) -> tuple:
    """One w, ``draws`` fresh noise draws -> (images (draws, C, 32, 32) in [-1, 1],
    std (C, 32, 32)): the per-pixel standard deviation over the draws of G's (unclipped)
    output.  ``z`` (1, z_dim) replaces the seeded draw when given."""
    with _picture_mode(model, seed):
        z = randn(1, model.latent_dim, device=_device(model)) if z is None else z
        ws = mapping(model, z)
        # One draw per call (batch 1), so that the draws differ by their noise alone: a batch
        # of copies of w may round differently per row in the matrix products.
        images = np.concatenate([_cpu(model.G.synthesis(ws, noise_mode="random"))
                                 for _ in range(draws)])
    # In float64: the sum of a few equal float32 numbers is exact there, so equal draws give a
    # std of exactly 0 (in float32 their mean can round away from them).
    return _display(images), images.astype(np.float64).std(axis=0)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation of rows a, b (D,) at fractions t (T,) -> (T, D): constant angular
    speed along the great circle, the norm interpolated linearly (Shoemake 1985)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    cos = np.clip(a64 @ b64 / max(na * nb, 1e-30), -1.0, 1.0)
    omega = math.acos(cos)
    t = np.asarray(t, dtype=np.float64)[:, None]
    if omega < 1e-6:                                     # parallel: the line is the arc
        return ((1 - t) * a64 + t * b64).astype(a.dtype)
    ua, ub = a64 / na, b64 / nb
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / math.sin(omega)
    path = direction * ((1 - t) * na + t * nb)
    # The ends are the sources bit for bit (the formula gives them up to rounding), so that the
    # first and last pictures are those of the z's themselves.
    path[t[:, 0] == 0], path[t[:, 0] == 1] = a64, b64
    return path.astype(a.dtype)


def interpolation(model, seed: int = 0, steps: int = 8, z=None) -> np.ndarray:
    """Between two z's -> (2, steps, C, 32, 32) in [-1, 1]: row 0 linear in W between their
    ws, row 1 slerp in Z between the z's themselves.  ``z`` (2, z_dim) replaces the draws.
    A conditional model keeps the first class (label 0) along both paths."""
    t = np.linspace(0.0, 1.0, steps)
    with _picture_mode(model, seed):
        dev = _device(model)
        z = randn(2, model.latent_dim, device=dev) if z is None else z
        labels = Tensor(backend.to_device(np.zeros(steps, np.int64), dev))
        ends = _cpu(mapping(model, z, labels[:2]))                        # (2, num_ws, w_dim)
        tw = t.astype(ends.dtype)[:, None, None]
        ws = (1 - tw) * ends[0] + tw * ends[1]                            # (steps, num_ws, w_dim)
        in_w = _cpu(model.G.synthesis(Tensor(backend.to_device(ws, dev)), noise_mode="const"))
        zz = _cpu(z)
        zs = Tensor(backend.to_device(slerp(zz[0], zz[1], t), dev))
        in_z = _cpu(model.G.synthesis(mapping(model, zs, labels), noise_mode="const"))
    return _display(np.stack([in_w, in_z]))


def _std_display(std: np.ndarray) -> np.ndarray:
    """A std image (C, H, W) scaled to [-1, 1] for display: 0 black, its maximum white."""
    top = float(std.max())
    return (std / top * 2 - 1) if top > 0 else np.full_like(std, -1.0)


def stylegan_pictures(model, out_dir, seed: int = 0, title: str = "") -> list:
    """Write style_mixing.png, truncation.png, noise_variation.png and interpolation.png into
    ``out_dir``; deterministic given ``seed``.  Returns the paths written."""
    out = Path(out_dir)
    prefix = f"{title}: " if title else ""
    paths = []
    grid = style_mixing_grid(model, seed)
    paths.append(save_image_rows(
        grid, out / "style_mixing.png",
        title=f"{prefix}coarse styles (4x4, 8x8) from the rows' sources, fine (16x16, 32x32) "
              f"from the columns'"))
    sweep = truncation_sweep(model, seed)
    paths.append(save_image_rows(sweep, out / "truncation.png",
                                 row_labels=[f"psi {p:g}" for p in TRUNCATION_PSIS],
                                 title=f"{prefix}truncation towards w_avg"))
    images, std = noise_variation(model, seed)
    row = np.concatenate([images, _std_display(std)[None]])
    paths.append(save_image_rows(row[None], out / "noise_variation.png",
                                 title=f"{prefix}one w, {len(images)} noise draws, and the "
                                       f"per-pixel std (max {float(std.max()):.3g} = white)"))
    paths.append(save_image_rows(interpolation(model, seed), out / "interpolation.png",
                                 row_labels=["lerp in W", "slerp in Z"],
                                 title=f"{prefix}between the same two z's"))
    return paths
