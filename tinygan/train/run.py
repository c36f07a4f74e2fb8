"""A run folder: ``config.json``, ``checkpoints/``, ``metrics.jsonl`` and pictures.

    runs/NAME/
      config.json            what was asked for (model, data set, seed, ...)
      checkpoints/epoch_NNN.npz   everything needed to resume (see tinygan.checkpoint);
                             epoch_NNN_step_SSSSSS.npz: a run stopped (Ctrl-C, max_steps) at
                             step SSSSSS, after NNN whole epochs -- it sorts after epoch_NNN
                             and before epoch_NNN+1, so ``latest()`` finds it
      metrics.jsonl          one JSON object per line, appended as the run goes
      *.png                  curves and samples

A run owns its folder: a fresh start refuses a folder that holds another run's files (unless
``force``, which removes them first), so two runs' configs, logs and checkpoints never mix.
What a kill can leave behind is tolerated: a half-written checkpoint (a hidden temporary
file, removed when the run starts or resumes) and a cut-short last line of metrics.jsonl
(dropped, with a warning, before anything is appended to it).  config.json is written
atomically, so it is never found empty.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from .. import atomic, checkpoint

# The names a run writes in its folder (train/loop.py, train/vae.py's pictures, the classifier
# recipe's weights): a fresh start refuses a folder holding any of them, and ``force`` removes
# exactly these, never a file a run would not have written.
RUN_FILES = ("config.json", "metrics.jsonl", "losses.png", "samples.png", "reconstructions.png",
             "interpolation.png", "latent_scatter.png", "traversals.png", "classifier.npz")
RUN_FOLDERS = {"checkpoints": "*.npz", "samples": "*.png"}      # folder -> what a run writes in it


class RunFileError(ValueError):
    """A file of a run folder (config.json, metrics.jsonl) that can't be read; the message
    names the file and what is wrong with it."""


class RunWarning(UserWarning):
    """Something about a run its user should know that does not stop the command: a log line a
    kill cut short, a resume that will not be bit-exact, a result that could not be recorded."""


def read_config(path: Path) -> dict:
    """The settings in a run's config.json, or RunFileError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{path} is not a run's config.json (not UTF-8 text)") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        what = "it is empty" if not text.strip() else f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise RunFileError(f"{path} is not valid JSON ({what}); the run folder can't be used "
                           "until it is restored (or start afresh in another folder)") from None
    if not isinstance(config, dict):
        raise RunFileError(f"{path} holds a JSON {type(config).__name__}, not a run's settings")
    return config


class Run:
    """A run folder.  ``resume`` checks that the saved config.json asks for the same training
    (``epochs`` may grow); a fresh start (no ``resume``) refuses a folder that already holds a
    run's files (``RUN_FILES``), rather than mixing two runs' files, unless ``force``: then it
    removes them first."""

    # Settings a resumed run may change: how long to train, and where.
    MAY_CHANGE = ("epochs", "resume", "device")

    def __init__(self, folder, config: dict, resume: bool = False, force: bool = False):
        self.folder = Path(folder)
        self.config = dict(config)
        cfg_path = self.folder / "config.json"
        if not resume:
            found = self.run_files()
            if found and not force:
                listed = ", ".join(p.name for p in found[:3]) + (", ..." if len(found) > 3 else "")
                raise FileExistsError(f"{self.folder} already holds a run's files ({listed}); pass "
                                      "--resume to continue that run, --force to start afresh "
                                      "over it, or choose another --out")
            self._remove(found)
        else:
            if not cfg_path.exists():
                raise FileNotFoundError(f"--resume: no run to resume in {self.folder} (no config.json)")
            saved = read_config(cfg_path)
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
        text = json.dumps(self.config, indent=1, sort_keys=True) + "\n"
        atomic.atomic_write(cfg_path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def open(cls, folder) -> "Run":
        """An existing run, read-only as to its config (for ``tinygan sample`` and ``eval``)."""
        folder = Path(folder)
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{folder} is not a run folder (no config.json)")
        run = cls.__new__(cls)
        run.folder, run.config = folder, read_config(cfg_path)
        return run

    def run_files(self) -> list:
        """The files of ``RUN_FILES`` and the non-empty folders of ``RUN_FOLDERS`` that the
        folder holds (an empty checkpoints/ holds nothing a new run could mix with)."""
        found = [self.folder / n for n in RUN_FILES if os.path.lexists(self.folder / n)]
        for name in RUN_FOLDERS:
            path = self.folder / name
            if os.path.lexists(path) and not (path.is_dir() and not any(path.iterdir())):
                found.append(path)
        return found

    def _remove(self, found: list) -> None:
        """Remove a run's files (``found``: from ``run_files``), and the files a run writes in
        its sub-folders, then those folders if nothing else is left in them."""
        for path in found:
            pattern = RUN_FOLDERS.get(path.name)
            if pattern is None:
                path.unlink()
            elif path.is_dir() and not path.is_symlink():
                for inner in path.glob(pattern):
                    if inner.is_file() or inner.is_symlink():
                        inner.unlink()
                atomic.remove_stale_temp_files(path, pattern)
                if not any(path.iterdir()):
                    path.rmdir()

    @property
    def checkpoints(self) -> Path:
        return self.folder / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        return self.folder / "metrics.jsonl"

    def log(self, record: dict) -> None:
        """Append one record to metrics.jsonl (non-finite numbers become null: valid JSON)."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in record.items()}
        if not self._ends_with_whole_line():
            self.truncate(None)            # drop the cut-short line first: never append to it
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(clean) + "\n")

    def log_or_warn(self, record: dict) -> bool:
        """``log``, or -- where metrics.jsonl can't be written (a read-only run) -- warn in one
        line that the record was not kept; whether it was."""
        try:
            self.log(record)
            return True
        except OSError as exc:
            warnings.warn(RunWarning(f"the result was not recorded in {self.metrics_path} "
                                     f"({exc.strerror or exc})"), stacklevel=2)
            return False

    def records(self) -> list:
        """metrics.jsonl's records; a last line a kill cut short is left out."""
        return self._read_records()[0]

    def _read_records(self) -> tuple:
        """``(records, cut_short)``: the records of metrics.jsonl, and whether its last line was
        cut short (no newline, not valid JSON: the run was killed while writing it).  Any other
        line that is not a JSON object is an error naming the file and the line."""
        path = self.metrics_path
        if not path.exists():
            return [], False
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RunFileError(f"{path} is not a run's metrics.jsonl (not UTF-8 text)") from None
        *lines, tail = text.split("\n")        # every whole line ends with "\n"; tail is after the last
        records = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                records.append(self._parse(line, number))
        cut_short = False
        if tail.strip():
            try:
                records.append(self._parse(tail, len(lines) + 1))
            except RunFileError:
                cut_short = True
        return records, cut_short

    def _parse(self, line: str, number: int) -> dict:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunFileError(f"{self.metrics_path}: line {number} is not valid JSON ({exc.msg}); "
                               "delete that line to use the run") from None
        if not isinstance(record, dict):
            raise RunFileError(f"{self.metrics_path}: line {number} is not a JSON object; "
                               "delete that line to use the run")
        return record

    def _ends_with_whole_line(self) -> bool:
        try:
            with open(self.metrics_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return True
                f.seek(-1, os.SEEK_END)
                return f.read(1) == b"\n"
        except FileNotFoundError:
            return True

    def truncate(self, upto: int | None, key: str = "epoch") -> None:
        """Drop the records whose ``key`` is past ``upto`` (a resumed run redoes them), and a last
        line a kill cut short (with a warning); ``upto=None`` keeps every whole record.

        ``key="epoch"`` for runs checkpointed at epoch ends; the GAN trainer, which can stop
        in the middle of an epoch, truncates by ``"images"`` (the real images seen so far).
        The file is rewritten atomically: a kill now leaves the old file or the new one.
        """
        records, cut_short = self._read_records()
        kept = [r for r in records if upto is None or r.get(key, 0) <= upto]
        if not kept and not self.metrics_path.exists():
            return
        text = "".join(json.dumps(r) + "\n" for r in kept)
        atomic.atomic_write(self.metrics_path, lambda f: f.write(text.encode("utf-8")))
        if cut_short:          # said once it is done: a read-only run drops nothing
            warnings.warn(RunWarning(f"{self.metrics_path}: its last line was cut short (the run "
                                     "was killed while writing it); dropped it"), stacklevel=2)

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


def warn_if_threads_differ(state: dict, path, device) -> None:
    """Warn when a CPU run resumes from ``state`` (the checkpoint at ``path``) with another
    number of CPU threads than wrote it: the chunks an op is split into, and so the order its
    partial sums are added in, follow the thread count, so the run goes on, but not bit for bit
    as an unbroken run would.  (A checkpoint written before the count was recorded: no warning.)"""
    from .. import backend
    from ..kernels import threads
    saved = state.get("num_threads")
    if saved is None or backend.device(device).type != "cpu":
        return
    now = threads.get_num_threads()
    if int(saved) != now:
        warnings.warn(RunWarning(
            f"resuming on {now} CPU thread{'s' * (now != 1)}, but {path} was written on {saved}: "
            "the run goes on, but not bit-exactly as an unbroken run would (set "
            f"TINYGAN_NUM_THREADS={saved} for that)"), stacklevel=2)
