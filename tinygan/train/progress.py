"""The progress bar of every training loop: tqdm, or a silent stand-in."""
from __future__ import annotations

import sys


class _Silent:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def progress_bar(iterable, desc: str = "", enabled: bool = True, total: int | None = None,
                 initial: int = 0):
    """A tqdm bar over ``iterable`` (with ``set_postfix`` for the losses), or a silent wrapper.

    ``total`` and ``initial`` serve an epoch resumed in its middle: the bar starts at batch
    ``initial`` of ``total`` (default ``len(iterable)``).
    """
    if not enabled:
        return _Silent(iterable)
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc, leave=True, dynamic_ncols=True, file=sys.stderr, total=total,
                initial=initial)
