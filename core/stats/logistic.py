"""Logistic regression with the checks a biostatistician expects, and a Firth fallback.

``fit_logistic(X, y)`` fits y (0/1) on the numeric columns of X plus an intercept:
maximum likelihood (statsmodels Logit, Newton) by default, Firth's penalised likelihood
(``core.stats.firth``) when the data are (quasi-)completely separated or ML fails to
converge. It never raises for separation, collinearity or few events: each problem is a
sentence in ``LogitFit.warnings``. Exactly collinear columns are dropped (named in the
warning), as R's glm reports them as aliased.

ML inference is Wald (coef +/- z * SE, as SPSS and R's confint.default); Firth inference is
profile penalised likelihood (CIs) and penalised likelihood ratio tests (P), as logistf.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import Logit
from scipy import optimize, stats

from core.stats import firth
from core.stats._checks import binary_outcome

INTERCEPT = "Intercept"
METHODS = ("auto", "ml", "firth")


@dataclass(frozen=True)
class LogitFit:
    """A fitted logistic model. Arrays are aligned with ``names`` (intercept first).

    coef: log-odds coefficients; cov: (k, k) covariance used for SEs and prediction CIs;
    ci_low/ci_high: confidence limits of coef at ``level``; p: two-sided P of coef = 0;
    method: "ml" or "firth"; ci_method: "wald" or "profile penalized likelihood".
    """
    names: tuple[str, ...]
    coef: np.ndarray
    cov: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    method: str
    ci_method: str
    level: float
    n_obs: int
    n_events: int
    loglik: float
    converged: bool
    dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per term: variable, beta, se, or, or_low, or_high, p."""
        with np.errstate(over="ignore"):
            return pd.DataFrame({
                "variable": list(self.names),
                "beta": self.coef,
                "se": self.se,
                "or": np.exp(self.coef),
                "or_low": np.exp(self.ci_low),
                "or_high": np.exp(self.ci_high),
                "p": self.p,
            })

    def wald_test(self, terms: list[str]) -> tuple[float, int, float]:
        """Joint Wald test that the coefficients of ``terms`` are all 0: (chi2, df, p)."""
        idx = [self.names.index(t) for t in terms]
        b = self.coef[idx]
        chi2 = float(b @ np.linalg.pinv(self.cov[np.ix_(idx, idx)]) @ b)
        return chi2, len(idx), float(stats.chi2.sf(chi2, len(idx)))


def detect_separation(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Direction of (quasi-)complete separation, or None when the data overlap.

    Linear program of Konis (2007), as R's detectseparation / safeBinaryRegression: maximise
    sum_i s_i x_i'b subject to s_i x_i'b >= 0 (s_i = +1 for events, -1 otherwise) and
    -1 <= b <= 1. X (n, k) includes the intercept; the optimum is positive only if some
    non-zero b separates the outcomes. Returns b (k,) when separated.
    """
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale
    s = np.where(y == 1, 1.0, -1.0)
    A = s[:, None] * Xs
    res = optimize.linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(y)),
                           bounds=[(-1, 1)] * X.shape[1], method="highs")
    if res.status != 0 or -res.fun <= 1e-6 * len(y):
        return None
    return res.x


def _aliased(X: np.ndarray) -> list[int]:
    """Indices of columns that are linear combinations of earlier columns (R's glm order):
    a zero diagonal entry of R in the QR decomposition without pivoting."""
    norms = np.linalg.norm(X, axis=0)
    r = np.abs(np.diag(np.linalg.qr(X / np.where(norms > 0, norms, 1.0), mode="r")))
    return [j for j in range(X.shape[1]) if norms[j] == 0 or r[j] < 1e-8]


def _vif(X: pd.DataFrame) -> pd.Series:
    """Variance inflation factors of the (non-constant) columns of X."""
    if X.shape[1] < 2:
        return pd.Series(1.0, index=X.columns)
    corr = np.corrcoef(X.to_numpy(dtype=float), rowvar=False)
    return pd.Series(np.diag(np.linalg.pinv(corr)), index=X.columns)


def _fit_ml(Xc: np.ndarray, y: np.ndarray):
    """statsmodels Logit by Newton; returns (result, ok) where ok means converged cleanly."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = Logit(y, Xc).fit(method="newton", maxiter=100, disp=0)
        except Exception:  # noqa: BLE001 - singular Hessian or separation: caller falls back
            return None, False
    ok = bool(res.mle_retvals.get("converged", False)) and np.isfinite(res.bse).all() and not any(
        "separation" in str(w.message).lower() or "singular" in str(w.message).lower() for w in caught)
    return res, ok


def _design_notes(design: np.ndarray, predictors: list[str], y: np.ndarray, epv_min: float,
                  vif_max: float) -> list[str]:
    """Warnings on collinearity (VIF) and events per variable."""
    notes = []
    if len(predictors) >= 2:
        vif = _vif(pd.DataFrame(design[:, 1:], columns=predictors))
        high = vif[vif > vif_max]
        if len(high):
            notes.append("collinearity: VIF > {:g} for {}".format(
                vif_max, ", ".join(f"{k} ({v:.1f})" for k, v in high.items())))
    smaller = int(min(y.sum(), len(y) - y.sum()))
    if predictors and smaller / len(predictors) < epv_min:
        notes.append(f"few events per variable: {smaller / len(predictors):.1f} (< {epv_min:g}; "
                     f"{smaller} in the smaller outcome class, {len(predictors)} predictors); "
                     "estimates may be unstable")
    return notes


def _firth_inference(design: np.ndarray, y: np.ndarray, level: float, profile: bool) -> dict:
    fit = firth.firth_logit(design, y)
    k = design.shape[1]
    if profile:
        limits = np.array([firth.profile_ci(design, y, fit, j, alpha=1 - level) for j in range(k)])
        pvals = np.array([firth.profile_test(design, y, fit, j)[1] for j in range(k)])
        ci_method = "profile penalized likelihood"
    else:
        limits, pvals = _wald(fit.coef, fit.cov, level)
        ci_method = "wald"
    return {"coef": fit.coef, "cov": fit.cov, "limits": limits, "p": pvals, "ci_method": ci_method,
            "loglik": fit.loglik, "converged": fit.converged, "method": "firth"}


def _wald(coef: np.ndarray, cov: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    se = np.sqrt(np.diag(cov))
    z = stats.norm.ppf(0.5 + level / 2)
    return np.column_stack([coef - z * se, coef + z * se]), 2 * stats.norm.sf(np.abs(coef / se))


def fit_logistic(X: pd.DataFrame, y, *, method: str = "auto", level: float = 0.95,
                 epv_min: float = 10.0, vif_max: float = 10.0, profile: bool = True) -> LogitFit:
    """Fit a logistic regression of y (0/1, n) on the numeric columns of X (n, p) + intercept.

    method: "auto" (ML, Firth if separated or ML fails), "ml" (ML only; warns when the
    estimates do not exist) or "firth". profile: Firth CIs and P by profile penalised
    likelihood (slower) rather than Wald. Warnings cover separation, too few events per
    variable (< epv_min), VIF > vif_max and aliased columns.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a DataFrame of numeric predictors")
    if X.isna().any().any():
        raise ValueError(f"predictors contain missing values: {X.columns[X.isna().any()].tolist()}")
    y = binary_outcome(y)
    if len(y) != len(X):
        raise ValueError(f"length mismatch: X has {len(X)} rows, y has {len(y)}")

    design = np.column_stack([np.ones(len(y)), X.to_numpy(dtype=float)])
    names = [INTERCEPT] + [str(c) for c in X.columns]
    aliased = _aliased(design)
    dropped = tuple(names[j] for j in aliased)
    notes = [f"collinearity: {', '.join(dropped)} dropped (exact linear combination of other "
             "predictors or constant)"] if dropped else []
    keep = [j for j in range(design.shape[1]) if j not in aliased]
    design, names = design[:, keep], [names[j] for j in keep]
    notes += _design_notes(design, names[1:], y, epv_min, vif_max)

    direction = detect_separation(design, y)
    if direction is not None:
        involved = [names[j] for j in range(1, len(names)) if abs(direction[j]) > 1e-6]
        notes.append("separation: outcome (quasi-)completely separated by "
                     f"{', '.join(involved) or 'the predictors'}; ML estimates do not exist")

    result = None
    if method != "firth":
        ml, ok = _fit_ml(design, y)
        if ml is not None and (ok or method == "ml"):
            coef, cov = np.asarray(ml.params), np.asarray(ml.cov_params())
            limits, pvals = _wald(coef, cov, level)
            result = {"coef": coef, "cov": cov, "limits": limits, "p": pvals, "ci_method": "wald",
                      "loglik": float(ml.llf), "converged": ok, "method": "ml"}
        if not ok:
            notes.append("ML did not converge" + ("; estimates are unreliable" if method == "ml" else ""))
        if method == "auto" and direction is not None:
            result = None
    if result is None and method == "ml":           # ML failed outright: no estimates
        k = len(names)
        result = {"coef": np.full(k, np.nan), "cov": np.full((k, k), np.nan), "limits": np.full((k, 2), np.nan),
                  "p": np.full(k, np.nan), "ci_method": "wald", "loglik": np.nan, "converged": False, "method": "ml"}
    if result is None:
        if method == "auto":
            notes.append("Firth's penalised likelihood used instead of ML")
        result = _firth_inference(design, y, level, profile)
        if not result["converged"]:
            notes.append("Firth iterations did not converge")
    return LogitFit(
        names=tuple(names), coef=np.asarray(result["coef"], float), cov=np.asarray(result["cov"], float),
        ci_low=result["limits"][:, 0], ci_high=result["limits"][:, 1], p=np.asarray(result["p"], float),
        method=result["method"], ci_method=result["ci_method"], level=level, n_obs=len(y),
        n_events=int(y.sum()), loglik=float(result["loglik"]), converged=bool(result["converged"]),
        dropped=dropped, warnings=tuple(notes),
    )
