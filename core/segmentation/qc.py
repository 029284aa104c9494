"""Post-checks of predicted masks: a tumour is present and the liver volume is plausible.

The plausible range of the whole-liver volume (liver + tumour labels, mL) is robust:
median +- k * IQR of reference volumes (the study's manual masks), k = 2 by default (for a
symmetric distribution close to Tukey's 1.5 * IQR fences). Flagged masks are stored with
their flags and listed, never used silently.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

MIN_REFERENCE = 5
"""Fewer reference volumes than this give no range (only the label checks apply)."""


def robust_bounds(volumes_ml: Iterable[float], k: float = 2.0) -> tuple[float, float] | None:
    """(low, high) mL from reference whole-liver volumes, or None with too few of them."""
    v = np.asarray([x for x in volumes_ml if np.isfinite(x)], dtype=float)
    if v.size < MIN_REFERENCE:
        return None
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    return max(0.0, median - k * (q3 - q1)), median + k * (q3 - q1)


def mask_flags(volumes_ml: dict[str, float], bounds: tuple[float, float] | None) -> str | None:
    """Problems of one predicted mask ({"liver": mL, "tumour": mL}) as one line, or None when fine."""
    problems = [f"no {label} label" for label in ("liver", "tumour") if volumes_ml[label] <= 0]
    whole = volumes_ml["liver"] + volumes_ml["tumour"]
    if bounds is not None and not bounds[0] <= whole <= bounds[1]:
        problems.append(f"liver volume {whole:.0f} mL outside the plausible {bounds[0]:.0f}-{bounds[1]:.0f} mL")
    return "; ".join(problems) or None
