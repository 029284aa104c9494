"""ROC curve, AUC with DeLong variance, paired DeLong test, Youden cut-off, confusion metrics.

Convention: ``y`` is 0/1 with 1 the event; a higher score means the event is more likely and a
patient is called positive when ``score >= cutoff``. The DeLong computations follow
DeLong, DeLong & Clarke-Pearson (1988) with the midrank algorithm of Sun & Xu (2014), as in
pROC (``var(method="delong")``, ``ci.auc(method="delong")``, ``roc.test(method="delong")``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from core.stats._checks import binary_outcome, numeric_vector


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeLong placement values for ``scores`` of shape (k, n).

    Returns (auc (k,), v10 (k, n_events), v01 (k, n_controls)).
    """
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    rank_all = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    rank_pos = stats.rankdata(pos, axis=1)
    rank_neg = stats.rankdata(neg, axis=1)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    return v10.mean(axis=1), v10, v01


def delong_covariance(y, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for several scores on the same patients.

    ``scores``: array (k, n) or list of k score vectors of length n. Returns (auc (k,), cov (k, k));
    the covariance is NaN with a single event or a single control.
    """
    y = binary_outcome(y)
    mat = np.atleast_2d(np.asarray(scores, dtype=float))
    for i, row in enumerate(mat):
        numeric_vector(row, y.shape[0], f"score {i}")
    auc, v10, v01 = _structural_components(y, mat)
    if min(v10.shape[1], v01.shape[1]) < 2:          # one event or one control: no variance
        return auc, np.full((len(auc), len(auc)), np.nan)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return auc, s10 / v10.shape[1] + s01 / v01.shape[1]


def auc_delong(y, score, *, level: float = 0.95) -> dict:
    """AUC with DeLong variance and CI on the AUC scale (pROC's default).

    Returns dict with auc, var, se, ci_low, ci_high (auc -/+ z * se, clipped to [0, 1]),
    n_events, n_controls.
    """
    y = binary_outcome(y)
    auc, cov = delong_covariance(y, [numeric_vector(score, y.shape[0], "score")])
    var = float(cov[0, 0])
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(var)
    return {
        "auc": float(auc[0]),
        "var": var,
        "se": float(np.sqrt(var)),
        "ci_low": float(np.clip(auc[0] - half, 0.0, 1.0)),
        "ci_high": float(np.clip(auc[0] + half, 0.0, 1.0)),
        "n_events": int(y.sum()),
        "n_controls": int((1 - y).sum()),
    }


def delong_test(y, score_a, score_b) -> dict:
    """Paired DeLong test of AUC(a) = AUC(b) on the same patients (two-sided).

    Returns dict with z, p, auc_a, auc_b, diff (a - b), var_a, var_b, cov.
    """
    y = binary_outcome(y)
    n = y.shape[0]
    a = numeric_vector(score_a, n, "score_a")
    b = numeric_vector(score_b, n, "score_b")
    auc, cov = delong_covariance(y, [a, b])
    var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = auc[0] - auc[1]
    if np.isnan(var_diff):
        z = np.nan
    elif var_diff <= 0:
        z = 0.0 if diff == 0 else np.sign(diff) * np.inf
    else:
        z = diff / np.sqrt(var_diff)
    return {
        "z": float(z),
        "p": float(2 * stats.norm.sf(abs(z))),
        "auc_a": float(auc[0]),
        "auc_b": float(auc[1]),
        "diff": float(diff),
        "var_a": float(cov[0, 0]),
        "var_b": float(cov[1, 1]),
        "cov": float(cov[0, 1]),
    }


def roc_curve(y, score) -> pd.DataFrame:
    """ROC points, one per distinct score value, from (0, 0) to (1, 1).

    Columns: threshold (positive when score >= threshold; the first row is +inf),
    fpr, tpr, sensitivity, specificity. Rows are ordered by decreasing threshold.
    """
    y = binary_outcome(y)
    s = numeric_vector(score, y.shape[0], "score")
    thresholds = np.unique(s)[::-1]
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    tp_cum = np.cumsum(y_sorted)
    fp_cum = np.cumsum(1 - y_sorted)
    # last index of each distinct score in the descending order
    last = np.searchsorted(-s_sorted, -thresholds, side="right") - 1
    tpr = np.concatenate([[0.0], tp_cum[last] / y.sum()])
    fpr = np.concatenate([[0.0], fp_cum[last] / (1 - y).sum()])
    return pd.DataFrame({
        "threshold": np.concatenate([[np.inf], thresholds]),
        "fpr": fpr,
        "tpr": tpr,
        "sensitivity": tpr,
        "specificity": 1.0 - fpr,
    })


def youden_cutoff(y, score) -> dict:
    """Cut-off maximising Youden's J = sensitivity + specificity - 1.

    The cut-off is an observed score value (positive when score >= cutoff); on ties of J the
    highest cut-off wins. Returns dict with cutoff, youden, sensitivity, specificity.
    """
    curve = roc_curve(y, score).iloc[1:]
    j = (curve["sensitivity"] + curve["specificity"] - 1.0).to_numpy()
    best = int(np.argmax(j))
    row = curve.iloc[best]
    return {
        "cutoff": float(row["threshold"]),
        "youden": float(j[best]),
        "sensitivity": float(row["sensitivity"]),
        "specificity": float(row["specificity"]),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def classification_metrics(y, score, cutoff: float) -> dict:
    """Confusion counts and rates at ``cutoff`` (positive when score >= cutoff).

    Returns dict with tp, fp, tn, fn, sensitivity, specificity, accuracy, ppv, npv
    (NaN where a denominator is zero). One class alone is allowed here.
    """
    y = binary_outcome(y, both_classes=False)
    s = numeric_vector(score, y.shape[0], "score")
    pred = s >= cutoff
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    tn = int(np.sum(~pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    return {
        "cutoff": float(cutoff),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "accuracy": _ratio(tp + tn, y.shape[0]),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
    }
