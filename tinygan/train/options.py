"""Command-line options of the trainers: ``Option`` and the value types that check ranges.

A kind of training (tinygan/train/kinds.py) declares the options of its own -- a GAN's
``--lr-g``, a VAE's ``--latent-dim`` -- as ``Option`` rows; ``tinygan train`` and ``tinygan
eval`` (tinygan/cli.py) build their parsers from them, so a new kind adds options without
touching the command.  A value out of range is refused by the parser, before anything runs,
with the option named (``whole``, ``real``).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Option:
    """One option: ``FLAG VALUE`` on the command line is ``dest=type(VALUE)`` in the call of
    the kind's ``train`` (or ``evaluate``); not given, ``default`` (None: the family's recipe
    decides).  The parser itself keeps None for an option not given, so that the command
    can tell an option of another kind that was given from one that was not."""

    flag: str                        # "--lr-g"
    dest: str                        # "lr_g": the keyword argument it becomes
    type: Callable = str             # parses (and range-checks) the text
    help: str = ""
    default: Any = None
    choices: tuple | None = None
    metavar: str | None = None
    switch: bool = False             # a flag without a value ("--conditional"): True when given

    def add_to(self, parser, help: str | None = None) -> None:
        """Add this option to an ``argparse`` parser (``help``: in place of its own)."""
        if self.switch:
            parser.add_argument(self.flag, dest=self.dest, action="store_const", const=True,
                                default=None, help=self.help if help is None else help)
            return
        extra = {} if self.choices is None else {"choices": list(self.choices)}
        if self.metavar is not None:
            extra["metavar"] = self.metavar
        parser.add_argument(self.flag, dest=self.dest, type=self.type, default=None,
                            help=self.help if help is None else help, **extra)

    def value(self, args):
        """This option's value in parsed ``args``: what was given, else ``default``."""
        given = getattr(args, self.dest, None)
        return self.default if given is None else given


def whole(low: int):
    """An option type: a whole number >= ``low``."""
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return whole_number


def real(low: float, high: float | None = None, low_included: bool = True,
         high_included: bool = False):
    """An option type: a finite number in [low, high) (or (low, high) without ``low_included``,
    [low, high] with ``high_included``)."""
    bounds = ("[" if low_included else "(") + f"{low:g}, " + (
        "inf)" if high is None else f"{high:g}" + ("]" if high_included else ")"))

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and (value >= low if low_included else value > low)
                and (high is None or value < high or (high_included and value == high))):
            raise argparse.ArgumentTypeError(f"must be in {bounds}, got {text}")
        return value
    return number


def finite(text: str) -> float:
    """An option type: any finite number (not nan, not inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


__all__ = ["Option", "whole", "real", "finite"]
