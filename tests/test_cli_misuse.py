"""The ``tinygan`` command given bad input, as a careless user or an attacker would give it.

Every case runs the real command in a subprocess (``python -m tinygan``, TINYGAN_FAST=1) and
checks what the README's "When something goes wrong" promises: the exit status (2 for bad
input, 1 for a failed run, 130 after Ctrl-C), exactly one line on stderr naming what is wrong
(never a traceback), and -- where the command must write nothing -- a folder unchanged, file
names and contents (SHA-256) alike.

The runs the cases misuse are trained once per test worker, in-process (two steps of ``gan``
and of ``vae``, one of ``vae --latent-dim 2``), and each case gets its own copy of them:
small files copied, checkpoints hard-linked (tinygan replaces a checkpoint by renaming a new
file over it, never by writing into it, so a link is as good as a copy).

Read-only cases need a file system that refuses writes.  ``chmod`` gives one to an ordinary
user, but not to root; as root the command runs in a private mount namespace in which the
folder is bind-mounted read-only (``unshare -m``, or ``unshare -rm`` where root lacks
CAP_SYS_ADMIN).  Only where neither works is the case skipped, saying why.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GAN_CKPT = "gan/checkpoints/epoch_000_step_000002.npz"      # the gan run's only checkpoint
VAE_CKPT = "vae/checkpoints/epoch_000_step_000002.npz"
TIMEOUT = 120


# ----------------------------------------------------------------------------
# running the command
# ----------------------------------------------------------------------------
def environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TINYGAN_DEBUG", "PYTHONWARNINGS")}
    env.update(TINYGAN_FAST="1", TINYGAN_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    env.update(extra)
    return env


# Every command runs in at most this much address space: what these tiny runs need several times
# over, and a bound on what a command that ignored its --n could take from the machine (ten
# million samples are 31 GB of images).
MEMORY_CAP = 3 << 30


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def tinygan(cwd: Path, *args: str, env: dict | None = None,
            prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "tinygan", *args], cwd=cwd,
                          env=env or environment(), capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_cap_memory)


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The one line on stderr; fails unless there is exactly one and no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    return lines[0]


_hashes: dict = {}      # (inode, size, mtime) -> SHA-256: the hard-linked checkpoints are read once


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` -> its SHA-256 (files), "folder" or "link -> target"."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "folder"
        else:
            st = path.stat()
            key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            if key not in _hashes:
                _hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            found[name] = _hashes[key]
    return found


# ----------------------------------------------------------------------------
# the runs the cases misuse, and each case's copy of them
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory, mnist) -> Path:
    """A folder with the runs every case starts from: gan/ and vae/ (two steps each, so
    metrics.jsonl has a line), and other-shapes.npz: the vae checkpoint with the weights of a
    vae built with --latent-dim 2 (what a run with other options would have written)."""
    from tinygan import checkpoint
    from tinygan.train import train_gan, train_vae
    from tinygan.train.loop import build_family
    from tinygan.kernels import threads
    root = tmp_path_factory.mktemp("template")
    before = threads.get_num_threads()
    # On the one thread the commands below resume on (``environment``): a checkpoint written on
    # another count would add a not-bit-exact warning to every resume's one line.
    threads.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TINYGAN_FAST", "1")
            train_gan("gan", out=root / "gan", max_steps=2, progress=False)
            train_vae("vae", out=root / "vae", max_steps=2, progress=False)
    finally:
        threads.set_num_threads(before)
    state = checkpoint.load(root / VAE_CKPT)
    state["model"] = build_family("vae", latent_dim=2).state_dict()
    checkpoint.save(root / "other-shapes.npz", **state)
    return root


def _link_checkpoints(src: str, dst: str) -> None:
    if src.endswith(".npz"):
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


def own_copy(path: Path) -> None:
    """Replace the hard link ``path`` by a copy of its own: for the cases whose command is told
    to write that very file, so that a command that did write into it would spoil this case's
    copy only, not the template every later case starts from."""
    shutil.copy2(path, path.with_name(path.name + ".copy"))
    os.replace(path.with_name(path.name + ".copy"), path)


@pytest.fixture
def work(template, tmp_path) -> Path:
    """This case's copy of the template, plus what the cases name:

    afile               a regular file (a path under it can't be a folder)
    old.npz             an existing file
    other/              another run's config.json and metrics.jsonl, no checkpoint
    mixed/              the vae run with the gan run's checkpoint in its place
    shapes/             the vae run with other-shapes.npz in place of its checkpoint
    emptycfg/           the vae run with an empty config.json
    """
    work = tmp_path / "work"
    shutil.copytree(template, work, copy_function=_link_checkpoints)
    (work / "afile").write_text("a file, not a folder\n")
    (work / "old.npz").write_bytes(b"whatever the user keeps here")
    (work / "other").mkdir()
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy2(work / "vae" / name, work / "other" / name)
    for name, checkpoint_of in (("mixed", GAN_CKPT), ("shapes", "other-shapes.npz")):
        shutil.copytree(work / "vae", work / name, copy_function=_link_checkpoints)
        target = work / name / "checkpoints" / "epoch_000_step_000002.npz"
        target.unlink()
        os.link(work / checkpoint_of, target)
    shutil.copytree(work / "vae", work / "emptycfg", copy_function=_link_checkpoints)
    (work / "emptycfg" / "config.json").write_text("")
    return work


# ----------------------------------------------------------------------------
# read-only folders, as root too
# ----------------------------------------------------------------------------
_MOUNT_READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
_read_only_way: list = []        # found once per worker: ("chmod",), ("mount", unshare argv) or ("none", why)


def _find_read_only_way(probe: Path) -> tuple:
    if os.geteuid() != 0:
        return ("chmod",)
    probe.mkdir(exist_ok=True)
    why = []
    for unshare in (["unshare", "-m"], ["unshare", "-r", "-m"]):
        try:
            proc = subprocess.run([*unshare, "sh", "-c", _MOUNT_READ_ONLY, str(probe), "sh", "-c",
                                   f'! touch "{probe}/x" 2>/dev/null'],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why.append(f"{' '.join(unshare)}: {exc}")
            continue
        if proc.returncode == 0 and not (probe / "x").exists():
            return ("mount", tuple(unshare))
        why.append(f"{' '.join(unshare)}: {proc.stderr.strip() or 'exit ' + str(proc.returncode)}")
    return ("none", "; ".join(why))


@pytest.fixture
def read_only(tmp_path_factory):
    """``read_only(folder)`` -> a command prefix under which ``folder`` can't be written.

    An ordinary user gets the folder and everything in it chmod'ed read-only (given back after
    the test); root, for whom chmod stops nothing, a read-only bind mount in a mount namespace
    of the command's own."""
    if not _read_only_way:
        _read_only_way.append(_find_read_only_way(tmp_path_factory.mktemp("ro-probe")))
    way = _read_only_way[0]
    changed = []

    def make(folder: Path) -> tuple:
        if way[0] == "chmod":
            for path in [folder, *folder.rglob("*")]:
                mode = path.stat().st_mode
                changed.append((path, mode))
                path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            return ()
        if way[0] == "mount":
            return (*way[1], "sh", "-c", _MOUNT_READ_ONLY, str(folder))
        pytest.skip(f"as root chmod does not stop writes, and no read-only mount could be made "
                    f"({way[1]}): this read-only case is not checked here")

    yield make
    for path, mode in reversed(changed):
        path.chmod(mode)


# ----------------------------------------------------------------------------
# the table: every misuse that must be refused, and nothing written
# ----------------------------------------------------------------------------
@dataclass
class Case:
    args: str                       # the command line after "tinygan", run in the work folder
    status: int
    words: tuple                    # what the one line on stderr must say (regular expressions)
    env: dict = field(default_factory=dict)   # {VAR: value}, "{tmp}" replaced by the test's tmp_path
    read_only: str | None = None    # a folder of work/ to make read-only first
    unchanged: bool = True          # the work folder must be exactly as it was
    target: str | None = None       # a checkpoint the command is told to write (see own_copy)


NOT_A_RUNS_CHECKPOINTS = (r"inside .*gan/checkpoints, the checkpoints of the run",)
NO_NETWORK = dict(TINYGAN_DATA="{tmp}/no-data", XDG_CACHE_HOME="{tmp}/cache",
                  http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
                  HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                  no_proxy="", NO_PROXY="", PATH="{tmp}/no-programs")
CORRUPT_DATA = dict(TINYGAN_DATA="{tmp}/corrupt-data", XDG_CACHE_HOME="{tmp}/cache",
                    **{k: v for k, v in NO_NETWORK.items() if "proxy" in k.lower()})

CASES = {
    # sample --out: never into a run's checkpoints/, never a hidden ".npz", never over a file
    "sample over a run's checkpoint": Case(
        f"sample gan --n 2 --out {GAN_CKPT}", 2, NOT_A_RUNS_CHECKPOINTS + ("somewhere else",),
        target=GAN_CKPT),
    "sample into a run's checkpoints": Case(
        "sample gan --n 2 --out gan/checkpoints/more.npz", 2, NOT_A_RUNS_CHECKPOINTS),
    "sample --out a folder/": Case(
        "sample gan --n 2 --out vae/", 2, (r"--out vae/ is a folder", r"vae/samples\.npz")),
    "sample --out an existing file": Case(
        "sample gan --n 2 --out old.npz", 2, (r"--out old\.npz: the file exists", "--force")),
    "export over an existing file": Case(
        "export gan --out old.npz", 2, (r"--out old\.npz: the file exists", "--force")),
    "export into a run's checkpoints": Case(
        "export gan --out gan/checkpoints/g.npz", 2, NOT_A_RUNS_CHECKPOINTS),
    # train --out: another run's files are not mixed with this one's
    "train over another run's config and log": Case(
        "train dcgan --max-steps 1 --quiet --out other", 2,
        (r"other already holds a run's files \(config\.json, metrics\.jsonl\)", "--resume",
         "--force")),
    "train --out inside a run's checkpoints": Case(
        "train gan --max-steps 1 --quiet --out gan/checkpoints/run", 2, NOT_A_RUNS_CHECKPOINTS),
    # checkpoints that do not fit the run: the file, the family, the key, both shapes
    "sample a checkpoint of another family": Case(
        "sample mixed --n 2 --out s.npz", 2,
        (r"mixed/checkpoints/epoch_000_step_000002\.npz does not fit the vae model",
         r"it is a gan checkpoint", r"it has no encoder\.1\.weight \(shape \(400, 784\)")),
    "sample a checkpoint of other shapes": Case(
        "sample shapes --n 2 --out s.npz", 2,
        (r"shapes/checkpoints/epoch_000_step_000002\.npz does not fit the vae model",
         r"encoder\.3\.weight has shape \(4, 400\) in the file, \(40, 400\) in the model")),
    "eval a checkpoint of other shapes": Case(
        "eval shapes --n 128 --json", 2,
        (r"shapes/checkpoints/epoch_000_step_000002\.npz does not fit the vae model",
         r"\(4, 400\) in the file, \(40, 400\) in the model")),
    "resume from a checkpoint of another family": Case(
        "train vae --out mixed --resume --max-steps 3 --quiet", 2,
        (r"mixed/checkpoints/epoch_000_step_000002\.npz does not fit the vae model",
         "gan checkpoint")),
    # --out where nothing can be written
    "train --out under a file": Case(
        "train gan --max-steps 1 --quiet --out afile/run", 2,
        (r"--out afile/run is under afile, which is a file, not a folder",)),
    "sample --out under a file": Case(
        "sample gan --n 2 --out afile/s.npz", 2, (r"--out afile/s\.npz is under afile, which is a file",)),
    "train classifier --out a file": Case(
        "train classifier --epochs 1 --quiet --out afile", 2, (r"--out afile is a file, not a folder",)),
    "train --out on a read-only file system": Case(
        "train gan --max-steps 1 --quiet --out locked/run", 2,
        (r"--out locked/run: locked can't be written to",), read_only="locked"),
    "sample --out on a read-only file system": Case(
        "sample gan --n 2 --out locked/s.npz", 2, (r"--out locked/s\.npz: locked can't be written to",),
        read_only="locked"),
    "resume a read-only run": Case(
        "train gan --out gan --resume --max-steps 3 --quiet", 2,
        (r"--out gan: gan can't be written to",), read_only="gan"),
    # the data set can't be had: a failed run, and no run folder left behind
    "train without the data and no network": Case(
        "train gan --max-steps 1 --quiet --out fresh", 1,
        (r"could not get mnist file\(s\) train-images-idx3-ubyte", "by hand"), env=NO_NETWORK),
    "train on a corrupt data file": Case(
        "train gan --max-steps 1 --quiet --out fresh", 1,
        (r"checksum mismatch for mnist/train-images-idx3-ubyte", r"corrupt-data/mnist"),
        env=CORRUPT_DATA),
    # arguments out of range: refused by the parser, naming the argument
    "train --epochs 0": Case("train gan --epochs 0 --quiet --out fresh", 2,
                             (r"argument --epochs: must be at least 1, got 0",)),
    "train --epochs -1": Case("train gan --epochs -1 --quiet --out fresh", 2,
                              (r"argument --epochs: must be at least 1, got -1",)),
    "train --max-steps -3": Case("train gan --max-steps -3 --quiet --out fresh", 2,
                                 (r"argument --max-steps: must be at least 1, got -3",)),
    "train --batch-size 0": Case("train gan --batch-size 0 --quiet --out fresh", 2,
                                 (r"argument --batch-size: must be at least 1, got 0",)),
    "train --batch-size -1": Case("train gan --batch-size -1 --quiet --out fresh", 2,
                                  (r"argument --batch-size: must be at least 1, got -1",)),
    "train --n-critic 0": Case("train wgan --n-critic 0 --quiet --out fresh", 2,
                               (r"argument --n-critic: must be at least 1, got 0",)),
    "train a batch larger than the data": Case(
        "train gan --batch-size 100000 --quiet --out fresh", 2,
        (r"batch size 100000 is larger than the 512 training images",)),
    "train classifier --epochs -1": Case("train classifier --epochs -1 --quiet --out fresh", 2,
                                         (r"argument --epochs: must be at least 1, got -1",)),
    "train classifier --batch-size -1": Case("train classifier --batch-size -1 --quiet --out fresh", 2,
                                             (r"argument --batch-size: must be at least 1, got -1",)),
    "train --resume and --force": Case("train gan --resume --force --out gan", 2,
                                       (r"argument --force: not allowed with argument --resume",)),
    "sample --n 0": Case("sample gan --n 0 --out s.npz", 2, (r"argument --n: must be at least 1, got 0",)),
    "sample --n -5": Case("sample gan --n -5 --out s.npz", 2, (r"argument --n: must be at least 1, got -5",)),
    "sample --n ten million": Case(                   # refused before drawing: see MEMORY_CAP
        "sample gan --n 10000000 --out s.npz", 2,
        (r"n = 10,000,000 samples would need 3\d\.\d GB of memory \(3,5\d\d bytes each\)",
         r"ask for at most [\d,]+ at a time")),
    "eval --n ten million": Case(
        "eval vae --n 10000000 --json", 2, (r"n = 10,000,000 samples would need 4\d\.\d GB of memory",)),
    # run files a kill or a mistake can leave unreadable: the file named
    "sample a run with an empty config.json": Case(
        "sample emptycfg --n 2 --out s.npz", 2, (r"emptycfg/config\.json is not valid JSON \(it is empty\)",)),
    "resume a run with an empty config.json": Case(
        "train vae --out emptycfg --resume --quiet", 2, (r"emptycfg/config\.json is not valid JSON",)),
    "eval a folder that is no run": Case("eval afile --n 128", 2, (r"afile is not a run folder",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_misuse_is_refused_in_one_line(case: Case, work: Path, tmp_path: Path, read_only):
    env = None
    if case.env:
        (tmp_path / "no-data").mkdir()
        (tmp_path / "no-programs").mkdir()            # no npm or apt-get to download with
        corrupt = tmp_path / "corrupt-data" / "mnist"
        corrupt.mkdir(parents=True)
        (corrupt / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + bytes(60))
        env = environment(**{k: v.replace("{tmp}", str(tmp_path)) for k, v in case.env.items()})
    if case.target:
        own_copy(work / case.target)
    prefix = ()
    if case.read_only:
        (work / case.read_only).mkdir(exist_ok=True)
        prefix = read_only(work / case.read_only)
    before = snapshot(work)
    proc = tinygan(work, *case.args.split(), env=env, prefix=prefix)
    line = one_line(proc)
    assert proc.returncode == case.status, (proc.returncode, line)
    command = case.args.split()[0]
    assert line.startswith(f"tinygan {command}: "), line
    for words in case.words:
        assert re.search(words, line), f"{words!r} not in {line!r}"
    if case.unchanged:
        assert snapshot(work) == before


@pytest.mark.parametrize("args", ["train gan --max-steps 1 --quiet --out fresh --device cuda",
                                  "sample vae --n 2 --out s.npz --device cuda",
                                  "eval vae --n 128 --device cuda"])
def test_device_cuda_without_cupy_is_refused_in_one_line(args, work):
    from tinygan import backend
    if backend.cuda_is_available():
        pytest.skip("CuPy and a GPU are here: --device cuda works (the GPU tests cover it)")
    before = snapshot(work)
    proc = tinygan(work, *args.split())
    line = one_line(proc)
    assert proc.returncode == 2, line
    assert re.fullmatch(rf"tinygan {args.split()[0]}: --device cuda: CUDA device requested but "
                        r"(CuPy is not installed|no usable GPU was found).*; or use --device cpu", line), line
    assert snapshot(work) == before


# ----------------------------------------------------------------------------
# misuse that is not refused, but must not lose anything
# ----------------------------------------------------------------------------
def test_eval_of_a_read_only_run_prints_the_result_and_warns(work, read_only):
    prefix = read_only(work / "vae")
    before = snapshot(work)
    proc = tinygan(work, "eval", "vae", "--n", "128", "--json", "--iwae-k", "2", prefix=prefix)
    line = one_line(proc)
    assert proc.returncode == 0, line
    assert re.fullmatch(r"tinygan eval: warning: the result was not recorded in "
                        r"vae/metrics\.jsonl \(.+\)", line), line
    result = json.loads(proc.stdout)
    assert result["n_samples"] == 128 and "fid" in result and "iwae_nats" in result
    assert snapshot(work) == before


def test_resume_drops_a_cut_short_log_line_with_a_warning(work):
    log = work / "vae" / "metrics.jsonl"
    whole = log.read_text().splitlines()
    assert whole, "the template run should have logged a line"
    with open(log, "a") as f:
        f.write('{"type": "train", "epoch": 1, "st')           # what a kill mid-write leaves
    proc = tinygan(work, "train", "vae", "--out", "vae", "--resume", "--max-steps", "4", "--quiet")
    line = one_line(proc)
    assert proc.returncode == 0, line
    assert re.fullmatch(r"tinygan train: warning: vae/metrics\.jsonl: its last line was cut short "
                        r"\(the run was killed while writing it\); dropped it", line), line
    records = [json.loads(text) for text in log.read_text().splitlines()]   # every line whole
    assert [json.dumps(r) for r in records[:len(whole)]] == [json.dumps(json.loads(t)) for t in whole]
    assert records[-1]["step"] == 4


def test_resume_on_another_thread_count_warns_it_is_not_bit_exact(work):
    from tinygan import checkpoint
    saved = int(checkpoint.load(work / VAE_CKPT)["num_threads"])
    proc = tinygan(work, "train", "vae", "--out", "vae", "--resume", "--max-steps", "3", "--quiet",
                   env=environment(TINYGAN_NUM_THREADS=str(saved + 1)))
    line = one_line(proc)
    assert proc.returncode == 0, line
    assert line.startswith(f"tinygan train: warning: resuming on {saved + 1} CPU threads, but "
                           f"{VAE_CKPT} was written on {saved}: "), line
    assert "not bit-exactly" in line and f"TINYGAN_NUM_THREADS={saved}" in line
    # Resumed from a checkpoint written on as many threads: no warning.
    proc = tinygan(work, "train", "vae", "--out", "vae", "--resume", "--max-steps", "4", "--quiet",
                   env=environment(TINYGAN_NUM_THREADS=str(saved + 1)))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_force_is_what_lets_a_command_write_over_files(work):
    old = (work / "old.npz").read_bytes()
    proc = tinygan(work, "sample", "gan", "--n", "3", "--out", "old.npz", "--force")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (work / "old.npz").read_bytes() != old
    assert not any(p.name.endswith(".tmp") for p in work.iterdir())        # written atomically

    # train --force starts afresh over another run's files: none of the old lines are kept.
    proc = tinygan(work, "train", "gan", "--max-steps", "2", "--quiet", "--out", "other", "--force")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads((work / "other" / "config.json").read_text())["model"] == "gan"
    assert {r["type"] for r in map(json.loads, (work / "other" / "metrics.jsonl").read_text()
                                   .splitlines())} == {"train"}


def _terminal_ctrl_c() -> None:
    """In the child: SIGINT as a terminal delivers it (a test worker may have inherited it
    ignored, and Python then leaves it ignored), and the memory cap."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _cap_memory()


def test_a_second_ctrl_c_stops_at_once_and_says_what_was_kept(tmp_path, mnist):
    """The first Ctrl-C asks for a checkpoint after the batch; a second, during that batch,
    stops at once -- and the line says which checkpoint is kept.  (dcgan in batches of 256: two
    batches an epoch, each long enough for the second signal to come while it runs.)"""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinygan", "train", "dcgan", "--epochs", "1000", "--batch-size",
         "256", "--quiet", "--out", str(run)], env=environment(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_terminal_ctrl_c)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (run / "losses.png").exists():    # the last thing epoch 1 writes
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        time.sleep(0.3)       # then the first Ctrl-C comes during epoch 2's first batch
        proc.send_signal(signal.SIGINT)
        line = ""
        while "Ctrl-C" not in line:            # the loop has seen the first one
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the run ended before it saw the Ctrl-C"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    # epoch_001.npz, or the checkpoint of the first Ctrl-C if its batch ended before the second
    assert re.fullmatch(r"tinygan train: stopped at once by a second Ctrl-C, without saving; the "
                        r"last checkpoint, .*/checkpoints/epoch_001(_step_\d+)?\.npz, is kept "
                        r"\(--resume continues from it\)", err.strip()), err


@pytest.mark.parametrize("how", ["--debug", "TINYGAN_DEBUG=1"])
def test_debug_shows_the_traceback_too(work, how):
    args = ["sample", "gan", "--n", "2", "--out", f"{GAN_CKPT}"]
    own_copy(work / GAN_CKPT)
    if how == "--debug":
        proc = tinygan(work, *args, "--debug")
    else:
        proc = tinygan(work, *args, env=environment(TINYGAN_DEBUG="1"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("Traceback (most recent call last):"), proc.stderr
    assert "UsageError" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("tinygan sample: --out ")
    proc = tinygan(work, "--debug", *args)          # before the command, too
    assert proc.returncode == 2 and "Traceback" in proc.stderr


@pytest.mark.parametrize("train,kw", [
    ("train_gan", dict(model_name="gan", epochs=0)),
    ("train_gan", dict(model_name="gan", max_steps=-3)),
    ("train_gan", dict(model_name="gan", batch_size=0)),
    ("train_gan", dict(model_name="wgan", n_critic=0)),
    ("train_gan", dict(model_name="gan", ema=1.5)),
    ("train_vae", dict(model_name="vae", epochs=-1)),
    ("train_classifier", dict(epochs=-1)),
])
def test_the_python_api_refuses_bad_counts_before_writing(train, kw, tmp_path):
    """What the parser refuses on the command line, the training functions refuse too, before
    the run folder exists (0 used to mean the default for batch_size and n_critic)."""
    import tinygan.train
    with pytest.raises(ValueError, match=r"must be (a whole number >= 1|in \[0, 1\))"):
        getattr(tinygan.train, train)(out=tmp_path / "run", progress=False, **kw)
    assert not (tmp_path / "run").exists()
