"""BigGAN-lite's picture: the truncation sweep (Brock et al. 2019, sec. 3.1, Fig. 2 (a)).

The same few z's, each truncated at the thresholds t = 2, 1, 0.5, 0.25 (the entries with
|z_i| > t resampled, ``BigGAN.truncate``, once per threshold so every class sees the same
truncated z), drawn for every class: one row per class, one group of columns per threshold.
As t falls the samples of a row grow alike and cleaner -- the variety traded for quality.

``truncation_sweep`` returns the NumPy array (for tests and notebooks), ``biggan_pictures``
writes it as truncation.png.  Deterministic given ``seed``: the z's and the resampled entries
come from tinygan's generator seeded with it, and its state is put back afterwards, so drawing
in the middle of training changes none of the training's random numbers.  The images are made
as the sample grids are (``tinygan.train.loop.generate``: BatchNorm on the statistics of the
batch drawn, buffers and mode restored).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor, no_grad
from ..creation import randn
from ..viz import save_image_rows
from .loop import generate

THRESHOLDS = (2.0, 1.0, 0.5, 0.25)


def truncation_sweep(model, seed: int = 0, n: int = 3, thresholds=THRESHOLDS) -> np.ndarray:
    """-> (num_classes, len(thresholds) * n, C, 32, 32) in [-1, 1]: row k is class k, columns
    j * n .. j * n + n - 1 the n z's truncated at ``thresholds[j]``."""
    device = model._device(None)
    k = model.num_classes
    state = random.get_rng_state()
    try:
        random.manual_seed(seed)
        with no_grad():
            z = randn(n, model.latent_dim, device=device)
            truncated = [model.truncate(z, t) for t in thresholds]      # (n, z_dim) each
        zs = np.concatenate([np.asarray(backend.to_device(t.data, "cpu")) for t in truncated])
        # Every class row gets the same len(thresholds) * n z's.
        z_all = Tensor(backend.to_device(np.ascontiguousarray(np.tile(zs, (k, 1))), device))
        labels = np.repeat(np.arange(k, dtype=np.int64), len(zs))
        images = generate(model, z_all, Tensor(backend.to_device(labels, device)))
    finally:
        random.set_rng_state(state)
    return np.clip(images.reshape(k, len(zs), *images.shape[1:]), -1.0, 1.0)


def biggan_pictures(model, out_dir, seed: int = 0, title: str = "") -> list:
    """Write truncation.png into ``out_dir``; returns the paths written."""
    prefix = f"{title}: " if title else ""
    groups = " | ".join(f"t {t:g}" for t in THRESHOLDS)
    path = save_image_rows(truncation_sweep(model, seed), Path(out_dir) / "truncation.png",
                           row_labels=[f"class {c}" for c in range(model.num_classes)],
                           title=f"{prefix}truncation, the same z's: {groups}")
    return [path]


__all__ = ["THRESHOLDS", "truncation_sweep", "biggan_pictures"]
