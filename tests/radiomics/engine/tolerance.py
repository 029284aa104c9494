"""The one tolerance of every comparison of the engine with PyRadiomics (numpy only, so that it
also serves on a machine without PyRadiomics or pytest).

1e-6 relative, or 1e-9 absolute where PyRadiomics' |value| < 1e-3; NaN where PyRadiomics
gives NaN. A wider tolerance is listed, with its reason, where it is used.
"""
from __future__ import annotations

import math

RELATIVE, ABSOLUTE, SMALL = 1e-6, 1e-9, 1e-3


def within(value: float, expected: float) -> bool:
    """True when ``value`` equals PyRadiomics' ``expected`` within the tolerance (NaN equal to NaN)."""
    if math.isnan(expected):
        return math.isnan(value)
    if abs(expected) < SMALL:
        return abs(value - expected) <= ABSOLUTE
    return abs(value - expected) <= RELATIVE * abs(expected)
