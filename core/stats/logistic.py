"""Logistic regression with the checks a biostatistician expects, and a Firth fallback.

``fit_logistic(X, y)`` fits y (0/1) on the numeric columns of X plus an intercept:
maximum likelihood (statsmodels Logit, Newton) by default, Firth's penalised likelihood
(``core.stats.firth``) when the data are (quasi-)completely separated or ML fails to
converge. It never raises for separation, collinearity or few events: each problem is a
sentence in ``LogitFit.warnings``. Exactly collinear columns are dropped (named in the
warning), as R's glm reports them as aliased.

Confidence limits are profile likelihood by default (``profile=True``): for ML fits exactly
as R's confint() on a glm (MASS's method, ``profile_likelihood_ci``), for Firth fits the
profile penalised likelihood, as logistf. ``profile=False`` gives Wald limits (coef +/- z * SE,
as SPSS and R's confint.default). P values of ML fits are Wald (as R's summary.glm); of Firth
fits penalised likelihood ratio tests with ``profile``, as logistf.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import Logit
from scipy import optimize, stats
from scipy.special import expit

from core.stats import firth
from core.stats._checks import binary_outcome

INTERCEPT = "Intercept"
METHODS = ("auto", "ml", "firth")
PROFILE_STEPS = 10      # MASS::profile.glm's maxsteps


@dataclass(frozen=True)
class LogitFit:
    """A fitted logistic model. Arrays are aligned with ``names`` (intercept first).

    coef: log-odds coefficients; cov: (k, k) covariance used for SEs and prediction CIs;
    ci_low/ci_high: confidence limits of coef at ``level``; p: two-sided P of coef = 0;
    method: "ml" or "firth"; ci_method: "wald", "profile likelihood" (ML) or "profile
    penalized likelihood" (Firth).
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


def _deviance(X: np.ndarray, y: np.ndarray, beta: np.ndarray, offset: np.ndarray | float = 0.0) -> float:
    eta = offset + X @ beta
    return -2 * float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def logistic_newton(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, start: np.ndarray | None = None,
                    max_iter: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """ML logistic fit of y on X (n, k; include the intercept column) with an offset (n,), by
    Newton-Raphson from ``start`` (default 0), steps halved while the deviance rises;
    converged when no coefficient moves by more than tol * (1 + max |coef|). Returns
    (coef (k,), cov (k, k)); NaN when the fit diverges (separation)."""
    offset = np.zeros(len(y)) if offset is None else offset
    beta = np.zeros(X.shape[1]) if start is None else np.asarray(start, dtype=float).copy()
    deviance = _deviance(X, y, beta, offset)
    for _ in range(max_iter):
        p = expit(offset + X @ beta)
        info = X.T @ (X * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            new = _deviance(X, y, beta + step, offset)
            if new <= deviance + 1e-12 * (1 + abs(deviance)):
                break
            step = step / 2
        beta, deviance = beta + step, new
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(beta))):
            return beta, np.linalg.inv(info)
    nan = np.full(X.shape[1], np.nan)
    return nan, np.full((X.shape[1],) * 2, np.nan)


def _fmm_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubic spline through (x, y), x increasing, with Forsythe, Malcolm & Moler's end
    conditions, as R's spline(method = "fmm") (stats/src/splines.c, ``fmm_spline``).
    Returns the coefficients (b, c, d) of y[i] + b[i] t + c[i] t^2 + d[i] t^3, t = u - x[i]."""
    n = len(x)
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n < 3:
        b[:] = (y[1] - y[0]) / (x[1] - x[0])
        return b, c, d
    d[0] = x[1] - x[0]
    c[1] = (y[1] - y[0]) / d[0]
    for i in range(1, n - 1):
        d[i] = x[i + 1] - x[i]
        b[i] = 2 * (d[i - 1] + d[i])
        c[i + 1] = (y[i + 1] - y[i]) / d[i]
        c[i] = c[i + 1] - c[i]
    b[0], b[-1], c[0], c[-1] = -d[0], -d[n - 2], 0.0, 0.0
    if n > 3:
        c[0] = (c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0])) * d[0] ** 2 / (x[3] - x[0])
        c[-1] = -(c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4])) * d[n - 2] ** 2 / (
            x[n - 1] - x[n - 4])
    for i in range(1, n):                                # Gaussian elimination
        t = d[i - 1] / b[i - 1]
        b[i] -= t * d[i - 1]
        c[i] -= t * c[i - 1]
    c[-1] /= b[-1]                                       # backward substitution
    for i in range(n - 2, -1, -1):
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b[-1] = (y[-1] - y[-2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2 * c[-1])
    for i in range(n - 1):
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2 * c[i])
        d[i] = (c[i + 1] - c[i]) / d[i]
        c[i] *= 3
    c[-1] *= 3
    d[-1] = d[n - 2]
    return b, c, d


def profile_likelihood_ci(X: np.ndarray, y: np.ndarray, coef: np.ndarray, se: np.ndarray, j: int,
                          level: float = 0.95) -> tuple[float, float]:
    """Profile-likelihood confidence limits of coefficient j of an ML logistic fit, exactly as
    R's confint() on a glm (MASS::profile.glm and confint.profile.glm).

    X (n, k) includes the intercept column; coef, se (k,) are the ML estimates and Wald SEs.
    The signed root deviance z(b) = sign(b - coef_j) sqrt(D(b) - D(coef)), D(b) the deviance
    refitted with coefficient j fixed at b, is profiled at b = coef_j +/- s * (zmax / 5) * se_j,
    s = 1, 2, ... while |z| < zmax = sqrt(qchisq(1 - (1 - level) / 4, 1)) and s < 10; an FMM
    spline through (b, z), evaluated at 3 * (number of points) equally spaced b, is inverted
    by linear interpolation at z = qnorm((1 -/+ level) / 2). That interpolation is MASS's
    approximation: it differs from the exact root of D(b) - D(coef) = qchisq(level, 1) by up
    to ~3e-4 on the test data. A limit the profile does not reach is NaN (R's NA).
    """
    zmax = float(np.sqrt(stats.chi2.ppf(1 - (1 - level) / 4, 1)))
    delta = zmax / 5 * se[j]
    others = np.delete(np.arange(X.shape[1]), j)
    X_others, deviance0 = X[:, others], _deviance(X, y, coef)
    values, z = [coef[j]], [0.0]
    for sign in (-1.0, 1.0):
        start, step, current = coef[others], 0, 0.0
        while (step := step + 1) < PROFILE_STEPS and abs(current) < zmax:
            value = coef[j] + sign * step * delta
            offset = value * X[:, j]
            start, _ = logistic_newton(X_others, y, offset=offset, start=start)
            if not np.isfinite(start).all():
                break
            # R stops below -0.001 (the ML fit had not converged); the Newton ML fit rules that out
            current = sign * np.sqrt(max(_deviance(X_others, y, start, offset) - deviance0, 0.0))
            values.append(value)
            z.append(current)
    order = np.argsort(values)
    b_knots, z_knots = np.asarray(values)[order], np.asarray(z)[order]
    spline_b, spline_c, spline_d = _fmm_spline(b_knots, z_knots)
    grid = np.linspace(b_knots[0], b_knots[-1], 3 * len(b_knots))
    i = np.clip(np.searchsorted(b_knots, grid, side="right") - 1, 0, len(b_knots) - 1)
    t = grid - b_knots[i]
    z_grid = z_knots[i] + t * (spline_b[i] + t * (spline_c[i] + t * spline_d[i]))
    by_z = np.argsort(z_grid, kind="stable")
    cutoff = stats.norm.ppf([(1 - level) / 2, (1 + level) / 2])
    low, high = np.interp(cutoff, z_grid[by_z], grid[by_z], left=np.nan, right=np.nan)
    return float(low), float(high)


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
    estimates do not exist) or "firth". profile: CIs by profile likelihood (ML: as R's
    confint; Firth: profile penalised likelihood, with its likelihood ratio P, as logistf)
    rather than Wald (faster; for resampling). Warnings cover separation, too few events per
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
            ci_method = "wald"
            if profile and ok:
                se = np.sqrt(np.diag(cov))
                limits = np.array([profile_likelihood_ci(design, y, coef, se, j, level) for j in range(len(coef))])
                ci_method = "profile likelihood"
                unreached = [names[j] for j in range(len(coef)) if not np.isfinite(limits[j]).all()]
                if unreached:
                    notes.append("profile likelihood did not reach a confidence limit of "
                                 f"{', '.join(unreached)} within 10 steps (left empty, as R's confint)")
            result = {"coef": coef, "cov": cov, "limits": limits, "p": pvals, "ci_method": ci_method,
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
