"""What the side-by-side benchmarks share: the thread settings of their child processes,
which frameworks they can compare, and tinygan's DCGAN training step as they time it.

Both frameworks get the same number of threads through the environment, set before
NumPy or torch load in the child (OpenBLAS reads OPENBLAS_NUM_THREADS, PyTorch
OMP_NUM_THREADS, an MKL build MKL_NUM_THREADS).  tinygan's own threads
(tinygan/kernels/threads.py) follow OMP_NUM_THREADS too, unless TINYGAN_NUM_THREADS
is set in the environment the benchmark was started from.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys


def thread_env(threads: int) -> dict:
    """os.environ with every BLAS / OpenMP thread count set to ``threads``."""
    n = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)


def sides() -> list:
    """["tinygan", "torch"] when PyTorch is installed, else ["tinygan"]."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return ["tinygan"]
    return ["tinygan", "torch"]


def race(script: str, child_args: list, threads: int, rounds: int) -> tuple:
    """Run ``script --child SIDE *child_args`` for each side in turn, ``rounds`` times, each in
    a fresh process with ``threads`` threads; a child prints one JSON line with
    ``images_per_s``.  Returns ``(sides, best)``: the sides run and each one's fastest result.
    Each round is printed as it comes (to stderr), so that a long run on a busy machine shows
    its figures before the end."""
    env = dict(thread_env(threads), TINYGAN_NUM_THREADS=str(threads))
    run_sides, best = sides(), {}
    for i in range(rounds):
        for side in run_sides:
            cmd = [sys.executable, os.path.abspath(script), "--child", side, *map(str, child_args)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{side} failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"round {i + 1}: {side} {r['images_per_s']:.1f} images/s", file=sys.stderr,
                  flush=True)
            if side not in best or r["images_per_s"] > best[side]["images_per_s"]:
                best[side] = r
    return run_sides, best


def sync(device: str, side: str) -> None:
    """Wait for ``side``'s ("tinygan" or "torch") queued GPU work, so a timer reads the work
    done, not the work launched; nothing on the CPU."""
    if device == "cpu":
        return
    if side == "torch":
        import torch
        torch.cuda.synchronize()
    else:
        from tinygan import backend
        backend.cupy_module().cuda.Device().synchronize()


def step_arguments(doc: str, batch: int, repeat_help: str):
    """The command line of a side-by-side step benchmark (biggan_step.py, cyclegan_step.py):
    --preset (default cpu on the CPU, gpu on CUDA), --batch, --repeat, --rounds, --threads,
    --device, --json and the hidden --child.  Returns ``parse(argv) -> args`` that also
    checks the counts."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--preset", choices=["cpu", "gpu"], default=None,
                    help="default: cpu on --device cpu, gpu on cuda")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--repeat", type=int, default=3, help=repeat_help)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--json")
    ap.add_argument("--child", choices=["tinygan", "torch"], help=argparse.SUPPRESS)

    def parse(argv=None):
        args = ap.parse_args(argv)
        args.preset = args.preset or ("cpu" if args.device == "cpu" else "gpu")
        for name in ("batch", "repeat", "rounds", "threads"):
            if getattr(args, name) < 1:
                ap.error(f"--{name} must be at least 1, got {getattr(args, name)}")
        return args
    return parse


def copy_into_twin(src, dst) -> None:
    """Copy a tinygan module's parameters and buffers into its PyTorch twin ``dst`` in place,
    by name and strictly (a name missing on either side, or another shape, is an error); the
    twin's dtype and device are kept, and a 0-d entry stays 0-d."""
    import numpy as np
    import torch
    ref = dst.state_dict(keep_vars=True)
    state = src.state_dict()
    missing = sorted(set(ref) - set(state))
    if missing:
        raise KeyError(f"copy_from_tinygan: tinygan has no {missing[:5]} of the twin")
    with torch.no_grad():
        for k, v in state.items():
            ref[k].copy_(torch.from_numpy(np.array(twin_array(k, v, ref))))


def twin_array(key: str, value, twin_state: dict):
    """One entry of a tinygan state_dict as a NumPy array for the PyTorch twin's entry ``key``
    in ``twin_state``: a name the twin lacks or a shape that differs is an error naming both
    (the twins' ``copy_from_tinygan``)."""
    import numpy as np
    a = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if key not in twin_state:
        raise KeyError(f"copy_from_tinygan: the twin has no {key!r}")
    if tuple(a.shape) != tuple(twin_state[key].shape):
        raise ValueError(f"copy_from_tinygan: {key!r} is {a.shape} in tinygan, "
                         f"{tuple(twin_state[key].shape)} in the twin")
    return a


def dcgan_optimizers(model):
    """The DCGAN recipe's two Adams (lr 2e-4, betas (0.5, 0.999)) for D and G of ``model``."""
    from tinygan import optim
    return (optim.Adam(model.d_parameters(), lr=2e-4, betas=(0.5, 0.999)),
            optim.Adam(model.g_parameters(), lr=2e-4, betas=(0.5, 0.999)))


def gan_step(model, d_opt, g_opt, real, batch: int) -> None:
    """One training step of a tinygan GAN family, as the trainer's Stepper takes it without the
    loop around it: a D update on ``real`` and a fresh fake batch, then a G update."""
    loss_d, _ = model.d_loss(real, None)
    d_opt.zero_grad()
    loss_d.backward()
    d_opt.step()
    loss_g, _ = model.g_loss(batch, None)
    g_opt.zero_grad()
    loss_g.backward()
    g_opt.step()
