"""Atomic file writes: whoever reads the file sees the old version or the new one, never half.

The data goes to a temporary file in the same folder (``os.replace`` is atomic
only within one file system), is flushed to disk, and only then renamed over
the target; the folder is fsynced so the rename itself survives a crash.  On
any error -- or a kill mid-write -- the target is untouched and, in the error
path, the temporary file is removed.  Checkpoints and downloaded data sets are
written this way.

A kill leaves the temporary file behind (nothing runs to remove it): a run killed
by its time limit a dozen times leaves a dozen partial checkpoints.  They are
named ``.TARGET.XXXXXXXX.tmp`` -- hidden, so listings of checkpoints skip them --
and ``remove_stale_temp_files`` removes them by that name when a run starts or
resumes, the moment no write into its folder can be under way.
"""
from __future__ import annotations

import fnmatch
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

# The temporary file of a write to TARGET: ".TARGET." + mkstemp's random part (8 characters of
# a-z, 0-9 and _) + ".tmp".  remove_stale_temp_files removes files of this name and no other.
_TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")


def atomic_write(path: "str | os.PathLike", write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file, then move it to ``path``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named as _TEMP_NAME says: remove_stale_temp_files finds it there if a kill leaves it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())          # the data is on disk before the rename makes it visible
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600): give it a normal mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def remove_stale_temp_files(folder: "str | os.PathLike", target_pattern: str = "*") -> list:
    """Remove the temporary files that killed writes to ``folder/<target_pattern>`` left behind;
    return their paths, sorted.

    Only regular files named as ``atomic_write`` names its temporary files
    (``.TARGET.XXXXXXXX.tmp``, TARGET matching the glob ``target_pattern``) are removed --
    not folders, links or anything else.  A write under way has such a file too: call this
    only where no other process can be writing into ``folder`` (a run starting or resuming
    owns its folder).  A missing folder has nothing to remove.
    """
    try:
        found = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in found:
        name = _TEMP_NAME.fullmatch(entry.name)
        if name and fnmatch.fnmatchcase(name["target"], target_pattern) \
                and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:     # gone meanwhile: what we wanted
                continue
            removed.append(Path(entry.path))
    return sorted(removed)


def _umask() -> int:
    mask = os.umask(0)     # the only way to read the umask is to set it, so set it back at once
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return                            # e.g. Windows can't open folders; the rename still happened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
