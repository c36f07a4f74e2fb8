"""tinygan.atomic: the temporary files of killed writes are found by their name and removed
when a run starts or resumes -- those, and nothing else."""
from __future__ import annotations

import os

import numpy as np

from tinygan import checkpoint
from tinygan.atomic import atomic_write, remove_stale_temp_files
from tinygan.train.run import Run

from checkpoint_files import killed_write





def test_only_the_writers_temp_files_are_removed(tmp_path):
    real = checkpoint.save(tmp_path / "epoch_001.npz", step=1)
    stale = [killed_write(tmp_path / "epoch_002.npz"), killed_write(tmp_path / "epoch_002.npz"),
             tmp_path / ".epoch_003_step_000040.npz.x_9ab0cd.tmp"]
    stale[-1].write_bytes(b"PK partial")
    kept = [tmp_path / name for name in (
        "notes.tmp", ".epoch_001.npz.tmp",             # no random part
        ".epoch_001.npz.ABCDEFGH.tmp",                  # not mkstemp's characters
        ".epoch_001.npz.abcdefghi.tmp",                 # nine of them
        ".config.json.abcdefgh.tmp",                    # not a write to *.npz
        "epoch_001.npz.abcdefgh.tmp",                   # not hidden
        ".epoch_001.npz.abcdefgh.tmp.bak", ".hidden")]
    for path in kept:
        path.write_text("someone's")
    folder_like = tmp_path / ".epoch_004.npz.abcdefgh.tmp"     # a folder, not a file
    folder_like.mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}_outside.txt"
    outside.write_text("precious")
    link = tmp_path / ".epoch_005.npz.abcdefgh.tmp"            # a link: never written by us
    link.symlink_to(outside)

    removed = remove_stale_temp_files(tmp_path, "*.npz")
    assert sorted(removed) == sorted(stale)
    assert not any(p.exists() for p in stale)
    assert all(p.read_text() == "someone's" for p in kept)
    assert folder_like.is_dir() and link.is_symlink() and outside.read_text() == "precious"
    assert checkpoint.load(real)["step"] == 1
    assert remove_stale_temp_files(tmp_path, "*.npz") == []
    assert remove_stale_temp_files(tmp_path / "missing", "*.npz") == []


def test_the_pattern_limits_the_targets(tmp_path):
    a = killed_write(tmp_path / "epoch_001.npz")
    b = killed_write(tmp_path / "classifier.npz")
    assert remove_stale_temp_files(tmp_path, "epoch_*.npz") == [a]
    assert b.exists()
    assert remove_stale_temp_files(tmp_path) == [b]            # any target


def test_a_run_that_starts_or_resumes_removes_them(tmp_path):
    cfg = {"model": "dcgan", "epochs": 1}
    run = Run(tmp_path / "run", cfg)
    run.save(1, step=10, w=np.zeros(2))
    stale = [killed_write(run.checkpoint_path(2)), killed_write(run.checkpoint_path(2, step=7)),
             killed_write(run.folder / "classifier.npz")]
    other = run.checkpoints / ".notes.abcdefgh.tmp"
    other.write_text("not a checkpoint's")
    assert all(p.exists() for p in stale)

    Run.open(run.folder)                                       # reading a run removes nothing
    assert all(p.exists() for p in stale)
    resumed = Run(run.folder, dict(cfg, epochs=2), resume=True)
    assert not any(p.exists() for p in stale)
    assert other.exists()
    assert resumed.latest()["step"] == 10

    left = killed_write(run.checkpoint_path(3))
    Run(run.folder, cfg, force=True)                           # starting afresh over it, too
    assert not left.exists()


def test_atomic_write_leaves_no_temp_file(tmp_path):
    path = atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
    assert path.read_bytes() == b"x" and os.listdir(tmp_path) == ["a.bin"]
