"""Pictures: image grids and training curves, written as PNG files with matplotlib.

matplotlib is switched to its file-only ``Agg`` backend here, so runs work on
machines without a display.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from . import backend


def _plt():
    import matplotlib
    if os.environ.get("MPLBACKEND") is None and matplotlib.get_backend().lower() != "agg":
        try:
            matplotlib.use("Agg")
        except Exception:  # an interactive backend already in use (a notebook): keep it
            pass
    import matplotlib.pyplot as plt
    return plt


def image_grid(images, nrow: int = 8, padding: int = 2, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Tile images (N, C, H, W) into one (H', W', C) float array in [0, 1], ``nrow`` per row."""
    a = images.data if hasattr(images, "data") and not isinstance(images, np.ndarray) else images
    a = np.asarray(backend.to_device(a, "cpu"), dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"image_grid: expected images (N, C, H, W), got shape {a.shape}")
    lo, hi = value_range
    a = np.clip((a - lo) / (hi - lo), 0.0, 1.0)
    n, c, h, w = a.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    grid = np.ones((rows * (h + padding) + padding, ncol * (w + padding) + padding, c), np.float32)
    for k in range(n):
        r, q = divmod(k, ncol)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = a[k].transpose(1, 2, 0)
    return grid


def save_image_grid(images, path, nrow: int = 8, title: str | None = None,
                    value_range=(-1.0, 1.0)) -> Path:
    """Write a grid of images (N, C, H, W) to a PNG file; returns the path."""
    plt = _plt()
    grid = image_grid(images, nrow=nrow, value_range=value_range)
    h, w = grid.shape[:2]
    fig = plt.figure(figsize=(max(w / 40, 2), max(h / 40, 2) + (0.4 if title else 0)), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1 if not title else 0.92])
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_curves(records: Sequence[dict], keys: Sequence[str], path, x: str = "step",
                title: str | None = None) -> Path:
    """Plot ``keys`` of a list of metric dicts against ``x``; one line per key."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for k in keys:
        pts = [(r[x], r[k]) for r in records if k in r and x in r]
        if pts:
            ax.plot(*zip(*pts), label=k, lw=1)
    ax.set_xlabel(x)
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
