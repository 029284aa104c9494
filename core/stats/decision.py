"""Decision curve analysis (Vickers & Elkin 2006), as R's dcurves::dca for a binary outcome.

Net benefit at threshold t: TP/n - FP/n * t / (1 - t) - harm, a patient being test-positive
when risk >= t. Treat-all: prevalence - (1 - prevalence) * t / (1 - t); treat-none: 0.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from core.stats._checks import binary_outcome, probabilities

DEFAULT_THRESHOLDS = np.round(np.arange(1, 100) / 100, 2)


def _thresholds(thresholds) -> np.ndarray:
    t = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=float).ravel()
    if t.size == 0 or not np.isfinite(t).all() or (t < 0).any() or (t >= 1).any():
        raise ValueError("thresholds must be finite values in [0, 1)")
    return t


def _net_benefit(y: np.ndarray, p: np.ndarray, t: np.ndarray, harm: float) -> tuple[np.ndarray, ...]:
    n = y.shape[0]
    positive = p[None, :] >= t[:, None]                       # (thresholds, patients)
    tp = (positive & (y[None, :] == 1)).sum(axis=1) / n
    fp = (positive & (y[None, :] == 0)).sum(axis=1) / n
    odds = t / (1 - t)
    return tp - fp * odds - harm, tp, fp, positive.mean(axis=1)


def decision_curve(y, risk, thresholds=None, *, harm: float = 0.0) -> pd.DataFrame:
    """Net benefit of a model, treat-all and treat-none over ``thresholds``.

    y: 0/1 (n,); risk: predicted probabilities (n,); thresholds: values in [0, 1)
    (default 0.01 to 0.99 by 0.01); harm: subtracted from the model's net benefit.
    Columns: threshold, net_benefit, treat_all, treat_none, tp_rate, fp_rate, test_pos_rate.
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    t = _thresholds(thresholds)
    nb, tp, fp, pos = _net_benefit(y, p, t, harm)
    prevalence = y.mean()
    return pd.DataFrame({
        "threshold": t,
        "net_benefit": nb,
        "treat_all": prevalence - (1 - prevalence) * t / (1 - t),
        "treat_none": np.zeros_like(t),
        "tp_rate": tp,
        "fp_rate": fp,
        "test_pos_rate": pos,
    })


def decision_curve_bands(y, risk, thresholds=None, *, n_boot: int = 200, seed: int = 0,
                         level: float = 0.95, harm: float = 0.0) -> pd.DataFrame:
    """Percentile bootstrap bands of the model's net benefit (resampling patients).

    Returns the ``decision_curve`` columns plus net_benefit_low and net_benefit_high.
    """
    y = binary_outcome(y)
    p = probabilities(risk, y.shape[0])
    t = _thresholds(thresholds)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, t.size))
    for b in range(n_boot):
        idx = rng.integers(0, y.shape[0], y.shape[0])
        boots[b] = _net_benefit(y[idx], p[idx], t, harm)[0]
    out = decision_curve(y, p, t, harm=harm)
    out["net_benefit_low"] = np.quantile(boots, (1 - level) / 2, axis=0)
    out["net_benefit_high"] = np.quantile(boots, (1 + level) / 2, axis=0)
    return out
