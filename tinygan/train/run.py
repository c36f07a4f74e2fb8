"""A run folder: ``config.json``, ``checkpoints/``, ``metrics.jsonl`` and pictures.

    runs/NAME/
      config.json            what was asked for (model, data set, seed, ...)
      checkpoints/epoch_NNN.npz   everything needed to resume (see tinygan.checkpoint);
                             epoch_NNN_step_SSSSSS.npz: a run stopped (Ctrl-C, max_steps) at
                             step SSSSSS, after NNN whole epochs -- it sorts after epoch_NNN
                             and before epoch_NNN+1, so ``latest()`` finds it
      metrics.jsonl          one JSON object per line, appended as the run goes
      *.png                  curves and samples
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .. import atomic, checkpoint


class Run:
    """A run folder.  ``resume`` checks that the saved config.json asks for the same training
    (``epochs`` may grow); ``exist_ok=False`` refuses to start afresh in a folder that already
    holds checkpoints, rather than mixing two runs' files."""

    # Settings a resumed run may change: how long to train, and where.
    MAY_CHANGE = ("epochs", "resume", "device")

    def __init__(self, folder, config: dict, resume: bool = False, exist_ok: bool = True):
        self.folder = Path(folder)
        self.config = dict(config)
        cfg_path = self.folder / "config.json"
        if not resume and not exist_ok and checkpoint.list_checkpoints(self.folder / "checkpoints"):
            raise FileExistsError(f"{self.folder} already holds a run with checkpoints; pass --resume "
                                  "to continue it, or choose another --out (or delete the folder)")
        if resume:
            if not cfg_path.exists():
                raise FileNotFoundError(f"--resume: no run to resume in {self.folder} (no config.json)")
            saved = json.loads(cfg_path.read_text())
            changed = {k: (saved.get(k), v) for k, v in self.config.items()
                       if k in saved and saved[k] != v and k not in self.MAY_CHANGE}
            if changed:
                raise ValueError(f"--resume: the run in {self.folder} was started with different "
                                 f"settings: {changed} (saved, asked)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "checkpoints").mkdir(exist_ok=True)
        # Partial checkpoints of a run killed while saving (the classifier's recipe also saves
        # classifier.npz beside config.json): no other process writes into the run now.
        for folder in (self.folder, self.checkpoints):
            atomic.remove_stale_temp_files(folder, "*.npz")
        cfg_path.write_text(json.dumps(self.config, indent=1, sort_keys=True) + "\n")

    @classmethod
    def open(cls, folder) -> "Run":
        """An existing run, read-only as to its config (for ``tinygan sample`` and ``eval``)."""
        folder = Path(folder)
        cfg_path = folder / "config.json"
        if not cfg_path.exists():
            raise FileNotFoundError(f"{folder} is not a run folder (no config.json)")
        run = cls.__new__(cls)
        run.folder, run.config = folder, json.loads(cfg_path.read_text())
        return run

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    def log(self, record: dict) -> None:
        """Append one record to metrics.jsonl (non-finite numbers become null: valid JSON)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in record.items()}
        with open(self.folder / "metrics.jsonl", "a") as f:
            f.write(json.dumps(clean) + "\n")

    def records(self) -> list:
        path = self.folder / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def truncate(self, upto: int, key: str = "epoch") -> None:
        """Drop the records whose ``key`` is past ``upto`` (a resumed run redoes them).

        ``key="epoch"`` for runs checkpointed at epoch ends; the GAN trainer, which can stop
        in the middle of an epoch, truncates by ``"images"`` (the real images seen so far).
        """
        kept = [r for r in self.records() if r.get(key, 0) <= upto]
        path = self.folder / "metrics.jsonl"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)

    def checkpoint_path(self, epoch: int, step: int | None = None) -> Path:
        """``epoch_NNN.npz`` after ``epoch`` whole epochs, or ``epoch_NNN_step_SSSSSS.npz`` for a
        run stopped at ``step`` in the epoch after it."""
        name = f"epoch_{epoch:03d}" + ("" if step is None else f"_step_{step:06d}")
        return self.checkpoints / f"{name}.npz"

    def save(self, epoch: int, **state) -> Path:
        return checkpoint.save(self.checkpoint_path(epoch), epoch=epoch, **state)

    def latest_path(self) -> Path | None:
        return checkpoint.latest_checkpoint(self.checkpoints)

    def latest(self):
        path = self.latest_path()
        return None if path is None else checkpoint.load(path)
