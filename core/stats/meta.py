"""Random-effects meta-analysis of per-centre estimates, as metafor::rma (DerSimonian-Laird or REML).

Internal-external validation leaves each centre out in turn and estimates a performance measure
there (AUC on the logit scale, calibration slope, calibration-in-the-large) with its variance;
``random_effects`` pools them: estimate, SE and Wald CI, tau^2 (between-centre variance), I^2, Q
with its P, and the 95% prediction interval for a new centre (metafor's ``predict``: estimate
+/- z * sqrt(tau^2 + SE^2)).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

METHODS = ("REML", "DL")


@dataclass(frozen=True)
class RandomEffects:
    """Pooled estimate of k centres' estimates (see module docstring)."""

    method: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    tau2: float
    i2: float
    q: float
    q_p: float
    pi_low: float
    pi_high: float

    def to_dict(self) -> dict:
        return asdict(self)


def random_effects(yi, vi, *, method: str = "REML", level: float = 0.95, tol: float = 1e-10,
                   max_iter: int = 100) -> RandomEffects:
    """Pool estimates ``yi`` (k,) with sampling variances ``vi`` (k,).

    method: "REML" (metafor's default; Fisher scoring, tau^2 truncated at 0) or "DL"
    (DerSimonian-Laird's moment estimator).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if y.shape != v.shape or y.ndim != 1 or len(y) < 2:
        raise ValueError(f"need two or more estimates with one variance each, got {y.shape} and {v.shape}")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise ValueError("estimates must be finite and variances finite and positive")
    k = len(y)
    w = 1 / v
    fixed = w @ y / w.sum()
    q = float(w @ (y - fixed) ** 2)
    c = w.sum() - (w ** 2).sum() / w.sum()
    tau2 = max(0.0, (q - (k - 1)) / c)                  # DerSimonian-Laird, REML's start
    if method == "REML":
        for _ in range(max_iter):
            wr = 1 / (v + tau2)
            mu = wr @ y / wr.sum()
            # Fisher scoring on the restricted likelihood (Viechtbauer 2005, metafor's rma.uni)
            p_diag = wr - wr ** 2 / wr.sum()
            residual = y - mu
            score = 0.5 * ((wr * residual) ** 2).sum() - 0.5 * (p_diag.sum())
            p_matrix = np.diag(wr) - np.outer(wr, wr) / wr.sum()
            information = 0.5 * np.trace(p_matrix @ p_matrix)
            new = max(0.0, tau2 + score / information)
            if abs(new - tau2) < tol:
                tau2 = new
                break
            tau2 = new
    wr = 1 / (v + tau2)
    estimate = float(wr @ y / wr.sum())
    se = float(np.sqrt(1 / wr.sum()))
    z = float(stats.norm.ppf(0.5 + level / 2))
    s2 = (k - 1) / c                                    # Higgins' typical within-study variance
    i2 = float(100 * tau2 / (tau2 + s2))
    half = z * np.sqrt(tau2 + se ** 2)
    return RandomEffects(method, k, estimate, se, estimate - z * se, estimate + z * se, float(tau2), i2, q,
                         float(stats.chi2.sf(q, k - 1)), estimate - half, estimate + half)
