"""``DataLoader``: batches of Tensors from in-memory arrays, reproducible across resumes.

Shaped like ``torch.utils.data.DataLoader``, but built for data sets that fit in
memory (MNIST is 47 MB): a batch is gathered with one fancy-indexing operation
on the whole arrays (``images[idx]``), never a Python loop over samples.

Shuffling.  The order of epoch ``e`` is a permutation drawn from a generator
seeded with ``(seed, e)`` and nothing else, so it doesn't depend on how many
epochs ran before in this process.  ``state_dict()`` records the seed and the
position (epoch, batch); a run resumed from a checkpoint with
``load_state_dict`` sees exactly the batches an unbroken run would have seen,
even when the checkpoint was written in the middle of an epoch.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import backend, random
from ..autograd import Tensor


def _as_arrays(dataset_or_arrays) -> tuple:
    """(images, labels) of a dataset with ``.data``/``.targets``, or a tuple of arrays/Tensors."""
    if hasattr(dataset_or_arrays, "data") and hasattr(dataset_or_arrays, "targets"):
        arrays = (dataset_or_arrays.data, dataset_or_arrays.targets)
    elif isinstance(dataset_or_arrays, (tuple, list)) and len(dataset_or_arrays) > 0:
        arrays = tuple(dataset_or_arrays)
    else:
        raise TypeError(
            "DataLoader: expected a data set with .data and .targets (MNIST, FashionMNIST) or a "
            f"tuple of arrays such as (images, labels), got {type(dataset_or_arrays).__name__}"
        )
    arrays = tuple(a.data if isinstance(a, Tensor) else a for a in arrays)
    arrays = tuple(a if backend.is_cupy_array(a) else np.asarray(a) for a in arrays)
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if a.ndim == 0 or len(a) != n:
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(f"DataLoader: all arrays need the same first dimension, got shapes {shapes}")
    return arrays


class DataLoader:
    """Iterate over a data set in batches of Tensors.

    Args:
        dataset_or_arrays: an object with ``.data`` (N, ...) and ``.targets`` (N,)
            (``MNIST``, ``FashionMNIST``), or a tuple of arrays or Tensors with
            the same first dimension N.
        batch_size: samples per batch, B.
        shuffle: a new random order every epoch (otherwise 0..N-1).
        drop_last: skip the last batch when it has fewer than B samples.
        seed: the seed of the shuffling; default: drawn from tinygan's generator,
            so ``tinygan.manual_seed`` makes it reproducible.
        device: where the batches go ("cpu", "cuda", ...; default tinygan's default).
            On a GPU the whole arrays are copied there once, as they are stored (MNIST's
            uint8 images: 47 MB, a quarter of their float32 size; int64 labels), and every
            batch is cut there: the epoch's order (int64 (N,)) is copied once per epoch and
            a batch is one gather of it, so a training step copies nothing between host
            and device.  The CPU runs the same code with NumPy (the copies are no-ops).
        transform: applied to the first array of each batch (the images) after it is
            on the device, e.g. ``Compose([to_float, normalize])`` (uint8 -> float32 in
            [-1, 1], computed on the device).

    Yields:
        a tuple of Tensors, one per array: ``(images, labels)`` with images
        (B, 28, 28) uint8 as stored, or whatever ``transform`` makes of them
        (``to_float`` gives (B, 1, 28, 28) float32), and labels (B,) int64.
    """

    def __init__(self, dataset_or_arrays, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, device=None,
                 transform: Callable | None = None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset_or_arrays
        self._arrays = _as_arrays(dataset_or_arrays)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = backend.device(device) if device is not None else backend.default_device()
        self.transform = transform
        if seed is None:
            seed = int(random.generator_for("cpu").integers(2 ** 63)) if shuffle else 0
        self.seed = int(seed)
        self._on_device = None        # the arrays on self.device, copied at first use
        # Position: the next __iter__ runs epoch self._epoch starting at batch self._start.
        self._epoch = 0
        self._start = 0
        self._active = None           # (epoch, next batch) while an iteration is under way

    # -- sizes -----------------------------------------------------------------------
    @property
    def num_samples(self) -> int:
        return len(self._arrays[0])

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    # -- order -----------------------------------------------------------------------
    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of ``epoch`` in batch order: int64 (N,).

        Depends only on ``(seed, epoch)``: SeedSequence mixes both into the
        generator's state, so nearby seeds or epochs give unrelated orders.
        """
        n = self.num_samples
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, int(epoch)])))
        return rng.permutation(n).astype(np.int64)

    @property
    def epoch(self) -> int:
        """The epoch under way, or the one the next iteration will run."""
        return self._active[0] if self._active is not None else self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration run ``epoch`` from its first batch (PyTorch's sampler.set_epoch)."""
        self._epoch, self._start = int(epoch), 0

    def state_dict(self) -> dict:
        """JSON-able position: ``{"seed", "epoch", "batch"}`` -- the next batch to produce."""
        epoch, batch = self._active if self._active is not None else (self._epoch, self._start)
        if batch >= len(self):
            epoch, batch = epoch + 1, 0      # a finished epoch: resume at the next one
        return {"seed": self.seed, "epoch": epoch, "batch": batch}

    def load_state_dict(self, state: dict) -> None:
        """Resume where ``state`` was taken: the next iteration continues that epoch."""
        self.seed = int(state["seed"])
        self._epoch, self._start = int(state["epoch"]), int(state.get("batch", 0))
        self._active = None

    # -- iteration ---------------------------------------------------------------------
    def _device_arrays(self) -> tuple:
        if self._on_device is None:
            self._on_device = tuple(backend.to_device(a, self.device) for a in self._arrays)
        return self._on_device

    def _device_order(self, epoch: int):
        """``order(epoch)`` on the device: the one host->device copy of an epoch (8 bytes a
        sample), so that every batch is gathered there without a copy per step."""
        return backend.to_device(self.order(epoch), self.device)

    def __iter__(self):
        # Each call to iter() is a new epoch (so a loop that stops early still moves on),
        # unless load_state_dict asked to finish one.
        epoch, start = self._epoch, self._start
        self._epoch, self._start = epoch + 1, 0
        return self._batches(epoch, start)

    def _batches(self, epoch: int, start: int):
        arrays = self._device_arrays()
        order = self._device_order(epoch)
        n, b = self.num_samples, self.batch_size
        stop = len(self)
        self._active = (epoch, start)
        try:
            for i in range(start, stop):
                idx = order[i * b: min((i + 1) * b, n)]
                batch = [a[idx] for a in arrays]         # one gather per array, no per-sample loop
                if self.transform is not None:
                    batch[0] = self.transform(batch[0])
                self._active = (epoch, i + 1)
                yield tuple(Tensor(x) for x in batch)
        finally:
            # Reached on exhaustion, and when the loop is left early (the generator is closed).
            if self._active is not None and self._active[0] == epoch:
                self._active = None

    def __repr__(self) -> str:
        return (f"DataLoader(n={self.num_samples}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, device='{self.device}')")
