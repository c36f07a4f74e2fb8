"""How far float32 training steps drift from float64 ones: tinygan's StyleGAN-lite and its twin.

    python benchmarks/stylegan_f32_drift.py [--steps 30] [--batch 8]

Four runs of the cpu recipe's training step (R1 every 4 D steps here, so that it comes up;
no path length or mixing), each from tinygan's seed-0 initialization, on the same batches,
with the same z's and noise images (every normal draw of both sides replaced by one seeded
NumPy stream, as in tests/benchmarks/test_stylegan_twin.py): tinygan and the PyTorch twin,
each in float64 and in float32.  The two float64 runs agree to rounding, so each float32 run's
distance from the float64 runs is its own rounding, fed back through the training dynamics.
A float32 run that drifts much faster than the other side's would point at an op of that side
that loses precision.

Printed per step: ||w32 - w64|| / ||w64|| over all of G's (and D's) weights for each side, and
the float64 runs' distance from each other.  A batch of 8 makes tinygan's D see the reals and
fakes in one pass (``StyleGAN.discriminate_both``), the twin's in two.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--steps", type=int, default=30)
ap.add_argument("--batch", type=int, default=8)
SETTINGS = dict(r1_interval=4, pl_weight=0.0, pl_interval=4, mixing=0.0)


class _Stream:
    """N(0, 1) draws from one seeded NumPy stream, in the order asked for."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, shape) -> np.ndarray:
        return self.rng.standard_normal(tuple(int(s) for s in shape))


def _shape_of(args) -> tuple:
    return tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else tuple(args)


def run_tinygan(dtype, steps: int, batch: int) -> list:
    """The weights of G and D (float64 copies, by name) after each of ``steps`` steps."""
    import tinygan
    from tinygan.autograd import Tensor
    from tinygan.losses import path_length
    from tinygan.models import stylegan
    from tinygan.nn import noise
    from tinygan.train.stylegan import StyleGANStepper
    modules = (stylegan, noise, path_length)
    saved = [m.randn for m in modules]
    tinygan.manual_seed(0)
    family = stylegan.StyleGAN("cpu").to(dtype=dtype)       # built before the draws are replaced
    stream = _Stream(7)
    for m in modules:
        m.randn = lambda *shape, dtype=None, device=None: Tensor(stream(_shape_of(shape)).astype(dt))
    dt = dtype
    try:
        stepper = StyleGANStepper(family, dict(lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99),
                                               r1_gamma=0.1, seed=0, **SETTINGS))
        rng, weights = np.random.default_rng(1), []
        for _ in range(steps):
            x = rng.uniform(-1, 1, (batch, 1, 32, 32)).astype(dtype)
            stepper.step(Tensor(x), None, lambda *a: None)
            weights.append({f"{side}.{name}": np.array(t.data, dtype=np.float64)
                            for side, net in (("G", family.G), ("D", family.D))
                            for name, t in net.state_dict().items()})
    finally:
        for m, f in zip(modules, saved):
            m.randn = f
    return weights


def run_twin(dtype, steps: int, batch: int) -> list:
    import torch
    import tinygan
    import stylegan_torch as twin
    from tinygan.models.stylegan import StyleGAN
    torch.set_num_threads(1)
    tinygan.manual_seed(0)
    family = StyleGAN("cpu")
    G, D = twin.build(torch, "cpu")
    twin.copy_from_tinygan(family, G, D)
    if dtype == np.float64:
        G, D = G.double(), D.double()
    stream = _Stream(7)
    saved = torch.randn, torch.randn_like
    torch.randn = lambda *shape, **kw: torch.from_numpy(stream(_shape_of(shape)).astype(dtype))
    torch.randn_like = lambda t, **kw: torch.from_numpy(stream(t.shape).astype(dtype))
    try:
        stepper = twin.Stepper(torch, G, D, r1_gamma=0.1, **SETTINGS)
        rng, weights = np.random.default_rng(1), []
        for _ in range(steps):
            x = rng.uniform(-1, 1, (batch, 1, 32, 32)).astype(dtype)
            stepper.step(torch.from_numpy(x))
            weights.append({f"{side}.{name}": t.detach().double().numpy().copy()
                            for side, net in (("G", G), ("D", D))
                            for name, t in net.state_dict().items()})
    finally:
        torch.randn, torch.randn_like = saved
    return weights


def distance(a: dict, b: dict, side: str) -> float:
    """||a - b|| / ||b|| over the tensors of one network."""
    keys = [k for k in b if k.startswith(side + ".")]
    num = sum(float(((a[k] - b[k]) ** 2).sum()) for k in keys)
    return (num / sum(float((b[k] ** 2).sum()) for k in keys)) ** 0.5


def main() -> None:
    args = ap.parse_args()
    from tinygan.kernels import threads
    threads.set_num_threads(1)
    t64, t32 = (run_tinygan(d, args.steps, args.batch) for d in (np.float64, np.float32))
    w64, w32 = (run_twin(d, args.steps, args.batch) for d in (np.float64, np.float32))
    print(f"StyleGAN-lite cpu preset, batch {args.batch}, {args.steps} steps: "
          "||w32 - w64|| / ||w64|| (G, D)")
    print(f"  {'step':>4s}  {'tinygan float32':>20s}  {'twin float32':>20s}  {'float64 tinygan - twin':>24s}")
    marks = sorted(set(list(range(0, args.steps, max(1, args.steps // 6))) + [args.steps - 1]))
    for i in marks:
        pair = lambda a, b: f"{distance(a, b, 'G'):8.1e} {distance(a, b, 'D'):8.1e}"  # noqa: E731
        print(f"  {i + 1:4d}  {pair(t32[i], t64[i]):>20s}  {pair(w32[i], w64[i]):>20s}  "
              f"{pair(t64[i], w64[i]):>24s}")


if __name__ == "__main__":
    main()
