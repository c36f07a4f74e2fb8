"""BigGAN-lite's pictures (Brock et al. 2019): the truncation sweep (sec. 3.1, Fig. 2 (a)), the
interpolations within a class and between classes (Fig. 8), and the self-attention's map.

- ``truncation_sweep``: the same few z's, each truncated at the thresholds t = 2, 1, 0.5, 0.25
  (the entries with |z_i| > t resampled, ``BigGAN.truncate``, once per threshold so every
  class sees the same truncated z), drawn for every class: one row per class, one group of
  columns per threshold.  As t falls the samples of a row grow alike and cleaner -- the
  variety traded for quality.
- ``interpolation_within_class``: one row per class, the columns walking from one fixed z to
  another by slerp at that row's label.  Slerp, not a straight line, because G sees z itself
  (there is no mapping network normalizing it, as StyleGAN's has): z ~ N(0, I) in 64
  dimensions has a norm of about sqrt(64) = 8 (a chi distribution, standard deviation about
  0.7), and the midpoint of the line between two independent z's has a norm of about
  8 / sqrt(2) = 5.7, a z that G practically never saw in training -- the middle of a line
  drifts towards the "average" image.  Slerp keeps the norm between the two ends' and walks
  the great circle between them at a constant speed (``stylegan_pictures.slerp``).
- ``interpolation_between_classes``: one z per row held fixed while the shared class
  embedding goes in a straight line from one class's to another's -- BigGAN's class
  interpolation, possible because the class enters G only through that one embedding
  (``Generator.from_embedding``).  Linear there: the embeddings are learned points, not draws
  from a Gaussian, so there is no shell for a line to fall inside of.
- ``attention_maps``: for a few query positions of one sample, where G's SelfAttention2d at
  16x16 reads from (its softmax beta, SAGAN eq. 1), over the 8x8 grid of pooled keys; drawn
  over the sample by ``tinygan.viz.save_attention_maps``.

``biggan_pictures`` writes them all as truncation.png, interpolation_within_class.png,
interpolation_between_classes.png and attention.png; the other functions return NumPy arrays
(for tests and notebooks).  Each is deterministic given ``seed``: the z's and the resampled
entries come from tinygan's generator seeded with it, and its state is put back afterwards,
so drawing in the middle of training changes none of the training's random numbers.  The
images are made as the sample grids are (``tinygan.train.loop.sampling``: BatchNorm on the
statistics of the batch drawn, buffers and mode restored), each picture as one batch.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor
from ..creation import randn
from ..viz import save_attention_maps, save_image_rows
from .loop import generate, sampling
from .stylegan_pictures import slerp

THRESHOLDS = (2.0, 1.0, 0.5, 0.25)
STEPS = 8                      # columns of an interpolation
# Pairs of classes whose digits share strokes, so the walk between them is easy to follow.
CLASS_PAIRS = ((1, 7), (3, 8), (4, 9), (0, 6), (2, 5))
# Query positions (row, column) on the 16x16 grid of G's attention: the centre and four
# points around it, where a digit's strokes usually pass.
QUERIES = ((8, 8), (4, 8), (12, 8), (8, 4), (8, 12))


def _cpu(t) -> np.ndarray:
    return np.asarray(backend.to_device(t.data if isinstance(t, Tensor) else t, "cpu"))


def _to(array: np.ndarray, device) -> Tensor:
    return Tensor(backend.to_device(np.ascontiguousarray(array), device))


@contextlib.contextmanager
def _drawing(model, seed: int):
    """``sampling(model)`` (no_grad, batch statistics, buffers, generator and mode restored)
    with tinygan's generator seeded with ``seed`` inside it."""
    with sampling(model):
        random.manual_seed(seed)
        yield


def _check_classes(model, classes, op: str) -> None:
    bad = [c for c in classes if isinstance(c, bool) or int(c) != c
           or not 0 <= int(c) < model.num_classes]
    if bad:
        raise ValueError(f"{op}: classes must be whole numbers in 0..{model.num_classes - 1}, "
                         f"got {bad}")


def _check_z(model, z, rows: int, op: str) -> None:
    if z is not None and tuple(z.shape) != (rows, model.latent_dim):
        raise ValueError(f"{op}: z must have shape ({rows}, {model.latent_dim}), got "
                         f"{tuple(z.shape)}")


def _check_steps(steps, op: str) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"{op}: steps must be a whole number >= 2 (the two ends), got {steps!r}")


def truncation_sweep(model, seed: int = 0, n: int = 3, thresholds=THRESHOLDS) -> np.ndarray:
    """-> (num_classes, len(thresholds) * n, C, 32, 32) in [-1, 1]: row k is class k, columns
    j * n .. j * n + n - 1 the n z's truncated at ``thresholds[j]``."""
    device = model._device(None)
    k = model.num_classes
    with _drawing(model, seed):
        z = randn(n, model.latent_dim, device=device)
        truncated = [model.truncate(z, t) for t in thresholds]      # (n, z_dim) each
        zs = np.concatenate([_cpu(t) for t in truncated])
    # Every class row gets the same len(thresholds) * n z's.
    labels = np.repeat(np.arange(k, dtype=np.int64), len(zs))
    images = generate(model, _to(np.tile(zs, (k, 1)), device), _to(labels, device))
    return np.clip(images.reshape(k, len(zs), *images.shape[1:]), -1.0, 1.0)


def interpolation_within_class(model, seed: int = 0, steps: int = STEPS, classes=None,
                               z=None) -> np.ndarray:
    """Slerp in z at a fixed label -> (len(classes), steps, C, 32, 32) in [-1, 1].

    Row r is class ``classes[r]`` (default every class), column j the z at fraction
    j / (steps - 1) of the way from z_0 to z_1 (``slerp``; the two ends are z_0 and z_1 bit for
    bit).  Every row walks the same path.  ``z`` (2, z_dim) replaces the seeded draw of
    z_0, z_1."""
    op = "interpolation_within_class"
    _check_steps(steps, op)
    classes = tuple(range(model.num_classes)) if classes is None else tuple(classes)
    _check_classes(model, classes, op)
    _check_z(model, z, 2, op)
    device = model._device(None)
    with _drawing(model, seed):
        ends = _cpu(randn(2, model.latent_dim, device=device) if z is None else z)
        path = slerp(ends[0], ends[1], np.linspace(0.0, 1.0, steps))        # (steps, z_dim)
        labels = np.repeat(np.asarray(classes, dtype=np.int64), steps)
        images = model.generate(_to(np.tile(path, (len(classes), 1)), device),
                                _to(labels, device))
    return np.clip(_cpu(images).reshape(len(classes), steps, *images.shape[1:]), -1.0, 1.0)


def interpolation_between_classes(model, seed: int = 0, steps: int = STEPS, pairs=CLASS_PAIRS,
                                  z=None) -> np.ndarray:
    """The shared class embedding from one class's to another's at a fixed z ->
    (len(pairs), steps, C, 32, 32) in [-1, 1].

    Row r holds its own z_r fixed and feeds G (``Generator.from_embedding``) the embedding
    (1 - t) e_a + t e_b, (a, b) = ``pairs[r]``, t = j / (steps - 1) in column j: the first
    column is class a's image of z_r, the last class b's (their embeddings bit for bit).
    ``z`` (len(pairs), z_dim) replaces the seeded draws."""
    op = "interpolation_between_classes"
    _check_steps(steps, op)
    pairs = tuple(tuple(p) for p in pairs)
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError(f"{op}: pairs must be (from, to) classes, got {pairs!r}")
    _check_classes(model, [c for p in pairs for c in p], op)
    _check_z(model, z, len(pairs), op)
    device = model._device(None)
    with _drawing(model, seed):
        zs = _cpu(randn(len(pairs), model.latent_dim, device=device) if z is None else z)
        table = _cpu(model.G.shared.weight)                                # (classes, shared_dim)
        a = table[[p[0] for p in pairs]][:, None]                          # (rows, 1, shared_dim)
        b = table[[p[1] for p in pairs]][:, None]
        t = np.linspace(0.0, 1.0, steps).astype(table.dtype)[None, :, None]
        # At t = 0 and 1 one term is 0 * e, and 1 * e = e: the ends are the embeddings exactly.
        shared = ((1 - t) * a + t * b).reshape(len(pairs) * steps, -1)
        images = model.G.from_embedding(_to(np.repeat(zs, steps, axis=0), device),
                                        _to(shared, device))
    return np.clip(_cpu(images).reshape(len(pairs), steps, *images.shape[1:]), -1.0, 1.0)


def attention_maps(model, seed: int = 0, label: int = 0, queries=QUERIES, z=None) -> tuple:
    """Where G's self-attention at 16x16 looks, for the sample of class ``label`` ->
    ``(image (C, 32, 32) in [-1, 1], maps (len(queries), 8, 8))``.

    The sample is drawn in a batch of one sample per class (z (num_classes, z_dim) seeded,
    or ``z``; labels 0..K-1), as the sample grids are, and is row ``label`` of it.  maps[q]
    is the attention row of the query position ``queries[q]`` = (row, column) of the 16x16
    grid: beta_ji over the 8x8 grid of 2x2-pooled keys (SAGAN eq. 1), summing to 1; key
    (r', c') covers the pixels 4r'..4r'+3, 4c'..4c'+3 of the 32x32 image, query (r, c) the
    pixels 2r..2r+1, 2c..2c+1."""
    op = "attention_maps"
    if model.G.attention is None:
        raise ValueError(f"{op}: this BigGAN was built with attention=False, so G has no "
                         f"attention map to draw")
    k = model.num_classes
    _check_classes(model, [label], op)
    _check_z(model, z, k, op)
    queries = np.asarray(queries, dtype=np.int64).reshape(-1, 2)
    device = model._device(None)
    with _drawing(model, seed):
        z = randn(k, model.latent_dim, device=device) if z is None else z
        images, beta = model.G(z, _to(np.arange(k, dtype=np.int64), device),
                               return_attention=True)
    side = int(round(beta.shape[1] ** 0.5))                             # 16: the query grid
    if (queries < 0).any() or (queries >= side).any():
        raise ValueError(f"{op}: query positions must lie on the {side}x{side} grid of the "
                         f"attention, got {queries.tolist()}")
    keys = int(round(beta.shape[2] ** 0.5))                             # 8: the pooled keys
    rows = _cpu(beta)[label, queries[:, 0] * side + queries[:, 1]]      # (Q, keys * keys)
    return np.clip(_cpu(images)[label], -1.0, 1.0), rows.reshape(len(queries), keys, keys)


def biggan_pictures(model, out_dir, seed: int = 0, title: str = "") -> list:
    """Write truncation.png, interpolation_within_class.png, interpolation_between_classes.png
    and attention.png (when G has its attention block) into ``out_dir``; returns the paths
    written."""
    out = Path(out_dir)
    prefix = f"{title}: " if title else ""
    rows = [f"class {c}" for c in range(model.num_classes)]
    groups = " | ".join(f"t {t:g}" for t in THRESHOLDS)
    paths = [save_image_rows(truncation_sweep(model, seed), out / "truncation.png",
                             row_labels=rows, title=f"{prefix}truncation, the same z's: {groups}")]
    paths.append(save_image_rows(
        interpolation_within_class(model, seed), out / "interpolation_within_class.png",
        row_labels=rows, title=f"{prefix}slerp between the same two z's, one class per row"))
    paths.append(save_image_rows(
        interpolation_between_classes(model, seed), out / "interpolation_between_classes.png",
        row_labels=[f"{a} -> {b}" for a, b in CLASS_PAIRS],
        title=f"{prefix}the class embedding from one class to another, one z per row"))
    if model.G.attention is not None:          # not for the ablation without attention
        image, maps = attention_maps(model, seed)
        paths.append(save_attention_maps(
            image, maps, QUERIES, out / "attention.png",
            title=f"{prefix}where G's self-attention at 16x16 looks (class 0)"))
    return paths


__all__ = ["THRESHOLDS", "STEPS", "CLASS_PAIRS", "QUERIES", "truncation_sweep",
           "interpolation_within_class", "interpolation_between_classes", "attention_maps",
           "biggan_pictures"]
