"""``EMAHalfLife``: an EMA decay given as a half-life in images, with an optional ramp-up.

StyleGAN2's training loop (``training/training_loop.py`` of the reference code) does not fix
the EMA's beta: it fixes how many images the average remembers.  Its half-life is
``ema_kimg * 1000`` images (10k by default), and the beta of one update of a batch of B
images is the one that halves an old weight's share after that many images:

    beta = 0.5 ** (B / ema_nimg)

With a ramp-up ratio R the half-life is at most R times the images seen so far,

    ema_nimg = min(ema_kimg * 1000, images_seen * R),

so that early on, when the weights move fast and the average would mostly remember the
random initialisation, it forgets quickly (beta 0 at the first update: the average starts as
a copy of the weights).  ``tinygan.train.loop.fit`` takes such a schedule in place of a
fixed beta and asks it for the beta of every update.
"""
from __future__ import annotations

import math


class EMAHalfLife:
    """``beta(images_seen)``: the decay of an EMA update, from a half-life in images.

    Args:
        batch_size: images per update (B above), >= 1.
        ema_kimg: the half-life in thousands of images, > 0.
        ema_rampup: the ramp-up ratio R (None: no ramp-up), > 0.

    Calling it with the images seen *before* the update (the reference's ``cur_nimg``) gives
    that update's beta in [0, 1).
    """

    def __init__(self, batch_size: int, ema_kimg: float, ema_rampup: float | None = None):
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"EMAHalfLife: batch_size must be a whole number >= 1, got {batch_size!r}")
        if not (math.isfinite(ema_kimg) and ema_kimg > 0):
            raise ValueError(f"EMAHalfLife: ema_kimg must be a finite number > 0, got {ema_kimg!r}")
        if ema_rampup is not None and not (math.isfinite(ema_rampup) and ema_rampup > 0):
            raise ValueError(f"EMAHalfLife: ema_rampup must be a finite number > 0 or None, "
                             f"got {ema_rampup!r}")
        self.batch_size = int(batch_size)
        self.ema_kimg = float(ema_kimg)
        self.ema_rampup = None if ema_rampup is None else float(ema_rampup)

    def half_life(self, images_seen: int) -> float:
        """The half-life in images of the update after ``images_seen`` images."""
        ema_nimg = self.ema_kimg * 1000
        if self.ema_rampup is not None:
            ema_nimg = min(ema_nimg, images_seen * self.ema_rampup)
        return ema_nimg

    def __call__(self, images_seen: int) -> float:
        if images_seen < 0:
            raise ValueError(f"EMAHalfLife: images_seen must be >= 0, got {images_seen!r}")
        # max(., 1e-8) as in the reference: a zero half-life is beta 0, a plain copy.
        return 0.5 ** (self.batch_size / max(self.half_life(images_seen), 1e-8))

    def __repr__(self) -> str:
        return (f"EMAHalfLife(batch_size={self.batch_size}, ema_kimg={self.ema_kimg:g}, "
                f"ema_rampup={self.ema_rampup})")


__all__ = ["EMAHalfLife"]
