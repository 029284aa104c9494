"""Intraclass correlation for test-retest reproducibility (Shrout & Fleiss 1979; McGraw & Wong 1996).

Kinds (single measures):
- "ICC(1,1)": one-way random effects;
- "ICC(2,1)": two-way random effects, absolute agreement (McGraw & Wong ICC(A,1));
- "ICC(3,1)": two-way mixed effects, consistency (McGraw & Wong ICC(C,1)).
Confidence limits are those of McGraw & Wong (1996), as in R's psych::ICC.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

KINDS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)")


def _mean_squares(r: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean squares of ratings r with shape (n subjects, k raters[, features])."""
    n, k = r.shape[0], r.shape[1]
    grand = r.mean(axis=(0, 1))
    row = r.mean(axis=1)
    col = r.mean(axis=0)
    ss_total = ((r - grand) ** 2).sum(axis=(0, 1))
    ss_rows = k * ((row - grand) ** 2).sum(axis=0)
    ss_cols = n * ((col - grand) ** 2).sum(axis=0)
    ss_error = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    wms = (ss_cols + ss_error) / (n * (k - 1))
    return bms, wms, jms, ems


def _icc_value(kind: str, n: int, k: int, bms, wms, jms, ems):
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "ICC(1,1)":
            return (bms - wms) / (bms + (k - 1) * wms)
        if kind == "ICC(2,1)":
            return (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
        return (bms - ems) / (bms + (k - 1) * ems)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def icc(ratings, kind: str = "ICC(2,1)", *, level: float = 0.95) -> dict:
    """ICC of a complete ratings table (n subjects x k raters or repeated measurements).

    Returns dict with kind, icc, F, df1, df2, p (F test of ICC = 0), ci_low, ci_high and the
    mean squares bms (between subjects), wms (within), jms (between raters), ems (residual).
    """
    _check_kind(kind)
    r = np.asarray(ratings, dtype=float)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise ValueError(f"ratings must be a 2-D table with >= 2 subjects and >= 2 raters, got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("ratings contain missing or infinite values")
    n, k = r.shape
    bms, wms, jms, ems = (float(v) for v in _mean_squares(r))
    value = float(_icc_value(kind, n, k, bms, wms, jms, ems))
    alpha = 1 - level
    if kind == "ICC(1,1)":
        f, df1, df2 = bms / wms, n - 1, n * (k - 1)
        fl = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        fu = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        low, high = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
    elif kind == "ICC(3,1)":
        f, df1, df2 = bms / ems, n - 1, (n - 1) * (k - 1)
        fl = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        fu = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        low, high = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
    else:
        f, df1, df2 = bms / ems, n - 1, (n - 1) * (k - 1)
        a = k * value / (n * (1 - value))
        b = 1 + k * value * (n - 1) / (n * (1 - value))
        v = (a * jms + b * ems) ** 2 / ((a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / ((n - 1) * (k - 1)))
        fl = stats.f.ppf(1 - alpha / 2, n - 1, v)
        fu = stats.f.ppf(1 - alpha / 2, v, n - 1)
        low = n * (bms - fl * ems) / (fl * (k * jms + (k * n - k - n) * ems) + n * bms)
        high = n * (fu * bms - ems) / (k * jms + (k * n - k - n) * ems + n * fu * bms)
    return {
        "kind": kind, "icc": value, "F": float(f), "df1": int(df1), "df2": int(df2),
        "p": float(stats.f.sf(f, df1, df2)), "ci_low": float(low), "ci_high": float(high),
        "bms": bms, "wms": wms, "jms": jms, "ems": ems,
    }


def icc_features(first: pd.DataFrame, second: pd.DataFrame, kind: str = "ICC(2,1)") -> pd.Series:
    """ICC per feature between two measurements of the same patients (see ``icc_measurements``)."""
    return icc_measurements([first, second], kind)


def icc_measurements(measurements, kind: str = "ICC(2,1)") -> pd.Series:
    """ICC per feature over k >= 2 measurements of the same patients (k raters or mask sources).

    measurements: DataFrames indexed by patient_id, one column per feature; only patients
    (in the first frame's order, repeats kept: a bootstrap replicate's draw) and features
    present in all are used (>= 2 patients needed). Returns Series of ICC by feature (NaN
    where a feature has missing values or no variance).
    """
    _check_kind(kind)
    frames = list(measurements)
    if len(frames) < 2:
        raise ValueError(f"ICC needs >= 2 measurements of each patient, got {len(frames)}")
    features = frames[0].columns
    for frame in frames[1:]:
        features = features.intersection(frame.columns, sort=False)
    common = set(frames[0].index)
    for frame in frames[1:]:
        common &= set(frame.index)
    patients = [p for p in frames[0].index if p in common]
    if len(set(patients)) < 2:
        raise ValueError(f"ICC needs >= 2 patients measured in every source; {len(set(patients))} in common")
    r = np.stack([f.loc[patients, features].to_numpy(dtype=float) for f in frames], axis=1)   # (n, k, features)
    values = _icc_value(kind, len(patients), len(frames), *_mean_squares(r))
    values = np.where(np.isnan(r).any(axis=(0, 1)), np.nan, values)
    return pd.Series(values, index=features, name=kind)
