"""The progress bar of every training loop: tqdm, or a silent stand-in."""
from __future__ import annotations

import sys
import warnings

# Seconds between redraws when the bar goes to a file or pipe rather than a terminal: tqdm
# redraws up to 10 times a second, and each redraw is kept in a log (`tinygan train ... >
# log 2>&1`): a 30-minute run would leave 18,000 copies of the bar.  One every 30 s keeps
# the log readable and still shows that the run is alive.
LOG_INTERVAL = 30.0


class _Silent:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def _shown_live(stream) -> bool:
    """Does someone watch ``stream`` as it is written: a terminal, or a notebook's output
    (Jupyter's kernel replaces sys.stderr by its own stream, which is not a tty)?"""
    if type(stream).__module__.split(".")[0] == "ipykernel":
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):       # no isatty, or a closed stream
        return False


def progress_bar(iterable, desc: str = "", enabled: bool = True, total: int | None = None,
                 initial: int = 0):
    """A tqdm bar over ``iterable`` (with ``set_postfix`` for the losses), or a silent wrapper.

    ``iterable`` None gives a bar moved by hand (``update``).  ``total`` and ``initial``
    serve an epoch resumed in its middle: the bar starts at batch ``initial`` of ``total``
    (default ``len(iterable)``).  On a terminal or in a notebook the bar redraws as tqdm
    likes; written to a file or pipe, every ``LOG_INTERVAL`` seconds.
    """
    if not enabled:
        return _Silent(iterable)
    with warnings.catch_warnings():
        # In Jupyter without ipywidgets, tqdm.auto falls back to the text bar (which the
        # notebook draws well) and warns, on first import, that the widget is missing.
        from tqdm.std import TqdmWarning
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    extra = {} if _shown_live(sys.stderr) else {"mininterval": LOG_INTERVAL}
    return tqdm(iterable, desc=desc, leave=True, dynamic_ncols=True, file=sys.stderr, total=total,
                initial=initial, **extra)
