"""Calibration of predicted risks: intercepts, slope, Brier, Hosmer-Lemeshow, calibration
curves, and rms::val.prob's statistics.

All functions take ``y`` (0/1, 1 = event) and ``risk`` (predicted probability of the event).
Two intercepts are in use and are named apart:
- calibration-in-the-large (``citl``; "calibration intercept" in Van Calster et al. 2019):
  logistic ``y ~ 1 + offset(logit(risk))``, ideal 0, the mean over- or under-estimation;
- recalibration intercept: the intercept of ``y ~ a + b * logit(risk)``, whose b is the
  calibration slope (ideal 1); rms::val.prob's and rms::validate's "Intercept".
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import logit
from statsmodels.nonparametric.smoothers_lowess import lowess

from core.stats._checks import binary_outcome, probabilities
from core.stats.logistic import logistic_newton

# risks are clipped to [EPS, 1 - EPS] before taking logits, so that 0 and 1 stay usable
EPS = 1e-10


def _clipped_logit(risk: np.ndarray) -> np.ndarray:
    return logit(np.clip(risk, EPS, 1 - EPS))


def _intercept_slope(y: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ones = np.ones((len(y), 1))
    a, a_cov = logistic_newton(ones, y, offset=lp)
    b, b_cov = logistic_newton(np.column_stack([ones, lp]), y)
    return a, a_cov, b, b_cov


def calibration_metrics(y, risk, *, level: float = 0.95) -> dict:
    """Calibration-in-the-large, recalibration intercept, slope and Brier score of risks.

    citl (also under its older key ``intercept``): logistic ``y ~ 1 + offset(logit(risk))``
    (ideal 0); slope: logistic ``y ~ 1 + logit(risk)``, coefficient of logit(risk) (ideal
    1); recalibration_intercept: the intercept of that second fit (rms's "Intercept");
    brier: mean((risk - y)^2); oe_ratio: observed / expected events. Wald CIs at ``level``
    as ``<key>_ci_low`` / ``<key>_ci_high``. n, n_events included. The intercepts and slope
    are NaN when the risks separate the outcomes perfectly.
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    a_fit, a_cov, b_fit, b_cov = _intercept_slope(y.astype(float), _clipped_logit(p))
    z = float(stats.norm.ppf(0.5 + level / 2))
    out = {}
    for key, value, var in (("citl", a_fit[0], a_cov[0, 0]), ("slope", b_fit[1], b_cov[1, 1]),
                            ("recalibration_intercept", b_fit[0], b_cov[0, 0])):
        half = z * float(np.sqrt(var))
        out.update({key: float(value), f"{key}_ci_low": float(value) - half, f"{key}_ci_high": float(value) + half})
    out.update({"intercept": out["citl"], "intercept_ci_low": out["citl_ci_low"],
                "intercept_ci_high": out["citl_ci_high"],
                "brier": float(np.mean((p - y) ** 2)),
                "oe_ratio": float(y.sum() / p.sum()) if p.sum() > 0 else float("nan"),
                "n": int(y.shape[0]), "n_events": int(y.sum())})
    return out


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC of score for 0/1 y, ties counted one half."""
    pos = y == 1
    m, n = pos.sum(), (~pos).sum()
    return float((stats.rankdata(score)[pos].sum() - m * (m + 1) / 2) / (m * n))


def quick_performance(y: np.ndarray, risk: np.ndarray) -> dict:
    """Performance of risks for 0/1 y, unchecked (for resampling loops; y must hold both
    classes): auc; dxy = 2 * auc - 1 (Somers' Dxy, rms::validate's "Dxy");
    calibration_intercept (calibration-in-the-large); recalibration_intercept and
    calibration_slope (``y ~ a + b * logit(risk)``, rms::validate's "Intercept" and
    "Slope"); brier (rms::validate's "B")."""
    auc = _auc(y, risk)
    a, _, b, _ = _intercept_slope(y.astype(float), _clipped_logit(risk))
    return {
        "auc": auc,
        "dxy": 2 * auc - 1,
        "calibration_intercept": float(a[0]),
        "recalibration_intercept": float(b[0]),
        "calibration_slope": float(b[1]),
        "brier": float(np.mean((risk - y) ** 2)),
    }


VAL_PROB_NAMES = {
    "dxy": "Dxy", "c_roc": "C (ROC)", "r2": "R2", "d": "D", "d_chisq": "D:Chi-sq", "u": "U",
    "u_chisq": "U:Chi-sq", "u_p": "U:p", "q": "Q", "brier": "Brier", "intercept": "Intercept",
    "slope": "Slope", "emax": "Emax", "e90": "E90", "eavg": "Eavg", "s_z": "S:z", "s_p": "S:p",
}
"""Keys of ``val_prob`` and rms::val.prob's names for them."""


def val_prob(y, risk) -> dict:
    """rms::val.prob(risk, y)'s statistics of risks from a fixed model (keys: VAL_PROB_NAMES).

    With L0, L01 and Lcal the -2 log-likelihoods of the intercept-only model, of the risks
    as given (y ~ offset(logit(risk))) and of their logistic recalibration
    y ~ a + b * logit(risk), n the number of patients:
    d_chisq = L0 - L01; d = (d_chisq - 1) / n; r2 = Nagelkerke's, (1 - exp(-d_chisq / n)) /
    (1 - exp(-L0 / n)); u_chisq = L01 - Lcal, u = (u_chisq - 2) / n, u_p its P on 2 df;
    q = d - u; intercept, slope = a, b; brier = mean((risk - y)^2); emax, e90, eavg: maximum,
    90th centile and mean of |risk - lowess(risk, y, iter=0)| at each patient; s_z, s_p:
    Spiegelhalter's z test. c_roc and dxy are as lrm.fit (rms 6.5) computes them: the
    concordance of the risks binned into 1/5000 intervals (floor(5000 * risk)), ties one
    half, so they can differ from the exact AUC (``roc.auc_delong``) by ~1e-4;
    dxy = 2 * c_roc - 1.
    Risks of exactly 0 or 1 are rejected (val.prob drops them from its logistic fits).
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    if ((p == 0) | (p == 1)).any():
        raise ValueError(f"risk has {int(((p == 0) | (p == 1)).sum())} value(s) of exactly 0 or 1; "
                         "val.prob's logistic calibration needs risks strictly between 0 and 1")
    yf, lp, n = y.astype(float), logit(p), len(y)
    ybar = yf.mean()
    l0 = -2 * n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    l01 = -2 * float(np.sum(yf * lp - np.logaddexp(0.0, lp)))
    recal, _ = logistic_newton(np.column_stack([np.ones(n), lp]), yf)
    eta = recal[0] + recal[1] * lp
    lcal = -2 * float(np.sum(yf * eta - np.logaddexp(0.0, eta)))
    d_chisq, u_chisq = l0 - l01, l01 - lcal
    c_roc = _auc(y, np.floor(5000 * p))
    d, u = (d_chisq - 1) / n, (u_chisq - 2) / n
    smooth = lowess(yf, p, frac=2 / 3, it=0, delta=0.01 * (p.max() - p.min()), return_sorted=False)
    error = np.abs(p - smooth)
    s_z = float(np.sum((yf - p) * (1 - 2 * p)) / np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p))))
    return {
        "dxy": 2 * c_roc - 1, "c_roc": c_roc,
        "r2": float((1 - np.exp(-d_chisq / n)) / (1 - np.exp(-l0 / n))),
        "d": float(d), "d_chisq": float(d_chisq),
        "u": float(u), "u_chisq": float(u_chisq), "u_p": float(stats.chi2.sf(u_chisq, 2)),
        "q": float(d - u), "brier": float(np.mean((p - yf) ** 2)),
        "intercept": float(recal[0]), "slope": float(recal[1]),
        "emax": float(error.max()), "e90": float(np.quantile(error, 0.9)), "eavg": float(error.mean()),
        "s_z": s_z, "s_p": float(2 * stats.norm.sf(abs(s_z))),
    }


def _quantile_groups(p: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group index per patient by quantiles of ``p``, as R's ``cut(p, quantile(p, 0:g/g),
    include.lowest=TRUE)`` (right-closed intervals); duplicate breaks are merged."""
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, groups + 1)))
    return np.searchsorted(breaks[1:-1], p, side="left"), breaks


HL_DF_RULES = {True: "g - 2 (model fitted on this cohort)",
               False: "g (model not fitted on this cohort: external validation, Hosmer & Lemeshow)"}
"""How ``hosmer_lemeshow`` chose its degrees of freedom, by ``fitted_here``."""


def hosmer_lemeshow(y, risk, groups: int = 10, *, fitted_here: bool = True) -> dict:
    """Hosmer-Lemeshow goodness-of-fit test over quantile groups of risk.

    As ResourceSelection::hoslem.test: chi2 = sum over the g groups and both outcomes of
    (observed - expected)^2 / expected. df = g - 2 on the cohort the model was fitted on
    (``fitted_here``), g on a cohort it was not fitted on (Hosmer & Lemeshow, Applied
    Logistic Regression, 3rd ed., 5.2.2: nothing was estimated from that cohort). When tied
    risks merge quantile breaks, fewer groups are used and df shrinks accordingly (g is
    ``groups`` in the result). Returns dict with chi2, df, df_rule (HL_DF_RULES), p, groups,
    fitted_here and table (DataFrame per group).
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
    df = g - 2 if fitted_here else g
    return {
        "chi2": chi2,
        "df": df,
        "df_rule": HL_DF_RULES[bool(fitted_here)],
        "p": float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        "groups": g,
        "fitted_here": bool(fitted_here),
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
