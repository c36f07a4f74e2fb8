"""tinygan.checkpoint.load on malformed and hostile files: every one is refused with a
CheckpointError naming the file, and none is inflated past the limits before it is checked."""
from __future__ import annotations

import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint
from tinygan.checkpoint import CheckpointError, load, save

from checkpoint_files import META, meta_bytes, meta_text_bytes, npy, write_zip

X = np.arange(4, dtype=np.float32)


def refused(path, *fragments, **kwargs) -> str:
    """Load ``path``, expect a one-line CheckpointError naming the file and each fragment."""
    with pytest.raises(CheckpointError) as e:
        load(path, **kwargs)
    msg = str(e.value)
    assert str(path) in msg, msg
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, f"{f!r} missing from {msg!r}"
    return msg


def with_state(tmp_path, name, state, arrays=None):
    """A checkpoint whose metadata holds ``state`` and whose entries are ``arrays``."""
    entries = {META: meta_bytes(state)}
    entries.update({k: npy(v) for k, v in (arrays or {}).items()})
    return write_zip(tmp_path / name, entries)


# ----------------------------------------------------------------------------
# malformed metadata: a CheckpointError naming the file, never another exception
# ----------------------------------------------------------------------------
def test_items_that_are_not_a_list(tmp_path):
    path = with_state(tmp_path, "items5.npz", {"x": {"__items__": 5}})
    refused(path, "__items__", "state/x")


def test_array_name_that_is_not_a_string(tmp_path):
    path = with_state(tmp_path, "name_list.npz", {"x": {"__array__": ["a"]}})
    refused(path, "__array__", "state/x")


def test_items_that_are_not_pairs(tmp_path):
    path = with_state(tmp_path, "triples.npz", {"x": {"__items__": [[1, 2, 3]]}})
    refused(path, "[key, value] pair", "state/x")
    path = with_state(tmp_path, "list_key.npz", {"x": {"__items__": [[[1], 2]]}})
    refused(path, "key", "state/x")


def test_deeply_nested_metadata(tmp_path):
    # json.loads recurses once per bracket: 100 000 of them would hit the recursion limit.
    path = write_zip(tmp_path / "deep.npz", {META: meta_text_bytes("[" * 100_000)})
    refused(path, "nested deeper than")
    text = json.dumps({"format": "tinygan-checkpoint", "version": 1,
                       "state": {"x": json.loads("[" * 500 + "]" * 500)}})
    path = write_zip(tmp_path / "deep_valid.npz", {META: meta_text_bytes(text)})
    refused(path, "nested deeper than")


def test_tags_mixed_with_other_keys(tmp_path):
    path = with_state(tmp_path, "mixed.npz", {"x": {"__array__": "x", "__tuple__": []}}, {"x": X})
    refused(path, "state/x")
    path = with_state(tmp_path, "flag.npz", {"x": {"__array__": "x", "tensor": "yes"}}, {"x": X})
    refused(path, "tensor")
    path = with_state(tmp_path, "same.npz", {"x": {"__array__": "x"}, "y": {"__array__": "x"}},
                      {"x": X})
    refused(path, "'x'", "twice")


def test_missing_array_is_refused_naming_the_file(tmp_path):
    path = with_state(tmp_path, "dangling.npz", {"y": {"__array__": "y"}})
    refused(path, "refers to an array 'y' that isn't in the file")


def test_state_that_is_not_a_dict(tmp_path):
    path = write_zip(tmp_path / "list_state.npz", {META: meta_bytes([1, 2])})
    refused(path, "state")


# ----------------------------------------------------------------------------
# sizes: checked from the index and the .npy headers before anything is inflated
# ----------------------------------------------------------------------------
def test_declared_shape_too_large_for_the_default_limit(tmp_path):
    # (10**12,) float32 is 3.6 TiB: refused from its header, not by a failed allocation.
    path = with_state(tmp_path, "huge.npz", {"x": {"__array__": "x"}})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("x.npy", npy(dtype=np.float32, shape=(10**12,), data=bytes(16)))
    refused(path, "'x'", "(1000000000000,)", "max_bytes")


def test_declared_shape_must_match_the_entry_size(tmp_path):
    path = with_state(tmp_path, "longer.npz", {"x": {"__array__": "x"}})
    with zipfile.ZipFile(path, "a") as zf:   # 2 float64 declared, a megabyte behind them
        zf.writestr("x.npy", npy(dtype=np.float64, shape=(2,), data=bytes(1 << 20)))
    refused(path, "'x'", "16 bytes", "1048576")
    path = with_state(tmp_path, "shorter.npz", {"x": {"__array__": "x"}})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("x.npy", npy(dtype=np.float64, shape=(1000,), data=bytes(16)))
    refused(path, "'x'", "8000 bytes")


def test_entry_the_metadata_never_mentions_is_refused_before_inflating(tmp_path):
    # 64 MiB of zeros deflate to about 64 KB; a reader that inflates every entry pays the 64 MiB.
    path = with_state(tmp_path, "bomb.npz", {"x": {"__array__": "x"}}, {"x": X})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("junk.npy", npy(dtype=np.uint8, shape=(64 << 20,), data=bytes(64 << 20)))
    assert os.path.getsize(path) < 1 << 20
    tracemalloc.start()
    try:
        refused(path, "'junk'", "not referred to")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_max_bytes_bounds_all_arrays_together(tmp_path):
    arrays = {"a": np.zeros(100_000), "b": np.zeros(100_000)}          # 800 000 bytes each
    path = save(tmp_path / "two.npz", **arrays)
    refused(path, "max_bytes", max_bytes=1_000_000)                      # each fits, both don't
    refused(path, "'a'", "max_bytes", max_bytes=500_000)
    back = load(path, max_bytes=1_600_000)
    np.testing.assert_array_equal(back["b"], arrays["b"])


def test_metadata_too_large(tmp_path):
    big = "x" * (checkpoint.MAX_META_BYTES + 1)
    path = with_state(tmp_path, "bigmeta.npz", {"note": big})
    refused(path, META, "bytes")


def test_zip_index_too_large(tmp_path):
    # Python's zipfile builds an object per entry of the index, about six times the index's size,
    # before any entry is read: an index over the limit is refused before zipfile parses it.
    path = tmp_path / "index.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(META + ".npy", meta_bytes({}))
        for i in range(checkpoint.MAX_INDEX_BYTES // 1000 + 1):
            zf.writestr(f"{i:01000d}.npy", b"")
    refused(path, "index")


def test_compression_other_than_deflate_is_refused(tmp_path):
    # An LZMA entry's header chooses the size of the decoder's dictionary (up to 4 GiB).
    path = tmp_path / "lzma.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as zf:
        zf.writestr(META + ".npy", meta_bytes({"x": {"__array__": "x"}}))
        zf.writestr("x.npy", npy(X))
    refused(path, "compression")


def test_scalar_flag_on_an_array_that_is_not_0d(tmp_path):
    path = with_state(tmp_path, "scalar.npz", {"x": {"__array__": "x", "scalar": True}}, {"x": X})
    refused(path, "'x'", "scalar")


def test_entries_that_are_not_arrays(tmp_path):
    path = with_state(tmp_path, "txt.npz", {}, {})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("readme.txt", b"hello")
    refused(path, "'readme.txt'")
    path = with_state(tmp_path, "pickle_header.npz", {"x": {"__array__": "x"}})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("x.npy", npy(dtype=[("a", "O")], shape=(1,), data=bytes(8)))
    refused(path, "'x' is a pickled object array")
    path = with_state(tmp_path, "bad_header.npz", {"x": {"__array__": "x"}})
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': ((((, }")
    refused(path, "'x'", "header")


# ----------------------------------------------------------------------------
# what the stricter reader must still read
# ----------------------------------------------------------------------------
def test_round_trip_of_awkward_arrays_and_names(tmp_path):
    state = {
        "half": np.linspace(-1, 1, 7, dtype=np.float16),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "big_endian": np.arange(3, dtype=">i4"),
        "complex": np.array([1 + 2j], np.complex64),
        "zero_d": np.array(2.5),
        "empty": np.zeros((0, 5), np.int8),
        "bytes": np.array([b"ab", b"c"]),
        "record": np.array([(1, 2.0)], dtype=[("i", "<i4"), ("f", "<f8")]),
        "scalar": np.float16(1.5),
        "tensor": tinygan.tensor([[1.0, 2.0]]),
        # names numpy.savez would mangle or choke on: a trailing ".npy", its own parameters
        "x.npy": np.ones(2), "file": np.zeros(1), "allow_pickle": np.ones(1, np.int64),
    }
    back = load(save(tmp_path / "awkward.npz", **state))
    assert list(back) == list(state)
    for k, v in state.items():
        got = back[k]
        if isinstance(v, tinygan.Tensor):
            assert isinstance(got, tinygan.Tensor)
            v, got = v.numpy(), got.numpy()
        assert type(got) is type(v) and got.dtype == v.dtype and got.shape == v.shape, k
        np.testing.assert_array_equal(got, v, err_msg=k)
    assert back["fortran"].flags.f_contiguous and back["half"].flags.writeable


def test_save_refuses_what_load_would_refuse(tmp_path):
    def nested(levels):
        x = []
        for _ in range(levels - 1):
            x = [x]
        return x
    # The JSON's own two levels ({"format": ..., "state": {...}}) and those of x.
    with pytest.raises(ValueError, match="MAX_DEPTH"):
        save(tmp_path / "deep.npz", x=nested(checkpoint.MAX_DEPTH - 1))
    with pytest.raises(ValueError, match="MAX_META_BYTES.*as arrays"):
        save(tmp_path / "long.npz", losses=[0.123456789] * 100_000)
    with pytest.raises(ValueError, match="no .npy header"):
        save(tmp_path / "fields.npz", x=np.zeros(2, [(f"field_{i}", "<f8") for i in range(600)]))
    assert list(tmp_path.iterdir()) == []
    back = load(save(tmp_path / "ok.npz", x=nested(checkpoint.MAX_DEPTH - 2), losses=[0.5] * 50_000))
    assert back["losses"] == [0.5] * 50_000


def test_a_name_a_zip_entry_cannot_hold_is_refused_on_save(tmp_path):
    with pytest.raises(ValueError, match="NUL"):
        save(tmp_path / "nul.npz", **{"a\0b": np.zeros(1)})
    assert list(tmp_path.iterdir()) == []


def test_files_written_by_numpy_savez_still_load(tmp_path):
    # Checkpoints written before tinygan had its own zip writer: numpy.savez's layout.
    text = json.dumps({"format": "tinygan-checkpoint", "version": 1,
                       "state": {"w": {"__array__": "w", "tensor": True}, "step": 3}})
    np.savez(tmp_path / "old.npz", w=np.eye(2, dtype=np.float32),
             **{META: np.frombuffer(text.encode(), np.uint8)})
    back = load(tmp_path / "old.npz")
    assert back["step"] == 3 and isinstance(back["w"], tinygan.Tensor)
    np.testing.assert_array_equal(back["w"].numpy(), np.eye(2))
    np.savez_compressed(tmp_path / "deflated.npz", w=np.eye(2, dtype=np.float32),
                        **{META: np.frombuffer(text.encode(), np.uint8)})
    np.testing.assert_array_equal(load(tmp_path / "deflated.npz")["w"].numpy(), np.eye(2))


def test_missing_file(tmp_path):
    refused(tmp_path / "nothing_here.npz", "can't be read")
