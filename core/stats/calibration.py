"""Calibration of predicted risks: intercept, slope, Brier, Hosmer-Lemeshow, calibration curves.

All functions take ``y`` (0/1, 1 = event) and ``risk`` (predicted probability of the event).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit
from statsmodels.nonparametric.smoothers_lowess import lowess

from core.stats._checks import binary_outcome, probabilities

# risks are clipped to [EPS, 1 - EPS] before taking logits, so that 0 and 1 stay usable
EPS = 1e-10


def _clipped_logit(risk: np.ndarray) -> np.ndarray:
    return logit(np.clip(risk, EPS, 1 - EPS))


def logistic_newton(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None,
                    max_iter: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """ML logistic fit of y on X (n, k; include the intercept column) with an offset, by
    Newton-Raphson. Returns (coef (k,), cov (k, k)); NaN when the fit diverges (separation)."""
    offset = np.zeros(len(y)) if offset is None else offset
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = expit(offset + X @ beta)
        info = X.T @ (X * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            return beta, np.linalg.inv(info)
    nan = np.full(X.shape[1], np.nan)
    return nan, np.full((X.shape[1],) * 2, np.nan)


def _intercept_slope(y: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ones = np.ones((len(y), 1))
    a, a_cov = logistic_newton(ones, y, offset=lp)
    b, b_cov = logistic_newton(np.column_stack([ones, lp]), y)
    return a, a_cov, b, b_cov


def calibration_metrics(y, risk, *, level: float = 0.95) -> dict:
    """Calibration intercept, slope and Brier score of predicted risks.

    intercept: calibration-in-the-large, logistic ``y ~ 1 + offset(logit(risk))`` (ideal 0);
    slope: logistic ``y ~ 1 + logit(risk)``, coefficient of logit(risk) (ideal 1);
    recalibration_intercept: the intercept of that second fit; brier: mean((risk - y)^2);
    oe_ratio: observed / expected events. Wald CIs at ``level``. n, n_events included.
    Intercept and slope are NaN when the risks separate the outcomes perfectly.
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    a_fit, a_cov, b_fit, b_cov = _intercept_slope(y.astype(float), _clipped_logit(p))
    z = float(stats.norm.ppf(0.5 + level / 2))
    a, a_se = float(a_fit[0]), float(np.sqrt(a_cov[0, 0]))
    b, b_se = float(b_fit[1]), float(np.sqrt(b_cov[1, 1]))
    return {
        "intercept": a,
        "intercept_ci_low": a - z * a_se,
        "intercept_ci_high": a + z * a_se,
        "slope": b,
        "slope_ci_low": b - z * b_se,
        "slope_ci_high": b + z * b_se,
        "recalibration_intercept": float(b_fit[0]),
        "brier": float(np.mean((p - y) ** 2)),
        "oe_ratio": float(y.sum() / p.sum()) if p.sum() > 0 else float("nan"),
        "n": int(y.shape[0]),
        "n_events": int(y.sum()),
    }


def quick_performance(y: np.ndarray, risk: np.ndarray) -> dict:
    """AUC, calibration intercept and slope, Brier of risks for 0/1 y, unchecked (for
    resampling loops; y must hold both classes)."""
    pos = y == 1
    ranks = stats.rankdata(risk)
    m, n = pos.sum(), (~pos).sum()
    a, _, b, _ = _intercept_slope(y.astype(float), _clipped_logit(risk))
    return {
        "auc": float((ranks[pos].sum() - m * (m + 1) / 2) / (m * n)),
        "calibration_intercept": float(a[0]),
        "calibration_slope": float(b[1]),
        "brier": float(np.mean((risk - y) ** 2)),
    }


def _quantile_groups(p: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group index per patient by quantiles of ``p``, as R's ``cut(p, quantile(p, 0:g/g),
    include.lowest=TRUE)`` (right-closed intervals); duplicate breaks are merged."""
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, groups + 1)))
    return np.searchsorted(breaks[1:-1], p, side="left"), breaks


def hosmer_lemeshow(y, risk, groups: int = 10) -> dict:
    """Hosmer-Lemeshow goodness-of-fit test over quantile groups of risk.

    As ResourceSelection::hoslem.test: chi2 = sum over groups and both outcomes of
    (observed - expected)^2 / expected, df = groups - 2. When tied risks merge quantile
    breaks, fewer groups are used and df shrinks accordingly (``groups`` in the result).
    Returns dict with chi2, df, p, groups and table (DataFrame per group).
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    if groups < 3:
        raise ValueError(f"groups must be >= 3, got {groups}")
    idx, breaks = _quantile_groups(p, groups)
    g = len(breaks) - 1
    table = pd.DataFrame({"group": idx, "y": y, "p": p}).groupby("group").agg(
        n=("y", "size"), observed=("y", "sum"), expected=("p", "sum"),
        risk_low=("p", "min"), risk_high=("p", "max"))
    obs1, exp1 = table["observed"].to_numpy(float), table["expected"].to_numpy()
    obs0, exp0 = table["n"] - obs1, table["n"] - exp1
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = float(np.sum((obs1 - exp1) ** 2 / exp1) + np.sum((obs0 - exp0) ** 2 / exp0))
    df = g - 2
    return {
        "chi2": chi2,
        "df": df,
        "p": float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        "groups": g,
        "table": table.reset_index(drop=True),
    }


def calibration_curve(y, risk, bins: int = 10, *, level: float = 0.95) -> pd.DataFrame:
    """Grouped calibration curve over quantile groups (deciles by default).

    Columns: group, n, events, predicted (mean risk), observed (event rate),
    observed_low, observed_high (Wilson interval at ``level``).
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    idx, _ = _quantile_groups(p, bins)
    grouped = pd.DataFrame({"group": idx, "y": y, "p": p}).groupby("group")
    out = grouped.agg(n=("y", "size"), events=("y", "sum"), predicted=("p", "mean")).reset_index()
    n, k = out["n"].to_numpy(float), out["events"].to_numpy(float)
    z = stats.norm.ppf(0.5 + level / 2)
    rate = k / n
    centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    out["observed"] = rate
    out["observed_low"] = centre - half
    out["observed_high"] = centre + half
    return out


def lowess_calibration(y, risk, *, frac: float = 2 / 3, it: int = 0) -> pd.DataFrame:
    """Smoothed calibration curve: lowess of y on risk, as R's ``lowess(risk, y, iter=0)``.

    Returns DataFrame(predicted, observed) sorted by predicted risk, one row per patient.
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    delta = 0.01 * (p.max() - p.min())
    fit = lowess(y.astype(float), p, frac=frac, it=it, delta=delta, return_sorted=True)
    return pd.DataFrame({"predicted": fit[:, 0], "observed": np.clip(fit[:, 1], 0.0, 1.0)})
