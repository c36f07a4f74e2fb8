"""``LossBuffer``: the losses of the steps since the last read, kept where they were computed.

On a GPU, turning a loss into a Python number (``loss.item()``, ``float(loss)``) waits for
every kernel queued before it.  One such read per step makes the host wait for the device
every step: the next step's launches can't be queued while this one runs, and the step
time becomes host time plus device time instead of the larger of the two.  So a step
leaves its logged values as 0-d arrays of the model's array module, the training loop
(tinygan/train/loop.py) adds them here, one row per step, and reads every row at once at
its read points -- when the progress bar refreshes, when a metrics.jsonl line is written,
at an epoch's end and before every checkpoint.  One read is one stack of the pending
values and one device-to-host copy, however many steps it covers.

The NaN/inf check happens at the reads too: the loop walks the rows in step order and
stops at the first non-finite loss.  The trade-off: on a GPU a NaN is found up to one read
interval late, after the updates that followed it; those weights are thrown away (the run
stops without saving) and the checkpoint on disk is the last one written, which the loop
writes only after reading every earlier step's losses and finding them finite.  On the
CPU the reads cost nothing, and the loop reads after every step.

The numbers are those of reading each value on its own: a float32 loss becomes float64
exactly (every float32 is a float64), so the float the row holds is ``loss.item()``'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..autograd import Tensor


@dataclass
class Row:
    """One step's entry: ``where`` names the step for messages (``{"step", "epoch",
    "batch"}``); ``logged`` maps a name to its value; ``checked`` lists ``(which, value)``,
    the losses the NaN check must see, in the order the step computed them.  Values are
    0-d arrays or numbers while pending, Python floats once read."""

    where: dict
    logged: dict
    checked: list = field(default_factory=list)


class LossBuffer:
    """Rows of logged values since the last ``read``; see the module docstring.

    >>> buf = LossBuffer()
    >>> buf.add({"d_loss": np.float32(0.5)}, [("d", np.float32(0.5))], step=1, epoch=1, batch=1)
    >>> buf.read()[0].logged
    {'d_loss': 0.5}
    """

    def __init__(self):
        self.rows: list = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, logged: dict, checked=(), **where) -> None:
        """Keep one step's values: no copy, no read (a value stays a device array; a Tensor
        is kept as its array).  Every value must be one number: a 0-d array (or of size 1)."""
        logged = {k: _unwrap(v, k) for k, v in logged.items()}
        checked = [(which, _unwrap(v, f"the {which or 'checked'} loss")) for which, v in checked]
        self.rows.append(Row(dict(where), logged, checked))

    def read(self) -> list:
        """Every pending row with its values as Python floats, in step order; empties the buffer.

        The arrays of each array module are stacked (as float64: exact for float32 and the
        integers a step may log) and copied to the host in one piece; a value that is already a
        number is taken as it is.
        """
        rows, self.rows = self.rows, []
        arrays, slots = {}, {}             # id -> array; id -> (module, position in its stack)
        for row in rows:
            for value in (*row.logged.values(), *(v for _, v in row.checked)):
                if _is_array(value) and id(value) not in arrays:
                    arrays[id(value)] = value
        # Grouped by array module, then by dtype: each group is one stack and one cast, and
        # each module one copy to the host (a few launches for a whole interval's values).
        groups = {}                        # module -> dtype -> [id]
        for key, value in arrays.items():
            xp = backend.get_array_module(value)
            groups.setdefault(xp, {}).setdefault(value.dtype, []).append(key)
        host = {}
        for xp, by_dtype in groups.items():
            keys = [k for members in by_dtype.values() for k in members]
            stacked = xp.concatenate([xp.stack([arrays[k].reshape(()) for k in members]).astype(xp.float64)
                                      for members in by_dtype.values()])
            host[xp] = np.asarray(backend.to_device(stacked, "cpu")).tolist()
            slots.update((k, (xp, i)) for i, k in enumerate(keys))

        def number(value) -> float:
            if _is_array(value):
                xp, i = slots[id(value)]
                return host[xp][i]
            return float(value)

        for row in rows:
            row.logged = {k: number(v) for k, v in row.logged.items()}
            row.checked = [(which, number(v)) for which, v in row.checked]
        return rows


def _unwrap(value, name: str):
    value = value.data if isinstance(value, Tensor) else value
    if _is_array(value) and value.size != 1:
        raise ValueError(f"LossBuffer.add: a logged value must be one number, got {name} of shape "
                         f"{tuple(value.shape)}")
    return value


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or backend.is_cupy_array(value)


__all__ = ["LossBuffer", "Row"]
