"""A table of tensors, so that one kernel launch updates many of them (multi-tensor kernels).

An optimizer step on a GPU touches every parameter, its gradient and its state: a DCGAN has
about twenty parameter tensors, so a step launched per tensor and per operation costs a
hundred or more launches, each paying the host's fixed cost while the GPU waits.  The fused
kernels (adam.cu, sgd.cu, ema.cu) instead take a *table*:

    table         (R, n) uint64: the device address of tensor k in role r (row r: parameters,
                  gradients, moments, ...), 0 where a role is unused
    sizes         (n,) int64: the elements of tensor k (the same in every role)
    block_tensor  (B,) uint32, block_start (B,) int64: block b of the one launch updates
                  elements [block_start[b], block_start[b] + chunk) of tensor block_tensor[b]

so every tensor gets ceil(size / chunk) blocks, small tensors one, and the whole step is one
launch with B blocks.  ``TableCache`` keeps the tables on the device: the block map is built
again only when the sizes change.  An optimizer's parameters and state stay put, but gradients
are new arrays each step, which the memory pool often but not always places where the last
ones were.  When only addresses change, the table stays where it is on the device and its
rows are rewritten in place (``Table.refresh``) by one asynchronous copy of 8 R n bytes from
page-locked host memory: no allocation, no new array, and the host does not wait for it.
The copy is queued on the stream before the step's launch, so the kernel reads the new
addresses and the launches queued before it the old ones.  Its source is one of ``RING``
pinned buffers used in turn, each rewritten only once the copy that last read it has run
(else the host waits for that copy: the GPU is then RING steps behind).

Why this and not stable gradient addresses: the gradients are the arrays the backward pass
delivers to ``.grad`` (tinygan/autograd.py); accumulating them into persistent per-parameter
buffers would cost a copy launch per parameter here, or a change to the engine.  Passing the
gradient addresses as kernel arguments instead would limit the tensors of one launch.

The same code builds a table of NumPy arrays (addresses from ``a.ctypes.data``), which is how
the CPU emulator runs these kernels in the tests.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import backend

CHUNK = 4096          # elements per block: 16 per thread of a 256-thread block
THREADS = 256
RING = 4              # pinned host buffers a table's address copies take in turn


def fusable(items, ctypes) -> bool:
    """Whether one launch can take an optimizer group's ``items`` ((param, p, g) triples): the
    kernels are on for every array (``cuda.use_kernel``: CuPy arrays, TINYGAN_KERNELS not 0)
    and every p and g is contiguous, with p's dtype one of ``ctypes`` (the kernel's types)."""
    from . import cuda
    return (cuda.use_kernel(*(a for _, p, g in items for a in (p, g)))
            and all(p.dtype in ctypes and p.flags.c_contiguous and g.flags.c_contiguous
                    for _, p, g in items))


def address(a) -> int:
    """The address of an array's first element, on its device (CuPy) or in host memory (NumPy)."""
    return a.data.ptr if backend.is_cupy_array(a) else a.ctypes.data


def block_map(sizes: Sequence[int], chunk: int = CHUNK) -> tuple:
    """(block_tensor, block_start) as NumPy arrays: tensor k of ``sizes[k]`` elements gets
    blocks starting at 0, chunk, 2 chunk, ...; a tensor of no elements gets none."""
    tensors, starts = [], []
    for k, size in enumerate(sizes):
        for start in range(0, size, chunk):
            tensors.append(k)
            starts.append(start)
    return np.array(tensors, np.uint32), np.array(starts, np.int64)


class Table:
    """The device arrays of one launch over the tensors of ``roles`` (see the module docstring).

    Args:
        roles: R lists of n arrays each (None where the role is unused for that tensor); every
            array C-contiguous, the arrays of tensor k all of ``roles[0][k]``'s size.
        chunk: elements per block.
        like: reuse this table's block map (on the device) when its sizes and chunk are these.
    """

    def __init__(self, roles: Sequence[Sequence], chunk: int = CHUNK, like: "Table | None" = None):
        first = roles[0]
        xp = backend.get_array_module(first[0])
        self.n = len(first)
        self.chunk = chunk
        self.sizes_host = tuple(int(a.size) for a in first)
        _check(roles, self.sizes_host)
        self.addresses_host = addresses(roles)
        self.table = xp.asarray(np.array(self.addresses_host, np.uint64).reshape(len(roles), self.n))
        if like is not None and like.sizes_host == self.sizes_host and like.chunk == chunk:
            self.sizes, self.block_tensor, self.block_start = like.sizes, like.block_tensor, like.block_start
        else:
            tensors, starts = block_map(self.sizes_host, chunk)
            self.sizes = xp.asarray(np.array(self.sizes_host, np.int64))
            self.block_tensor, self.block_start = xp.asarray(tensors), xp.asarray(starts)
        self.blocks = int(self.block_tensor.size)
        self._ring: list = []               # (pinned buffer, event of its last copy)
        self._turn = 0

    def refresh(self, roles: Sequence[Sequence]) -> None:
        """Point the table at ``roles``' arrays, of the same sizes as the ones it was built for,
        in place: one asynchronous copy of the address rows from a pinned host buffer."""
        new = addresses(roles)
        if len(new) != len(self.addresses_host):
            raise ValueError(f"multi-tensor table: refresh with {len(new)} addresses, the table has "
                             f"{len(self.addresses_host)}")
        if not self._ring:
            shape = tuple(self.table.shape)
            self._ring = [[backend.pinned_empty(shape, np.uint64), None] for _ in range(RING)]
        slot = self._ring[self._turn]
        self._turn = (self._turn + 1) % RING
        if slot[1] is not None and not slot[1].done:
            slot[1].synchronize()           # its last copy hasn't run yet: wait for it
        slot[0][...] = np.array(new, np.uint64).reshape(slot[0].shape)
        slot[1] = backend.copy_to_device_async(self.table, slot[0])
        self.addresses_host = new

    def args(self) -> tuple:
        """The launch's leading arguments: (table, sizes, n, block_tensor, block_start, chunk)."""
        return (self.table, self.sizes, np.uint32(self.n), self.block_tensor, self.block_start,
                np.uint32(self.chunk))


def _check(roles: Sequence[Sequence], sizes: tuple) -> None:
    """Every role has one array (or None) per tensor, contiguous, of tensor k's size."""
    for r, role in enumerate(roles):
        if len(role) != len(sizes):
            raise ValueError(f"multi-tensor table: role {r} has {len(role)} arrays, role 0 has {len(sizes)}")
        for k, a in enumerate(role):
            if a is None:
                continue
            if a.size != sizes[k] or not a.flags.c_contiguous:
                raise ValueError(f"multi-tensor table: array {k} of role {r} has shape {tuple(a.shape)} "
                                 f"(contiguous: {a.flags.c_contiguous}); expected a contiguous array "
                                 f"of {sizes[k]} elements like role 0's")


def addresses(roles: Sequence[Sequence]) -> tuple:
    """The flat tuple of every array's address, role by role (0 for None)."""
    return tuple(0 if a is None else address(a) for role in roles for a in role)


class TableCache:
    """The last table built under each key (an optimizer keeps one per parameter group and
    set of parameters stepped together): ``get`` hands it back while the arrays' addresses
    and sizes are the same, and builds a new one (keeping the block map if the sizes are
    unchanged) when they are not.  At most ``MAX_KEYS`` keys are kept (a loop that steps a
    different subset of parameters each time would otherwise grow it without end)."""

    MAX_KEYS = 32

    def __init__(self, chunk: int = CHUNK):
        self.chunk = chunk
        self._tables: dict = {}

    def get(self, key, roles: Sequence[Sequence]) -> Table:
        old = self._tables.get(key)
        if (old is not None and len(roles) * old.n == len(old.addresses_host)
                and old.sizes_host == tuple(int(a.size) for a in roles[0])):
            if old.addresses_host != addresses(roles):
                _check(roles, old.sizes_host)
                old.refresh(roles)          # new gradient arrays: rewrite the addresses in place
            return old
        if old is None and len(self._tables) >= self.MAX_KEYS:
            self._tables.clear()
        table = self._tables[key] = Table(roles, self.chunk, like=old)
        return table

    def clear(self) -> None:
        self._tables.clear()
