"""Run-time settings every recipe reads: fast mode (``TINYGAN_FAST=1``) and what it shrinks."""
from __future__ import annotations

import os

FAST_IMAGES = 512          # TINYGAN_FAST=1: train on this many images
FAST_EVAL_IMAGES = 1000    # ... and evaluate against this many test images
FAST_LOG_EVERY = 2         # ... and log every this many steps (else LOG_EVERY)
LOG_EVERY = 50
# On a GPU the training loop reads the losses to the host (and refreshes the progress bar,
# and checks for NaN) every this many batches: each read waits for the device, so a read per
# batch would make the host wait every step (tinygan/train/loss_buffer.py).  On the CPU it
# reads every batch.
DEVICE_READ_EVERY = 20


def fast_mode() -> bool:
    """``TINYGAN_FAST=1``: tiny data and few steps, for tests and lesson notebooks."""
    return os.environ.get("TINYGAN_FAST", "0") not in ("", "0")


__all__ = ["fast_mode", "FAST_IMAGES", "FAST_EVAL_IMAGES", "FAST_LOG_EVERY", "LOG_EVERY",
           "DEVICE_READ_EVERY"]
