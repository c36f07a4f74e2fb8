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
    drawn = 0
    for k in keys:
        pts = [(r[x], r[k]) for r in records if k in r and x in r]
        if pts:
            ax.plot(*zip(*pts), label=k, lw=1)
            drawn += 1
    ax.set_xlabel(x)
    if drawn:                  # a legend of no lines makes matplotlib warn on stderr
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


def save_image_rows(rows, path, row_labels: Sequence[str] | None = None, title: str | None = None,
                    value_range=(-1.0, 1.0)) -> Path:
    """Write rows of images (R, C, ch, H, W) as one grid, R rows of C, with a label left of
    each row (latent traversals: one row per latent, ``row_labels`` like ``"z3 (KL 4.1)"``)."""
    plt = _plt()
    a = rows.data if hasattr(rows, "data") and not isinstance(rows, np.ndarray) else rows
    a = np.asarray(backend.to_device(a, "cpu"), dtype=np.float32)
    if a.ndim != 5:
        raise ValueError(f"save_image_rows: expected images (R, C, ch, H, W), got shape {a.shape}")
    r, c = a.shape[:2]
    if row_labels is not None and len(row_labels) != r:
        raise ValueError(f"save_image_rows: {len(row_labels)} row labels for {r} rows")
    padding = 2
    grid = image_grid(a.reshape(r * c, *a.shape[2:]), nrow=c, padding=padding, value_range=value_range)
    h, w = grid.shape[:2]
    left = 0.9 if row_labels is not None else 0.0            # inches for the labels
    top = 0.45 if title else 0.0                              # inches for the title
    fig_w, fig_h = max(w / 40, 2) + left, max(h / 40, 1) + top
    fig = plt.figure(figsize=(fig_w, fig_h), dpi=100)
    ax = fig.add_axes([left / fig_w, 0, 1 - left / fig_w, 1 - top / fig_h])
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.axis("off")
    if row_labels is not None:
        ih = a.shape[3]
        for i, label in enumerate(row_labels):
            ax.text(-3, padding + i * (ih + padding) + ih / 2, label, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.12 / fig_h, va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_latent_scatter(z, labels, path, title: str | None = None, num_classes: int = 10) -> Path:
    """Scatter 2-D latent codes z (N, 2) coloured by their digit labels (N,), with a colorbar."""
    plt = _plt()
    z = np.asarray(backend.to_device(getattr(z, "data", z), "cpu"), dtype=np.float64)
    labels = np.asarray(backend.to_device(getattr(labels, "data", labels), "cpu")).reshape(-1)
    if z.ndim != 2 or z.shape[1] != 2 or len(labels) != len(z):
        raise ValueError(f"plot_latent_scatter: expected z (N, 2) and labels (N,), got {z.shape} "
                         f"and {labels.shape}")
    fig, ax = plt.subplots(figsize=(5.5, 4.6), dpi=100)
    cmap = plt.get_cmap("tab10", num_classes)
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5,
                        s=3, alpha=0.7, linewidths=0)
    bar = fig.colorbar(points, ax=ax, ticks=range(num_classes))
    bar.set_label("digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
