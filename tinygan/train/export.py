"""``tinygan export RUN --out FILE.npz``: a run's sampling weights as a pretrained model file.

The file is the one ``tinygan.models.shipped.load_pretrained`` reads (its format is described
there): the module the registry entry's ``sampler`` names -- a GAN's generator, a whole VAE --
with the EMA's weights when the run kept one, so ``tinygan sample FILE.npz`` draws what
``tinygan sample RUN`` would.  It lives in train/ because it reads a run folder
(``load_run``); models/ only reads the file back.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import checkpoint
from ..models import registry
from ..models.shipped import FORMAT, VERSION
from .loop import load_run


def export_run(run, out, float16: bool = False) -> dict:
    """Write the weights a run samples with to ``out``: a pretrained model file.

    ``run``: a run folder; its latest checkpoint is read by ``tinygan.train.loop.load_run``
    (which puts the EMA's weights in place when the run kept an EMA).  A GAN's generator is
    written (weights and BatchNorm buffers), a VAE's whole model.  ``float16`` stores the
    floating-point arrays in half precision (a finite float32 weight beyond float16's range
    is refused rather than written as inf).  The file is written atomically.

    Returns ``{"path", "model", "part", "dtype", "bytes", "parameters", "epoch", "step"}``.
    """
    family, cfg, state = load_run(run)
    part = registry.entry_of(family).sampler
    dtype = np.float16 if float16 else np.float32
    weights, count = {}, 0
    for key, t in registry.sampling_module(family).state_dict().items():
        arr = np.asarray(t.data)
        if arr.dtype.kind == "f":
            small = arr.astype(dtype)
            if not np.isfinite(small).all() and np.isfinite(arr).all():
                raise ValueError(f"export: {key} has values beyond {np.dtype(dtype).name}'s range "
                                 f"(largest {np.abs(arr).max():g}); export without float16")
            arr = small
        weights[key] = arr
        count += arr.size
    # A run's checkpoint holds its EMA's state; a re-exported shipped model only the beta.
    beta = state["ema"]["beta"] if state.get("ema") is not None else state.get("ema_beta")
    source = {"epoch": state.get("epoch"), "step": state.get("step"), "images": state.get("images"),
              "ema_beta": None if beta is None else float(beta), "checkpoint": Path(state["path"]).name}
    path = checkpoint.save(out, format=FORMAT, version=VERSION, model=cfg["model"],
                           model_options=dict(cfg.get("model_options") or {}), part=part,
                           dtype=np.dtype(dtype).name, weights=weights, config=cfg, source=source)
    return {"path": str(path), "model": cfg["model"], "part": part, "dtype": np.dtype(dtype).name,
            "bytes": path.stat().st_size, "parameters": int(count), "epoch": source["epoch"],
            "step": source["step"]}


__all__ = ["export_run"]
