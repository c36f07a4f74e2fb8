"""The training bar: tqdm's own pace on a terminal, one redraw per LOG_INTERVAL into a log."""
from __future__ import annotations

import io
import sys

from tinygan.train import progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_into_a_file_redraws_rarely(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress.progress_bar(range(1000), desc="t")
    assert bar.mininterval == progress.LOG_INTERVAL
    for _ in bar:
        bar.set_postfix(refresh=False, loss=1.0)    # as the training loops call it
    bar.close()
    # the first draw and the final one, nothing between (the loop takes far less than 30 s)
    assert log.getvalue().count("\r") <= 3, log.getvalue()
    assert "1000/1000" in log.getvalue()


def test_bar_on_a_terminal_keeps_tqdms_pace(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = progress.progress_bar(range(3), desc="t")
    assert bar.mininterval == 0.1       # tqdm's default
    list(bar)
    bar.close()


def test_bar_in_a_notebook_keeps_tqdms_pace(monkeypatch):
    """Jupyter's kernel writes stderr through its own stream, which is no tty but is watched."""
    kernel_stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(sys, "stderr", kernel_stream())
    bar = progress.progress_bar(range(3), desc="t")
    assert bar.mininterval == 0.1
    list(bar)
    bar.close()


def test_disabled_bar_is_silent(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    bar = progress.progress_bar(range(3), enabled=False)
    assert list(bar) == [0, 1, 2]
    bar.set_postfix(loss=1.0)
    bar.close()
    assert log.getvalue() == ""
