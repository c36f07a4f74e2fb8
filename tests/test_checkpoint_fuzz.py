"""Fuzzing tinygan.checkpoint.load: from a fixed seed, hundreds of damaged and hostile variants
of a real checkpoint, each of which must either load -- and then, where only bytes that the
zip's checksums cover were damaged, equal what was saved -- or raise CheckpointError.  No other
exception, and no more than a bounded amount of memory.

The cases run in a child process: the growth of its peak memory over the cases is the measure
(see _PeakMemory), and an address-space limit there turns a runaway allocation into a
MemoryError (a failure) instead of a machine out of memory.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
SEED = 20261206
CASES = 600
PEAK_LIMIT = 100 << 20            # bytes of resident memory the cases may add, all together
HUGE = 3 << 30                    # a deflated entry of this many zero bytes is about 3 MB
FUZZ_MAX_BYTES = 64 << 20         # the max_bytes of cases whose huge entry is otherwise valid


def _state():
    """Real state in small: what a GAN run's checkpoint holds, in every kind ``save`` stores."""
    import tinygan
    rng = np.random.default_rng(1)
    return {
        "model": {"G.0.weight": tinygan.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                  "G.1.running_var": tinygan.tensor(np.ones(4, np.float32)),
                  "G.1.num_batches_tracked": tinygan.tensor(np.array(7, np.int64)),
                  "D.0.weight": rng.standard_normal((2, 5)).astype(np.float16)},
        "optim": {"state": {0: {"step": 3, "exp_avg": tinygan.tensor(np.zeros(3, np.float32))},
                            1: {"step": 3, "exp_avg_sq": np.full((2, 2), 1e-3)}},
                  "param_groups": [{"lr": 2e-4, "betas": (0.5, 0.999), "params": [0, 1]}]},
        "ema": {"beta": 0.999, "params": {"0.weight": np.arange(6, dtype=np.float32)}},
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**127 + 5, "inc": 2**64 + 1}},
        "step": 1200, "epoch": np.int64(3), "lr_scale": np.float32(0.5),
        "config": {"model": "dcgan", "ema": None, "loss": float("nan"), "tags": ["a", "b"]},
        "weird keys": {"__array__": 1, (1, "a"): "tuple key"},
        "fixed": {"z": np.linspace(-1, 1, 8).reshape(2, 4), "labels": None},
    }


# ----------------------------------------------------------------------------
# the mutations: each takes the random generator, the base's entries {name: .npy bytes} and
# its file's bytes (stored, deflated); it returns the case (file bytes, entries, or a tuple
# _write_case builds), load's keyword arguments, and what a success must be ("equal" to the
# saved state, any "dict", or none: "error")
# ----------------------------------------------------------------------------
TAGS = ["__array__", "__tuple__", "__items__", "tensor", "scalar"]


def _random_json(rng, names, depth=0):
    """A random JSON value: scalars, lists, dicts with tag keys, references to entries."""
    kind = int(rng.integers(0, 12 if depth < 5 else 5))
    if kind == 0:
        return [None, True, False][int(rng.integers(0, 3))]
    if kind == 1:
        return [0, -1, 2**70, 1.5, float("nan"), float("inf"), -0.0][int(rng.integers(0, 7))]
    if kind == 2:
        return str(rng.choice(TAGS + names + ["", "x", "é", "a/b"]))
    if kind == 3:
        return int(rng.integers(-5, 5))
    if kind == 4:
        return {"__array__": str(rng.choice(names + ["missing"]))}
    if kind in (5, 6):
        return [_random_json(rng, names, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    if kind in (7, 8):
        return {str(rng.choice(TAGS + ["k", "v", "0"])) + ("" if rng.random() < 0.7 else str(i)):
                _random_json(rng, names, depth + 1) for i in range(int(rng.integers(0, 4)))}
    if kind == 9:
        return {"__items__": [[_random_json(rng, names, depth + 1) for _ in range(int(rng.integers(0, 4)))]
                              for _ in range(int(rng.integers(0, 3)))]}
    if kind == 10:
        return {"__tuple__": _random_json(rng, names, depth + 1)}
    return {"__array__": _random_json(rng, names, depth + 1),
            str(rng.choice(TAGS)): _random_json(rng, names, depth + 1)}


def _meta_npy(text: "str | bytes") -> bytes:
    from checkpoint_files import meta_text_bytes
    return meta_text_bytes(text)


def _names(base):
    return [n for n in base if n != "__meta__.json"]


def flip(rng, base, raw):
    data = bytearray(raw[int(rng.integers(0, len(raw)))])
    for _ in range(int(rng.integers(1, 9))):
        data[int(rng.integers(0, len(data)))] ^= int(rng.integers(1, 256))
    return bytes(data), {}, "equal"


def truncate_file(rng, base, raw):
    data = raw[int(rng.integers(0, len(raw)))]
    return data[:int(rng.integers(0, len(data)))], {}, "equal"


def truncate_entry(rng, base, raw):
    entries = dict(base)
    name = str(rng.choice(list(entries)))
    entries[name] = entries[name][:int(rng.integers(0, len(entries[name])))]
    return entries, {}, "error"


def random_meta(rng, base, raw):
    meta = {"format": "tinygan-checkpoint", "version": 1,
            "state": _random_json(rng, _names(base))}
    if rng.random() < 0.2:
        meta[str(rng.choice(["format", "version", "state", "extra"]))] = _random_json(rng, [])
    entries = dict(base)
    entries["__meta__.json"] = _meta_npy(json.dumps(meta))
    return entries, {}, "dict"


def mutated_meta(rng, base, raw):
    """The real metadata with one node replaced, removed or retyped."""
    meta = json.loads(np.load(_as_file(base["__meta__.json"])).tobytes())
    node, parents = meta["state"], []
    for _ in range(int(rng.integers(1, 6))):            # walk down to a random node
        children = list(node.items()) if isinstance(node, dict) else \
            list(enumerate(node)) if isinstance(node, list) else []
        if not children:
            break
        key, child = children[int(rng.integers(0, len(children)))]
        parents.append((node, key))
        node = child
    if not parents:
        return random_meta(rng, base, raw)
    parent, key = parents[-1]
    action = int(rng.integers(0, 4))
    if action == 0:
        parent[key] = _random_json(rng, _names(base))
    elif action == 1 and isinstance(parent, dict):
        del parent[key]
    elif action == 2:
        parent[key] = {"__array__": str(rng.choice(_names(base)))}    # a second reference
    else:
        parent[key] = [parent[key]] if rng.random() < 0.5 else {"__tuple__": parent[key]}
    entries = dict(base)
    entries["__meta__.json"] = _meta_npy(json.dumps(meta))
    return entries, {}, "dict"


def deep_meta(rng, base, raw):
    n = int(rng.choice([99, 101, 1000, 30_000, 300_000]))
    texts = [
        lambda: "[" * n, lambda: "[" * n + "]" * n, lambda: '{"a":' * n + "1" + "}" * n,
        lambda: '"' + '\\"' * n,                              # one unterminated string
        lambda: '["' + '\\\\' * n + '"]',
        lambda: '{"format": "tinygan-checkpoint", "version": 1, "state": ' + "[" * n,
        lambda: '"\\"[' * n,
    ]
    text = texts[int(rng.integers(0, len(texts)))]()
    entries = dict(base)
    entries["__meta__.json"] = _meta_npy(text)
    return entries, {}, "error"


def garbage_meta(rng, base, raw):
    choices = [bytes(rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8)),
               b"\xff\xfe{}", b'{"format": "tinygan-checkpoint", "version": 1, "state": {}',
               b"1" * 5000, b"NaN", b"[]", b'{"a": 1, "a": 2}', b"\xef\xbb\xbf{}",
               json.dumps({"format": "tinygan-checkpoint", "version": True, "state": {}}).encode()]
    entries = dict(base)
    text = choices[int(rng.integers(0, len(choices)))]
    entries["__meta__.json"] = _meta_npy(text) if rng.random() < 0.8 else \
        np.lib.format.MAGIC_PREFIX + text
    return entries, {}, "error"


def bad_header(rng, base, raw):
    """An entry whose .npy header lies: huge or negative shapes, object dtypes, junk.  Where the
    lie keeps the size (8 bytes of int64 read as two float32) the file loads, wrong but
    well-formed: no checksum can tell (the header is rewritten, its CRC-32 with it)."""
    from checkpoint_files import npy
    entries = dict(base)
    name = str(rng.choice(list(entries)))
    data = entries[name][128:]
    shapes = [(10**12,), (2**62, 2**62), (-1,), (2**31,) * 3, (1,) * 65, (0, 10**18), ()]
    dtypes = ["<f4", "|O", [("a", "<f8"), ("b", "|O")], "<U1000000000", ("<f8", (1000, 1000))]
    choice = int(rng.integers(0, 4))
    if choice == 0:
        shape = shapes[int(rng.integers(0, len(shapes)))]
        entries[name] = npy(dtype="<f4", shape=shape, data=data)
        return entries, {}, "dict" if shape == () else "error"
    if choice == 1:
        dtype = dtypes[int(rng.integers(0, len(dtypes)))]
        try:
            entries[name] = npy(dtype=dtype, shape=(2,), data=data)
        except (TypeError, ValueError):   # a dtype numpy won't even build: write its text
            entries[name] = _raw_header(repr({"descr": dtype, "fortran_order": False, "shape": (2,)}), data)
        return entries, {}, "dict"
    if choice == 2:
        texts = ["{'descr': '<f4', 'fortran_order': 'yes', 'shape': (2,)}",
                 "{'descr': '<f4', 'shape': (2,)}", "(" * 5000, "{'descr': " + "[" * 300,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}",
                 "__import__('os').system('echo owned')", " " * 20_000]
        entries[name] = _raw_header(texts[int(rng.integers(0, len(texts)))], data)
    else:
        magic = [b"\x93NUMPY\x03\x00", b"\x93NUMPY\x02\x00\xff\xff\xff\xff", b"\x93NUMPX\x01\x00",
                 b"\x93NUMPY\x01\x00\xff\xff"][int(rng.integers(0, 4))]
        entries[name] = magic + entries[name][len(magic):]
    return entries, {}, "error"


def _raw_header(text: str, data: bytes) -> bytes:
    body = text.encode("latin1", "replace") + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + data \
        if len(body) < 65536 else b"\x93NUMPY\x02\x00" + len(body).to_bytes(4, "little") + body + data


def extra_entry(rng, base, raw):
    entries = dict(base)
    name = str(rng.choice(["extra", "../evil", "a/b", "model", "", "x" * 300]))
    entries[name] = bytes(rng.integers(0, 256, int(rng.integers(0, 100)), dtype=np.uint8)) \
        if rng.random() < 0.5 else entries[str(rng.choice(list(entries)))]
    return entries, {}, "error"


def missing_entry(rng, base, raw):
    entries = dict(base)
    del entries[str(rng.choice(list(entries)))]
    return entries, {}, "error"


def duplicate_entry(rng, base, raw):
    return ("duplicate", str(rng.choice(list(base)))), {}, "error"


def huge_entry(rng, base, raw):
    """A deflated entry of 3 GiB (about 3 MB in the file): unreferenced, or in place of an array,
    with its header telling the truth (refused by max_bytes) or not (refused by its size)."""
    return ("huge", int(rng.integers(0, 4)), str(rng.choice(_names(base)))), {}, "error"


MUTATIONS = [flip, flip, truncate_file, truncate_entry, random_meta, mutated_meta, deep_meta,
             garbage_meta, bad_header, extra_entry, missing_entry, duplicate_entry, huge_entry]


# ----------------------------------------------------------------------------
# the driver (in the child process)
# ----------------------------------------------------------------------------
def _as_file(npy_bytes: bytes):
    import io
    return io.BytesIO(npy_bytes)


@functools.lru_cache(maxsize=None)
def _huge_stream(header: bytes) -> tuple:
    """A raw deflate stream of ``header`` then HUGE zero bytes, and its inflated size: the zero
    chunks deflated once after a full flush (which resets the compressor), then repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    chunk = 1 << 24
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return head + block * (HUGE // chunk) + c.flush(), len(header) + HUGE


def _write_case(path: Path, case, base: dict) -> None:
    from checkpoint_files import add_raw_deflated_entry, npy, write_zip
    if isinstance(case, bytes):
        path.write_bytes(case)
    elif isinstance(case, dict):
        write_zip(path, case)
    elif case[0] == "duplicate":
        write_zip(path, base)
        with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zf:
            warnings.simplefilter("ignore")              # zipfile warns of the duplicate name
            zf.writestr(case[1] + ".npy", base[case[1]])
    else:
        _, how, name = case
        if how == 0:                                     # an entry nothing refers to
            write_zip(path, base)
            stream, size = _huge_stream(b"")
            add_raw_deflated_entry(path, "junk.npy", stream, size, 0)
            return
        truthful = how == 1
        header = npy(dtype=np.uint8, shape=(HUGE,)) if truthful else npy(dtype=np.uint8, shape=(4,))
        target = "__meta__.json" if how == 3 else name
        write_zip(path, {k: v for k, v in base.items() if k != target})
        stream, size = _huge_stream(header)
        add_raw_deflated_entry(path, target + ".npy", stream, size, 0)


def _status(key: str) -> int:
    """A size from /proc/self/status (VmRSS, VmHWM, VmSize), in bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))


class _PeakMemory:
    """How far the process's memory rose above where it was at ``start()``.

    On Linux, the peak resident memory (VmHWM), reset at the start: what the process really
    took, zlib's buffers included (getrusage's ru_maxrss can't be reset, and starts a child at
    its parent's size).  Elsewhere, tracemalloc's peak: Python's and numpy's allocations.
    """

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.rss = _status("VmRSS")
        except OSError:
            self.rss = None
            tracemalloc.start()

    def added(self) -> int:
        if self.rss is not None:
            return _status("VmHWM") - self.rss
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak


def run_cases(workdir: Path, cases: int, seed: int) -> dict:
    """Run the fuzz cases; return counts, failures, the time and the peak memory they added."""
    from checkpoint_files import entries_of, same
    from tinygan import checkpoint

    state = _state()
    stored = checkpoint.save(workdir / "base.npz", **state)
    base = entries_of(stored)
    deflated = workdir / "deflated.npz"
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in base.items():
            zf.writestr(name + ".npy", data)
    raws = [stored.read_bytes(), deflated.read_bytes()]
    assert same(checkpoint.load(stored), state) and same(checkpoint.load(deflated), state)
    from checkpoint_files import npy
    for header in (b"", npy(dtype=np.uint8, shape=(HUGE,)), npy(dtype=np.uint8, shape=(4,))):
        _huge_stream(header)                             # made before the memory is measured
    path = workdir / "case.npz"
    rng = np.random.default_rng(seed)

    memory = _PeakMemory()
    memory.start()
    t0 = time.perf_counter()
    outcomes: dict = {}
    failures = []
    for i in range(cases):
        mutation = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
        case, kwargs, success = mutation(rng, base, raws)
        if isinstance(case, tuple) and case[0] == "huge" and case[1] == 1:
            kwargs = {"max_bytes": FUZZ_MAX_BYTES}      # a truthful 3 GiB entry: refused by the limit
        _write_case(path, case, base)
        try:
            got = checkpoint.load(path, **kwargs)
        except checkpoint.CheckpointError as exc:
            outcome = "refused"
            if "\n" in str(exc) or str(path) not in str(exc):
                failures.append(f"case {i} ({mutation.__name__}): message {str(exc)!r}")
        except BaseException as exc:                     # noqa: BLE001 - what the test is about
            outcome = "other exception"
            failures.append(f"case {i} ({mutation.__name__}): {type(exc).__name__}: {exc!s:.300}")
        else:
            outcome = "loaded"
            if success == "error":
                failures.append(f"case {i} ({mutation.__name__}): loaded, but must be refused")
            elif success == "equal" and not same(got, state):
                failures.append(f"case {i} ({mutation.__name__}): loaded, but not what was saved")
            elif not isinstance(got, dict):
                failures.append(f"case {i} ({mutation.__name__}): loaded a {type(got).__name__}")
            del got
        counts = outcomes.setdefault(mutation.__name__, {})
        counts[outcome] = counts.get(outcome, 0) + 1
    seconds = time.perf_counter() - t0
    peak = memory.added()
    return {"outcomes": outcomes, "failures": failures, "seconds": seconds, "peak_added": peak}


def _child(workdir: str, cases: int, seed: int) -> None:
    try:    # room for the cases, not for a runaway allocation: the address space now plus 1 GiB
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (_status("VmSize") + (1 << 30), resource.RLIM_INFINITY))
    except (ImportError, OSError, ValueError):
        pass    # no /proc or no RLIMIT_AS (macOS, Windows): the memory bound still applies
    print("REPORT " + json.dumps(run_cases(Path(workdir), cases, seed)))


def test_fuzzed_checkpoints_load_or_raise_checkpoint_error_in_bounded_memory(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import test_checkpoint_fuzz as fuzz
        fuzz._child({str(tmp_path)!r}, {CASES}, {SEED})
    """)
    env = dict(os.environ, TINYGAN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    print(f"{CASES} cases in {report['seconds']:.1f} s, peak memory added "
          f"{report['peak_added'] / 2**20:.1f} MiB: {report['outcomes']}")
    assert not report["failures"], "\n".join(report["failures"][:20])
    assert report["peak_added"] < PEAK_LIMIT, f"{report['peak_added'] / 2**20:.0f} MiB"
    outcomes = report["outcomes"]
    # Every kind of damage was tried and the harmful ones were all refused; flips that hit only
    # what no checksum covers (a timestamp, say) load, and equal the saved state (checked above).
    assert len(outcomes) == len(set(m.__name__ for m in MUTATIONS))
    assert outcomes["flip"].get("refused", 0) > 0 and outcomes["random_meta"].get("refused", 0) > 0
    for name in ("deep_meta", "extra_entry", "missing_entry", "huge_entry", "duplicate_entry",
                 "truncate_entry"):
        assert set(outcomes[name]) == {"refused"}, (name, outcomes[name])
