"""The image pool: a discriminator sees a history of generated images, not only the latest.

Shrivastava et al. 2017 (sec. 2.3) and CycleGAN (Zhu et al. 2017, sec. 4: "we update the
discriminators using a history of generated images rather than the ones produced by the latest
generators.  We keep an image buffer that stores the 50 previously created images"): a D that
only ever sees the newest fakes forgets what older generators did, and G can oscillate between
modes D no longer remembers.  The contract, the reference code's ``ImagePool.query``, one
image at a time, in batch order:

- while the pool holds fewer than ``pool_size`` images, a fresh image is stored and returned;
- once it is full, with probability 1/2 a stored image, picked uniformly, is returned and the
  fresh one takes its place; otherwise the fresh image itself is returned (and not stored).

``pool_size = 0`` returns every batch as it is (``--no-pool``).

The draws come from a generator of the pool's own, seeded by ``seed`` and the number of
queries so far (``np.random.default_rng([seed, queries])``, one per query): the pool's whole
state is then a few integers and the stored images (``state_dict``), which a checkpoint
keeps, and a resumed run makes the same choices.  The choices are drawn on the host (a few
numbers per batch); the images stay on their device.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor

POOL_SIZE = 50


class ImagePool:
    """A buffer of up to ``pool_size`` generated images (see the module docstring).

    Args:
        pool_size: how many images it keeps (50 in the paper; 0: no pool).
        seed: seeds its draws.

    ``query(images)``: images (N, C, H, W) Tensor -> (N, C, H, W) Tensor, detached.
    """

    def __init__(self, pool_size: int = POOL_SIZE, seed: int = 0):
        if isinstance(pool_size, bool) or not isinstance(pool_size, (int, np.integer)) \
                or pool_size < 0:
            raise ValueError(f"ImagePool: pool_size must be a whole number >= 0, got {pool_size!r}")
        self.pool_size, self.seed = int(pool_size), int(seed)
        self.queries = 0          # how many batches it has been asked about
        self.count = 0            # how many images it holds
        self.images = None        # (pool_size, C, H, W) on the images' device, once one came

    def query(self, images: Tensor) -> Tensor:
        """The images D is shown for this batch of fresh ``images`` (the module's contract)."""
        if not isinstance(images, Tensor) or images.ndim != 4:
            got = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
            raise ValueError(f"ImagePool.query: expected images (N, C, H, W), got {got}")
        fresh = images.data
        if self.pool_size == 0:
            return Tensor(fresh)
        xp = backend.get_array_module(fresh)
        if self.images is None:
            self.images = xp.zeros((self.pool_size, *fresh.shape[1:]), dtype=fresh.dtype)
        elif self.images.shape[1:] != fresh.shape[1:]:
            raise ValueError(f"ImagePool.query: images of shape {tuple(fresh.shape[1:])} for a "
                             f"pool of images of shape {tuple(self.images.shape[1:])}")
        rng = np.random.default_rng([self.seed, self.queries])
        self.queries += 1
        n = fresh.shape[0]
        coins, picks = rng.random(n), rng.integers(0, self.pool_size, n)
        out = xp.array(fresh, copy=True)
        for i in range(n):
            if self.count < self.pool_size:             # not full: store it, return it
                self.images[self.count] = fresh[i]
                self.count += 1
            elif coins[i] > 0.5:                         # full: swap with a stored one
                j = int(picks[i])
                out[i] = self.images[j]
                self.images[j] = fresh[i]
            # else: the fresh image is returned as it is
        return Tensor(out)

    def state_dict(self) -> dict:
        """Everything a resume needs: the counters and the stored images (on the CPU)."""
        stored = None if self.images is None else backend.to_device(self.images[:self.count], "cpu")
        return {"pool_size": self.pool_size, "seed": self.seed, "queries": self.queries,
                "count": self.count, "images": stored,
                "shape": None if self.images is None else list(self.images.shape[1:])}

    def load_state_dict(self, state: dict, device="cpu") -> None:
        """Restore ``state_dict()``'s state, the stored images put on ``device``."""
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(f"ImagePool: the state is of a pool of {state['pool_size']} "
                             f"images, this pool holds {self.pool_size}")
        self.seed, self.queries = int(state["seed"]), int(state["queries"])
        self.count = int(state["count"])
        if state["shape"] is None:
            self.images = None
            return
        stored = np.asarray(state["images"])
        if stored.shape != (self.count, *state["shape"]):
            raise ValueError(f"ImagePool: {self.count} stored images of shape "
                             f"{tuple(state['shape'])} expected, got an array of {stored.shape}")
        images = np.zeros((self.pool_size, *state["shape"]), dtype=stored.dtype)
        images[:self.count] = stored
        self.images = backend.to_device(images, device)


__all__ = ["ImagePool", "POOL_SIZE"]
