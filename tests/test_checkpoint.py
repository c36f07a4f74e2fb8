"""tinygan.checkpoint: round trips, refusing bad files (pickles above all), atomic writes."""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint
from tinygan.checkpoint import CheckpointError, latest_checkpoint, list_checkpoints, load, save

from checkpoint_files import killed_write



def _state():
    rng = np.random.default_rng(0)
    tinygan.manual_seed(5)
    return {
        "model": {
            "conv1.weight": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
            "conv1.bias": rng.standard_normal(4),                    # float64
            "bn.num_batches_tracked": np.array(7, dtype=np.int64),   # 0-d
            "embed.index": np.arange(5, dtype=np.int64),
            "mask": np.array([True, False]),
            "empty": np.zeros((0, 3), np.float32),
        },
        "optim": {
            "state": {0: {"step": 3, "exp_avg": tinygan.tensor([1.0, 2.0])},    # int keys, a Tensor
                      1: {"step": 3, "exp_avg": tinygan.tensor([[0.5]], dtype=tinygan.float64)}},
            "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8, "params": [0, 1]}],
        },
        "step": 1200,
        "epoch": np.int64(3),                 # a NumPy scalar stays one
        "lr_scale": np.float32(0.5),
        "rng": tinygan.get_rng_state(),      # Philox state: a 64-bit seed, a counter offset
        "config": {"model": "dcgan", "dataset": "mnist", "ema": None, "fast": True,
                   "loss": float("nan"), "best": float("inf"), "tags": [], "extra": {}},
        "history": [[0, 1.5], [1, 1.25]],
        "weird keys": {"__array__": 1, (1, "a"): "tuple key", "a/b": 2},
    }


def _assert_same(a, b, where="state"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}/{i}")
    elif isinstance(a, tinygan.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        # exact: pure data movement (copies, views, indexing, casts of representable values)
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def test_round_trip_nested_state(tmp_path):
    state = _state()
    path = save(tmp_path / "run" / "checkpoints" / "step_1200.npz", **state)   # folders created
    assert path.is_file()
    back = load(path)
    _assert_same(state, back)
    assert back["model"]["conv1.weight"].dtype == np.float32
    assert back["model"]["conv1.bias"].dtype == np.float64
    assert isinstance(back["optim"]["state"][0]["exp_avg"], tinygan.Tensor)
    assert back["optim"]["param_groups"][0]["betas"] == (0.5, 0.999)

    # The RNG state restores the exact stream: what a bit-exact resume needs.
    tinygan.set_rng_state(state["rng"])
    a = tinygan.randn(5).numpy()
    tinygan.set_rng_state(back["rng"])
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a, tinygan.randn(5).numpy())


def test_file_is_a_plain_npz_without_pickles(tmp_path):
    path = save(tmp_path / "c.npz", model={"conv1.weight": np.ones((2, 2), np.float32)}, step=3,
                t=tinygan.tensor([1.0]))
    with np.load(path, allow_pickle=False) as npz:             # everything reads without pickle
        names = set(npz.files)
        weight = npz["model/conv1.weight"]
        meta = json.loads(npz["__meta__.json"].tobytes().decode())
    assert names == {"model/conv1.weight", "t", "__meta__.json"}
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(weight, np.ones((2, 2)))
    assert meta["format"] == "tinygan-checkpoint" and meta["version"] == 1
    assert meta["state"]["step"] == 3
    assert meta["state"]["model"]["conv1.weight"] == {"__array__": "model/conv1.weight"}


def test_unsupported_values_are_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="can't store set"):
        save(tmp_path / "a.npz", x={1, 2})
    with pytest.raises(TypeError, match="object array"):
        save(tmp_path / "a.npz", x=np.array([{}, 1], dtype=object))
    with pytest.raises(ValueError, match="same name 'a/b'"):
        save(tmp_path / "a.npz", a={"b": np.zeros(1)}, **{"a/b": np.zeros(1)})
    assert list(tmp_path.iterdir()) == []                     # nothing written, no temp file left


def _meta(version=1, fmt="tinygan-checkpoint", state=None):
    text = json.dumps({"format": fmt, "version": version, "state": state or {"x": {"__array__": "x"}}})
    return np.frombuffer(text.encode(), dtype=np.uint8)


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    # An object array can only be stored by pickling it; loading it would run the unpickler.
    np.savez(path, **{"__meta__.json": _meta(), "x": np.array([{"a": 1}, None], dtype=object)})
    with pytest.raises(CheckpointError, match="'x' is a pickled object array"):
        load(path)


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    good = save(tmp_path / "good.npz", w=np.arange(1000, dtype=np.float64))
    data = good.read_bytes()

    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.npz is not a valid .npz checkpoint"):
        load(cut)

    flipped = bytearray(data)
    start = data.index(np.arange(1000, dtype=np.float64).tobytes()[:64])
    flipped[start + 100] ^= 0xFF                              # damage inside the array's data
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):   # the zip's CRC-32 catches it
        load(bad)

    text = tmp_path / "notes.npz"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a zip file"):
        load(text)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load(empty)


def test_missing_garbled_or_unknown_metadata_is_refused(tmp_path):
    x = np.zeros(2)
    np.savez(tmp_path / "nometa.npz", x=x)
    with pytest.raises(CheckpointError, match="no __meta__.json entry"):
        load(tmp_path / "nometa.npz")

    np.savez(tmp_path / "garbled.npz", **{"__meta__.json": np.frombuffer(b"{not json", np.uint8), "x": x})
    with pytest.raises(CheckpointError, match="__meta__.json entry is garbled"):
        load(tmp_path / "garbled.npz")

    np.savez(tmp_path / "f64meta.npz", **{"__meta__.json": np.zeros(3), "x": x})
    with pytest.raises(CheckpointError, match="garbled"):
        load(tmp_path / "f64meta.npz")

    np.savez(tmp_path / "v99.npz", **{"__meta__.json": _meta(version=99), "x": x})
    with pytest.raises(CheckpointError, match="format version 99 is not supported.*newer tinygan"):
        load(tmp_path / "v99.npz")

    np.savez(tmp_path / "other.npz", **{"__meta__.json": _meta(fmt="something-else"), "x": x})
    with pytest.raises(CheckpointError, match="unknown format 'something-else'"):
        load(tmp_path / "other.npz")

    np.savez(tmp_path / "dangling.npz", **{"__meta__.json": _meta(state={"y": {"__array__": "y"}})})
    with pytest.raises(CheckpointError, match="refers to an array 'y'"):
        load(tmp_path / "dangling.npz")


def test_failed_save_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = save(tmp_path / "last.npz", step=1, w=np.zeros(3))

    def broken_writer(f, arrays):
        f.write(b"PK\x03\x04 half of a zip")                  # some bytes reach the temp file ...
        raise OSError("No space left on device")               # ... then the disk fills up

    monkeypatch.setattr(checkpoint, "_write_npz", broken_writer)
    with pytest.raises(OSError, match="No space left"):
        save(path, step=2, w=np.ones(3))
    assert load(path)["step"] == 1                             # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]   # temp file removed


def test_process_killed_mid_save_keeps_the_old_checkpoint(tmp_path):
    path = save(tmp_path / "step_1.npz", step=1, w=np.zeros(3))
    target = tmp_path / "step_1.npz"
    # A child process overwrites the checkpoint and dies (os._exit: no cleanup, no finally)
    # after part of the new file is written -- like a job killed by its time limit.
    killed_write(target)
    assert load(target)["step"] == 1
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(load(target)["w"], np.zeros(3))
    # The crash left its temp file behind (nothing could remove it), but it is hidden and
    # never taken for a checkpoint.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert list_checkpoints(tmp_path) == [path]
    assert latest_checkpoint(tmp_path) == path


def test_list_and_latest_checkpoints(tmp_path):
    assert list_checkpoints(tmp_path / "missing") == [] and latest_checkpoint(tmp_path) is None
    for step in (900, 1200, 50, 10000):
        save(tmp_path / f"step_{step}.npz", step=step)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / ".step_99999.npz.abc.tmp").write_text("partial")
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_50.npz", "step_900.npz", "step_1200.npz", "step_10000.npz"]   # by number
    assert latest_checkpoint(tmp_path).name == "step_10000.npz"
    assert load(latest_checkpoint(tmp_path))["step"] == 10000


def test_overwrite_and_file_mode(tmp_path):
    path = save(tmp_path / "c.npz", step=1)
    save(path, step=2)
    assert load(path)["step"] == 2
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask      # not mkstemp's private 0600
    assert zipfile.is_zipfile(path)


@pytest.mark.gpu
@pytest.mark.skipif(not tinygan.cuda_is_available(), reason="needs CuPy and a CUDA GPU")
def test_cupy_arrays_are_saved_as_numpy(tmp_path):
    t = tinygan.tensor([1.0, 2.0], device="cuda")
    save(tmp_path / "g.npz", raw=t.data, t=t)
    back = load(tmp_path / "g.npz")
    assert isinstance(back["raw"], np.ndarray)
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(back["raw"], [1.0, 2.0])
    on_gpu = load(tmp_path / "g.npz", device="cuda")["t"]
    assert on_gpu.is_cuda
