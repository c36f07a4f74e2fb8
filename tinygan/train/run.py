"""A run folder: ``config.json``, ``checkpoints/``, ``metrics.jsonl`` and pictures.

    runs/NAME/
      config.json            what was asked for (model, data set, seed, ...)
      checkpoints/epoch_NNN.npz   everything needed to resume (see tinygan.checkpoint)
      metrics.jsonl          one JSON object per line, appended as the run goes
      *.png                  curves and samples
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .. import checkpoint


class Run:
    def __init__(self, folder, config: dict, resume: bool = False):
        self.folder = Path(folder)
        self.config = dict(config)
        cfg_path = self.folder / "config.json"
        if resume:
            if not cfg_path.exists():
                raise FileNotFoundError(f"--resume: no run to resume in {self.folder} (no config.json)")
            saved = json.loads(cfg_path.read_text())
            changed = {k: (saved.get(k), v) for k, v in self.config.items()
                       if k in saved and saved[k] != v and k not in ("epochs", "resume", "device")}
            if changed:
                raise ValueError(f"--resume: the run in {self.folder} was started with different "
                                 f"settings: {changed} (saved, asked)")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "checkpoints").mkdir(exist_ok=True)
        cfg_path.write_text(json.dumps(self.config, indent=1, sort_keys=True) + "\n")

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

    def truncate(self, epoch: int) -> None:
        """Drop the records of epochs after ``epoch`` (a resumed run redoes them)."""
        kept = [r for r in self.records() if r.get("epoch", 0) <= epoch]
        path = self.folder / "metrics.jsonl"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)

    def save(self, epoch: int, **state) -> Path:
        return checkpoint.save(self.checkpoints / f"epoch_{epoch:03d}.npz", epoch=epoch, **state)

    def latest(self):
        path = checkpoint.latest_checkpoint(self.checkpoints)
        return None if path is None else checkpoint.load(path)
