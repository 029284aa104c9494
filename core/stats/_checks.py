"""Input checks shared by the public functions of ``core.stats`` (boundary only)."""
from __future__ import annotations

import numpy as np


def binary_outcome(y, name: str = "y", *, both_classes: bool = True) -> np.ndarray:
    """Return ``y`` as a 1-D int array of 0/1; ValueError on NaN, other values or one class."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(int)
    try:
        values = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 0/1 (1 = event), got values like {arr[:3].tolist()}") from None
    if np.isnan(values).any():
        raise ValueError(f"{name} contains {int(np.isnan(values).sum())} missing value(s)")
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"{name} must be 0/1 (1 = event); found {sorted(set(values[bad].tolist()))[:5]}")
    out = values.astype(int)
    if both_classes and out.min() == out.max():
        raise ValueError(f"{name} has only one class ({out[0]}); both events and non-events are needed")
    return out


def numeric_vector(x, n: int, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D float array of length ``n`` without NaN or infinities."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"length mismatch: {name} has {arr.shape[0]} values, y has {n}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(arr)).sum())} missing or infinite value(s)")
    return arr


def probabilities(p, n: int, name: str = "risk") -> np.ndarray:
    """Return ``p`` as a float array of predicted probabilities in [0, 1]."""
    arr = numeric_vector(p, n, name)
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"{name} must be probabilities in [0, 1]; range is {arr.min():g} to {arr.max():g}")
    return arr
