"""Argument types for the command line's numeric options: a bad value is refused by argparse.

``integer(1)`` accepts whole numbers of at least 1; ``number(0, 1, low_open=True)`` finite
numbers in (0, 1]. ``inf``, ``nan`` and values outside the range end in argparse's usage
message (exit code 2) naming the option, the range and the value, never in a traceback.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

SEED_MAX = 2**32 - 1  # numpy's and scikit-learn's largest seed


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A type for whole numbers from ``low`` to ``high`` (both included; None: unbounded)."""
    if low is not None and high is not None:
        expected = f"a whole number from {low} to {high}"
    elif low is not None:
        expected = f"a whole number of at least {low}"
    elif high is not None:
        expected = f"a whole number of at most {high}"
    else:
        expected = "a whole number"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """A type for finite numbers between ``low`` and ``high``; ``*_open`` leaves that end out."""
    expected = "a finite number"
    if low is not None or high is not None:
        expected += (f" in {'(' if low_open or low is None else '['}{'-inf' if low is None else f'{low:g}'}, "
                     f"{'inf' if high is None else f'{high:g}'}{')' if high_open or high is None else ']'}")

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        outside = not math.isfinite(value) or (
            low is not None and (value <= low if low_open else value < low)) or (
            high is not None and (value >= high if high_open else value > high))
        if outside:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def table_file(text: str) -> str:
    """A type for an output table's file name: it must end in .csv, .xlsx or .parquet."""
    from core.exports import TABLE_SUFFIXES

    if not text.lower().endswith(TABLE_SUFFIXES):
        raise argparse.ArgumentTypeError(f"expected a file name ending in {', '.join(TABLE_SUFFIXES)}, got {text!r}")
    return text
