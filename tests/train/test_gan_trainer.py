"""The shared GAN trainer (tinygan/train/gan.py) on 512 real MNIST images (TINYGAN_FAST=1).

Smoke tests run every family of ``tinygan.models.FAMILIES`` for two generator steps; the
resume, NaN and Ctrl-C tests use the tiny families of ``gan_helpers`` (an MLP GAN with
BatchNorm, an RMSprop critic with n_critic 5 and clipping, a conditional and an InfoGAN-style
one) and DCGAN, and compare runs bit for bit.
"""
import io
import os
import signal
import sys
import threading

import numpy as np
import pytest

import tinygan
import tinygan.models
from tinygan import checkpoint
from tinygan.models import registry
from tinygan.train import kinds
from tinygan.train.gan import train_gan
from tinygan.train.loop import NonFiniteLossError

import gan_helpers
from gan_helpers import assert_same_state, compare_runs, latest, records

needs_mnist = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)
pytestmark = needs_mnist

FAMILIES = getattr(tinygan.models, "FAMILIES", None)
REAL = sorted(FAMILIES) if FAMILIES else [
    pytest.param("-", marks=pytest.mark.skip(reason="tinygan.models.FAMILIES does not exist yet"))]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    gan_helpers.register(monkeypatch)


# ----------------------------------------------------------------------------
# smoke tests: every family trains, changes its weights, writes pictures and a checkpoint
# ----------------------------------------------------------------------------
def _smoke(name, tmp_path, **kw):
    run = tmp_path / name
    # Two G steps (one for a critic with n_critic 5: that is already 5 D steps).
    steps = 2 if tinygan.models.FAMILIES[name].defaults.get("n_critic", 1) == 1 else 1
    train = kinds.kind_of(registry.get(name)).train        # a GAN's trainer, or StyleGAN's
    result = train(name, out=run, batch_size=16, max_steps=steps, progress=False, log_every=1, **kw)
    assert result["step"] == steps
    # Finite losses, logged.
    logged = [r for r in records(run) if r.get("type") == "train"]
    assert len(logged) == steps and all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in logged)
    assert np.isfinite(result["d_loss"]) and np.isfinite(result["g_loss"])
    # Both networks moved away from their initial weights (the same seed builds the same init).
    tinygan.manual_seed(0)
    init = tinygan.models.FAMILIES[name]().state_dict()
    state = latest(run)
    for net in ("G.", "D."):
        # (a spectrally normalized layer keeps its Parameter as weight_orig: biggan)
        changed = [k for k in init if k.startswith(net) and k.endswith(("weight", "weight_orig"))
                   and not np.array_equal(np.asarray(init[k].data), np.asarray(state["model"][k].data))]
        assert changed, f"{name}: no {net[0]} weight changed"
    # Pictures: a grid from the fixed noise, its copy samples.png, and the loss curves.
    assert result["samples"] and os.path.isfile(result["samples"])
    for f in ("samples.png", "losses.png", "config.json"):
        assert (run / f).is_file(), f
    return run, state


@pytest.mark.parametrize("name", REAL)
def test_smoke_every_family(name, tmp_path):
    _smoke(name, tmp_path)


@pytest.mark.parametrize("name", ["tiny", "tiny_wgan", "tiny_cgan", "tiny_infogan"])
def test_smoke_tiny_families_and_class_rows(name, tmp_path):
    run, state = _smoke(name, tmp_path, ema=0.9)
    labels = state["fixed"]["labels"]
    if name in ("tiny_cgan", "tiny_infogan"):       # row r of the 10 x 10 grid is class (code) r
        # exact: integer results
        np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 10))
    else:
        assert labels is None
    assert state["fixed"]["z"].shape[0] == 100
    assert state["ema"]["num_updates"] == state["step"]


def test_sampling_leaves_training_state_alone():
    """The grids use batch statistics, yet leave BatchNorm's running averages, the random
    generator and the module's mode exactly as they were."""
    from tinygan.train.loop import fixed_inputs, generate
    tinygan.manual_seed(0)
    family = gan_helpers.TinyGAN().eval()
    inputs = fixed_inputs(family, "cpu")
    before = {k: np.asarray(v.data).copy() for k, v in family.state_dict().items()}
    rng = tinygan.get_rng_state()
    a = generate(family, inputs["z"], batch_size=100)
    b = generate(family, inputs["z"], batch_size=100)
    # exact: the same computation on the same inputs twice (same thread count and machine)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (100, 1, 28, 28) and a.dtype == np.float32 and np.abs(a).max() <= 1
    assert not family.training and tinygan.get_rng_state() == rng
    for k, v in family.state_dict().items():
        # exact: sampling leaves the state untouched, bit for bit
        np.testing.assert_array_equal(np.asarray(v.data), before[k], err_msg=k)


def test_each_d_step_gets_its_own_batch_and_g_steps_every_n_critic(tmp_path):
    run = tmp_path / "w"
    result = train_gan("tiny_wgan", out=run, epochs=1, progress=False)      # 8 batches of 64
    assert result["images"] == 512 and result["step"] == 512 // 64 // 5
    state = latest(run)
    assert state["d_steps"] == 8 and state["opt_d"]["state"][0]["step"] == 8
    assert state["opt_g"]["state"][0]["step"] == 1
    # after_d_step clipped the critic's weights.
    assert all(np.abs(np.asarray(v.data)).max() <= 0.01 for k, v in state["model"].items() if k.startswith("D."))
    with pytest.raises(FileExistsError, match="--resume"):
        train_gan("tiny_wgan", out=run, epochs=1, progress=False)


# ----------------------------------------------------------------------------
# resume, bit for bit
# ----------------------------------------------------------------------------
def test_resume_at_an_epoch_is_bit_exact(tmp_path):
    """2 epochs straight == 1 epoch, stop, resume for the 2nd (model, both Adams, EMA, logs)."""
    kw = dict(progress=False, ema=0.9)
    train_gan("tiny", out=tmp_path / "straight", epochs=2, ema=0.9, progress=True)   # the tqdm path too
    train_gan("tiny", out=tmp_path / "split", epochs=1, **kw)
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()) == ["epoch_001.npz"]
    train_gan("tiny", out=tmp_path / "split", epochs=2, resume=True, **kw)
    compare_runs(tmp_path / "straight", tmp_path / "split")


def test_bar_of_a_run_stopped_in_mid_epoch_counts_every_batch(tmp_path, monkeypatch):
    """The trainer moves the bar by hand: stopped by --max-steps after 3 batches, the bar's
    last drawing says 3 of the epoch's batches, not 2 (a bar wrapping the iteration counts
    a batch only when the next is asked for)."""
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    train_gan("tiny", out=tmp_path / "run", epochs=1, max_steps=3, progress=True)
    last = log.getvalue().replace("\n", "\r").split("\r")
    drawn = [part for part in last if "epoch 1/1" in part]
    assert drawn and "| 3/" in drawn[-1], drawn[-3:]


def test_resume_in_the_middle_of_an_epoch_is_bit_exact_with_n_critic(tmp_path):
    """RMSprop critic, n_critic 5: the run stops after G step 1 (batch 5 of 8) and the resumed
    run finishes epoch 1 from batch 6, then epoch 2 -- G steps straddle the epochs."""
    train_gan("tiny_wgan", out=tmp_path / "straight", epochs=2, progress=False)
    train_gan("tiny_wgan", out=tmp_path / "split", epochs=2, max_steps=1, progress=False)
    assert [p.name for p in (tmp_path / "split" / "checkpoints").iterdir()] == ["epoch_000_step_000001.npz"]
    train_gan("tiny_wgan", out=tmp_path / "split", epochs=2, resume=True, progress=False)
    compare_runs(tmp_path / "straight", tmp_path / "split")


@pytest.mark.skipif(not FAMILIES or "dcgan" not in FAMILIES, reason="needs tinygan.models.FAMILIES['dcgan']")
def test_resume_dcgan_is_bit_exact(tmp_path):
    kw = dict(batch_size=16, progress=False, ema=0.99)
    train_gan("dcgan", out=tmp_path / "straight", max_steps=2, **kw)
    train_gan("dcgan", out=tmp_path / "split", max_steps=1, **kw)
    train_gan("dcgan", out=tmp_path / "split", max_steps=2, resume=True, **kw)
    compare_runs(tmp_path / "straight", tmp_path / "split")


@pytest.mark.skipif(not FAMILIES or "dcgan" not in FAMILIES, reason="needs tinygan.models.FAMILIES['dcgan']")
def test_resume_dcgan_is_bit_exact_on_three_threads(tmp_path, monkeypatch):
    """The same with tinygan's CPU threads on and every op split (tests/kernels/test_cpu_threads.py):
    the pieces, and the order their partial sums are added in, depend on the thread count
    only, so a resumed run on as many threads repeats the straight one bit for bit."""
    from tinygan.kernels import threads as cpu_threads
    from tinygan.kernels import im2col, matmul as ops_math
    monkeypatch.setattr(cpu_threads, "PARALLEL_MIN", 1)
    monkeypatch.setattr(ops_math, "GEMM_SPLIT_MIN", 1)
    monkeypatch.setattr(im2col, "CHUNK", 1)
    before = cpu_threads.get_num_threads()
    cpu_threads.set_num_threads(3)
    try:
        kw = dict(batch_size=16, progress=False, ema=0.99)
        train_gan("dcgan", out=tmp_path / "straight", max_steps=2, **kw)
        train_gan("dcgan", out=tmp_path / "split", max_steps=1, **kw)
        train_gan("dcgan", out=tmp_path / "split", max_steps=2, resume=True, **kw)
    finally:
        cpu_threads.set_num_threads(before)
    compare_runs(tmp_path / "straight", tmp_path / "split")


def test_mid_epoch_checkpoints_sort_between_epochs(tmp_path):
    from tinygan.train.run import Run
    run = Run(tmp_path / "r", {"model": "tiny"})
    names = [run.checkpoint_path(2), run.checkpoint_path(1, step=123), run.checkpoint_path(1),
             run.checkpoint_path(10), run.checkpoint_path(2, step=7)]
    for p in names:
        checkpoint.save(p, x=1)
    order = [p.name for p in checkpoint.list_checkpoints(run.checkpoints)]
    assert order == ["epoch_001.npz", "epoch_001_step_000123.npz", "epoch_002.npz",
                     "epoch_002_step_000007.npz", "epoch_010.npz"]
    assert run.latest_path().name == "epoch_010.npz"


def test_resume_refuses_changed_settings(tmp_path):
    train_gan("tiny", out=tmp_path / "r", max_steps=1, progress=False)
    with pytest.raises(ValueError, match="different settings"):
        train_gan("tiny", out=tmp_path / "r", max_steps=2, lr_g=1e-3, resume=True, progress=False)


def test_resume_from_a_checkpoint_with_the_old_pcg64_state_is_refused(tmp_path):
    """A checkpoint written before the Philox generator holds NumPy's PCG64 state: its stream
    cannot be continued, so the resume stops with an error naming the file and the reason."""
    train_gan("tiny", out=tmp_path / "r", max_steps=1, progress=False)
    path = checkpoint.latest_checkpoint(tmp_path / "r" / "checkpoints")
    state = checkpoint.load(path)
    state["rng"] = {"bit_generator": "PCG64", "state": {"state": 2 ** 127 + 5, "inc": 2 ** 64 + 1},
                    "has_uint32": 0, "uinteger": 0}
    checkpoint.save(path, **state)
    with pytest.raises(checkpoint.CheckpointError, match=r"can't resume.*PCG64 state") as info:
        train_gan("tiny", out=tmp_path / "r", max_steps=2, resume=True, progress=False)
    assert path.name in str(info.value)


# ----------------------------------------------------------------------------
# a NaN stops the run; Ctrl-C saves
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["d", "g"])
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(which, tmp_path, monkeypatch):
    cls = gan_helpers.TinyGAN
    original = getattr(cls, f"{which}_loss")
    calls = {"n": 0}

    def poisoned(self, *args):
        loss, stats = original(self, *args)
        calls["n"] += 1
        return (loss * float("nan"), stats) if calls["n"] == 11 else (loss, stats)

    monkeypatch.setattr(cls, f"{which}_loss", poisoned)
    run = tmp_path / "r"
    with pytest.raises(NonFiniteLossError, match=fr"the {which} loss is nan at step 11 \(epoch 2, batch 3\)") as err:
        train_gan("tiny", out=run, epochs=2, progress=False)
    assert "epoch_001.npz" in str(err.value)
    # Nothing of the bad state was saved: epoch 1's checkpoint is the latest, and it loads.
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_001.npz"]
    state = latest(run)
    assert state["step"] == 8 and all(np.isfinite(np.asarray(v.data)).all() for v in state["model"].values())
    # The run resumes from it (and, for one of the two, ends where an unbroken run ends).
    monkeypatch.setattr(cls, f"{which}_loss", original)
    train_gan("tiny", out=run, epochs=2, resume=True, progress=False)
    assert latest(run)["step"] == 16
    if which == "d":
        train_gan("tiny", out=tmp_path / "straight", epochs=2, progress=False)
        compare_runs(tmp_path / "straight", run)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals reach only the main thread")
def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes(tmp_path, monkeypatch, terminal_sigint):
    cls = gan_helpers.TinyGAN
    original = cls.g_loss
    calls = {"n": 0}

    def press_ctrl_c(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)      # what Ctrl-C in a terminal does
        return original(self, *args)

    monkeypatch.setattr(cls, "g_loss", press_ctrl_c)
    run = tmp_path / "r"
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 3"):
        train_gan("tiny", out=run, epochs=2, progress=False)
    assert signal.getsignal(signal.SIGINT) is handler              # restored
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_000_step_000003.npz"]
    assert latest(run)["step"] == 3                                # the batch under way was finished
    monkeypatch.setattr(cls, "g_loss", original)
    train_gan("tiny", out=run, epochs=2, resume=True, progress=False)
    train_gan("tiny", out=tmp_path / "straight", epochs=2, progress=False)
    compare_runs(tmp_path / "straight", run)
