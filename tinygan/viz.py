"""Pictures: image grids and training curves, written as PNG files with matplotlib.

matplotlib is switched to its file-only ``Agg`` backend here, so runs work on
machines without a display.
"""
from __future__ import annotations

import os
import textwrap
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


def _write(fig, path) -> Path:
    """Save a figure to ``path`` (its folder made if missing), close it; returns the Path.

    Atomically (tinygan.atomic): a picture being rewritten -- an epoch's grid, a
    ``tinygan sample --out x.png`` -- is the old one or the new one, never half of one."""
    from .atomic import atomic_write
    path = Path(path)
    try:
        atomic_write(path, lambda f: fig.savefig(f, format=path.suffix.lstrip(".") or "png"))
    finally:
        _plt().close(fig)
    return path


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


def image_grid_figure(images, nrow: int = 8, title: str | None = None, value_range=(-1.0, 1.0)):
    """A matplotlib figure of a grid of images (N, C, H, W), ``nrow`` per row."""
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
    return fig


def save_image_grid(images, path, nrow: int = 8, title: str | None = None,
                    value_range=(-1.0, 1.0)) -> Path:
    """Write a grid of images (N, C, H, W) to a PNG file; returns the path."""
    return _write(image_grid_figure(images, nrow=nrow, title=title, value_range=value_range), path)


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
    return _write(fig, path)


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
    fig_w = max(w / 40, 2) + left
    if title:
        # Wrapped to the figure's width (a 9-point character is about 0.07 inch wide), so a
        # long title on a narrow grid is not cut off at both sides.
        title = textwrap.fill(title, width=max(20, int(fig_w / 0.075)))
    top = 0.45 + 0.15 * title.count("\n") if title else 0.0     # inches for the title
    fig_h = max(h / 40, 1) + top
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
    return _write(fig, path)


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
    return _write(fig, path)


def save_attention_maps(image, maps, queries, path, title: str | None = None,
                        query_grid: tuple | None = None) -> Path:
    """Draw attention maps over the image they belong to: the image (C, H, W) in [-1, 1] with
    the query positions numbered, then one panel per query with its map laid over the image
    in colour and the query marked.

    ``maps`` (Q, h, w): each query's weights over an h x w grid of keys, key (i, j) covering
    the (H/h) x (W/w) block of pixels at (i H/h, j W/w).  ``queries`` (Q, 2): (row, column)
    on a ``query_grid`` (gh, gw) of queries over the same image, default (2h, 2w) (the keys
    of ``nn.SelfAttention2d`` are 2x2-pooled queries)."""
    plt = _plt()
    img = np.asarray(backend.to_device(getattr(image, "data", image), "cpu"), dtype=np.float32)
    maps = np.asarray(backend.to_device(getattr(maps, "data", maps), "cpu"), dtype=np.float64)
    queries = np.asarray(queries).reshape(-1, 2)
    if img.ndim != 3 or maps.ndim != 3 or len(maps) != len(queries):
        raise ValueError(f"save_attention_maps: expected image (C, H, W), maps (Q, h, w) and "
                         f"queries (Q, 2), got {img.shape}, {maps.shape} and {queries.shape}")
    c, h, w = img.shape
    kh, kw = maps.shape[1:]
    gh, gw = query_grid or (2 * kh, 2 * kw)
    if h % kh or w % kw or h % gh or w % gw:
        raise ValueError(f"save_attention_maps: the image's {h}x{w} must be whole blocks of the "
                         f"maps' {kh}x{kw} keys and of the {gh}x{gw} queries")
    shown = np.clip((img + 1) / 2, 0, 1).transpose(1, 2, 0)
    shown = shown[..., 0] if c == 1 else shown
    # A query is a block of (H/gh) x (W/gw) pixels; its centre is marked.
    qh, qw = h / gh, w / gw
    ys, xs = (queries[:, 0] + 0.5) * qh - 0.5, (queries[:, 1] + 0.5) * qw - 0.5
    panels = len(queries) + 1
    fig, axes = plt.subplots(1, panels, figsize=(1.6 * panels, 1.9 if title else 1.7), dpi=100)
    axes[0].imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for q in range(len(queries)):
        axes[0].text(xs[q], ys[q], str(q + 1), color="red", fontsize=7, ha="center", va="center")
        ax = axes[q + 1]
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        # Each key's weight spread over the block of pixels it pooled.
        up = np.kron(maps[q], np.ones((h // kh, w // kw)))
        ax.imshow(up / max(up.max(), 1e-30), cmap="inferno", alpha=0.6, vmin=0, vmax=1,
                  interpolation="nearest")
        ax.plot([xs[q]], [ys[q]], marker="x", color="cyan", markersize=6)
        ax.set_title(f"{q + 1}: ({queries[q, 0]}, {queries[q, 1]})", fontsize=7)
    for ax in axes:
        ax.axis("off")
    axes[0].set_title("sample", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return _write(fig, path)


def plot_tradeoff(points: Sequence[dict], x: str, y: str, label: str, path,
                  title: str | None = None, xlabel: str | None = None,
                  ylabel: str | None = None, label_name: str | None = None) -> Path:
    """One curve through ``points`` (dicts), ``y`` against ``x``, in their order, each point
    labelled "``label_name`` value" with its ``label`` value (None written "none"): a
    trade-off curve such as FID against the classifier score over truncation thresholds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.8), dpi=100)
    xs, ys = [p[x] for p in points], [p[y] for p in points]
    ax.plot(xs, ys, marker="o", lw=1)
    for p, px, py in zip(points, xs, ys):
        value = p[label]
        ax.annotate(f"{label_name or label} {'none' if value is None else f'{value:g}'}",
                    (px, py), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.margins(0.15)                       # room for the labels of the points at the edges
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _write(fig, path)
