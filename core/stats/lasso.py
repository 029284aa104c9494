"""L1-penalised (LASSO) logistic regression path with cross-validation, glmnet's way.

Objective per lambda (glmnet, family="binomial", alpha=1):
    -(1/n) * loglik(b0, b) + lambda * sum_j |b_j|      (intercept not penalised)
solved as glmnet does: an outer loop of penalised IRLS (quadratic approximation of the
log-likelihood at the current fit, step-halved if the objective rises) around an inner
weighted least-squares LASSO, with warm starts along a decreasing lambda path. The inner
problem is solved exactly by feature-sign search (Lee et al. 2007, an active-set method)
rather than glmnet's coordinate descent: same minimiser, a few small linear solves.
With ``standardize=True`` (glmnet's default) the penalty applies to columns scaled to unit
population SD and coefficients are returned on the input scale. The lambda path runs from
lambda_max = max_j |x_j'(y - ybar)| / n (standardized x) down to lambda_max *
lambda_min_ratio on a log scale (glmnet's defaults: 100 values, ratio 0.01 if n < p else
1e-4); like glmnet, the path stops early once the deviance explained exceeds 0.999 or
gains less than 1e-5 (relative) between lambdas.

Cross-validation follows cv.glmnet (type.measure="deviance", grouped): per fold the mean
binomial deviance of the held-out patients (probabilities clipped to [1e-5, 1 - 1e-5]);
cv_mean is the fold-size-weighted mean, cv_se its weighted SD / sqrt(K - 1); lambda_min
minimises cv_mean, lambda_1se is the largest lambda with cv_mean <= min + its SE. Folds are
stratified by outcome (scikit-learn StratifiedKFold, seeded).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from core.stats._checks import binary_outcome

PROB_CLIP = 1e-5      # glmnet's pmin/pmax on probabilities in the deviance
MIN_WEIGHT = 1e-5     # floor on IRLS weights p(1-p)
FDEV = 1e-5           # glmnet.control(fdev): minimum relative gain in deviance explained
DEV_MAX = 0.999       # glmnet.control(devmax): maximum deviance explained


@dataclass(frozen=True)
class LassoPath:
    """Coefficient path: lambdas (L,) decreasing, intercept (L,), coef (L, p) on the input
    scale, feature_names (p,), n_iter (L,) IRLS iterations per lambda."""
    lambdas: np.ndarray
    intercept: np.ndarray
    coef: np.ndarray
    feature_names: tuple[str, ...]
    n_iter: np.ndarray

    @property
    def n_nonzero(self) -> np.ndarray:
        return (self.coef != 0).sum(axis=1)

    def coef_at(self, index: int) -> pd.Series:
        return pd.Series(self.coef[index], index=list(self.feature_names))

    def linear_predictor(self, X: np.ndarray) -> np.ndarray:
        """Linear predictors (n, L) of X (n, p) for every lambda."""
        return self.intercept[None, :] + X @ self.coef.T


@dataclass(frozen=True)
class LassoCV:
    """Path on all data plus CV deviance: cv_mean, cv_se (L,), lambda_min, lambda_1se and
    their indices in ``path.lambdas``; folds (n,) gives each patient's fold."""
    path: LassoPath
    cv_mean: np.ndarray
    cv_se: np.ndarray
    index_min: int
    index_1se: int
    folds: np.ndarray

    @property
    def lambda_min(self) -> float:
        return float(self.path.lambdas[self.index_min])

    @property
    def lambda_1se(self) -> float:
        return float(self.path.lambdas[self.index_1se])

    @property
    def table(self) -> pd.DataFrame:
        """One row per lambda: lambda, log_lambda, cv_mean, cv_se, n_nonzero."""
        lam = self.path.lambdas
        return pd.DataFrame({"lambda": lam, "log_lambda": np.log(lam), "cv_mean": self.cv_mean,
                             "cv_se": self.cv_se, "n_nonzero": self.path.n_nonzero})


def _standardize(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centre = X.mean(axis=0)
    scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    return (X - centre) / scale, centre, scale


def lambda_max(X, y, *, standardize: bool = True) -> float:
    """Smallest lambda with all coefficients zero: max_j |x_j'(y - ybar)| / n."""
    Xs, _, _ = _standardize(np.asarray(X, dtype=float), standardize)
    y = np.asarray(y, dtype=float)
    return float(np.max(np.abs(Xs.T @ (y - y.mean()))) / len(y))


def _objective(Xs, y, b0, beta, lam) -> float:
    eta = b0 + Xs @ beta
    return float(-np.mean(y * eta - np.logaddexp(0.0, eta)) + lam * np.abs(beta).sum())


def _deviance_ratio(Xs, y, b0, beta, null_dev) -> float:
    eta = b0 + Xs @ beta
    dev = -2 * np.sum(y * eta - np.logaddexp(0.0, eta))
    return 1 - dev / null_dev


def _quadratic_lasso(G: np.ndarray, c: np.ndarray, lam: float, x: np.ndarray) -> np.ndarray:
    """argmin_x 0.5 x'Gx - c'x + lam * |x|_1 by feature-sign search (Lee et al. 2007),
    warm-started at x. G (p, p) positive semi-definite, c (p,)."""
    x = x.copy()
    tol = 1e-10 * max(1.0, np.max(np.abs(c)))
    ridge = 1e-12 * max(np.trace(G) / len(c), 1e-300)

    def objective(v, idx):
        return 0.5 * v @ G[np.ix_(idx, idx)] @ v - c[idx] @ v + lam * np.abs(v).sum()

    theta = np.sign(x)
    for _ in range(20 * len(c) + 20):
        grad = G @ x - c
        active = theta != 0
        if np.all(np.abs(grad[active] + lam * theta[active]) <= tol):
            violation = np.where(active, -np.inf, np.abs(grad) - lam)
            j = int(np.argmax(violation))
            if violation[j] <= tol:
                break
            theta[j] = -np.sign(grad[j])
        idx = np.flatnonzero(theta)
        sub = G[np.ix_(idx, idx)] + ridge * np.eye(len(idx))
        try:
            target = np.linalg.solve(sub, c[idx] - lam * theta[idx])
        except np.linalg.LinAlgError:
            target = np.linalg.lstsq(sub, c[idx] - lam * theta[idx], rcond=None)[0]
        start = x[idx]
        step = target - start
        with np.errstate(divide="ignore", invalid="ignore"):
            crossings = -start / step
        ts = np.concatenate([[1.0], np.sort(crossings[(crossings > 0) & (crossings < 1)])])
        values = [objective(start + t * step, idx) for t in ts]
        t_best = ts[int(np.argmin(values))]
        new = start + t_best * step
        if t_best < 1:                                   # the coefficient that crossed is zero
            new[np.isclose(crossings, t_best, rtol=1e-12, atol=1e-15)] = 0.0
        x[idx] = new
        theta = np.sign(x)
    return x


def _solve_path(Xs: np.ndarray, y: np.ndarray, lambdas: np.ndarray, tol: float,
                max_irls: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Penalised IRLS along ``lambdas`` on standardized Xs.

    Returns (b0 (L,), B (L, p), iterations (L,), n_fitted). As glmnet, the path stops once
    the deviance explained exceeds DEV_MAX or grows by less than FDEV (relative) from one
    lambda to the next; entries after ``n_fitted`` repeat the last fit.
    """
    n, p = Xs.shape
    ybar = y.mean()
    b0, beta = np.log(ybar / (1 - ybar)), np.zeros(p)
    null_dev = -2 * n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    intercepts, coefs, iters = np.empty(len(lambdas)), np.empty((len(lambdas), p)), np.zeros(len(lambdas), int)
    previous_ratio, n_fitted = 0.0, len(lambdas)
    for i, lam in enumerate(lambdas):
        current = _objective(Xs, y, b0, beta, lam)
        for it in range(1, max_irls + 1):
            eta = b0 + Xs @ beta
            prob = expit(eta)
            w = np.maximum(prob * (1 - prob), MIN_WEIGHT)
            z = eta + (y - prob) / w
            xbar = w @ Xs / w.sum()
            zbar = w @ z / w.sum()
            # quadratic approximation (1/2n) sum w (z - b0 - x b)^2, b0 profiled out
            Xc = Xs - xbar
            G = Xc.T @ (w[:, None] * Xc) / n
            new_beta = _quadratic_lasso(G, Xc.T @ (w * (z - zbar)) / n, lam, beta)
            new_b0 = zbar - xbar @ new_beta
            new = _objective(Xs, y, new_b0, new_beta, lam)
            halvings = 0
            while new > current + 1e-12 and halvings < 20:      # damp a step that overshoots
                new_beta, new_b0 = (beta + new_beta) / 2, (b0 + new_b0) / 2
                new = _objective(Xs, y, new_b0, new_beta, lam)
                halvings += 1
            change = max(abs(new_b0 - b0), np.max(np.abs(new_beta - beta), initial=0.0))
            b0, beta, current = new_b0, new_beta, new
            if change < tol:
                break
        intercepts[i], coefs[i], iters[i] = b0, beta, it
        ratio = _deviance_ratio(Xs, y, b0, beta, null_dev)
        if i > 0 and (ratio > DEV_MAX or ratio - previous_ratio < FDEV * ratio):
            n_fitted = i + 1
            intercepts[n_fitted:], coefs[n_fitted:] = b0, beta
            break
        previous_ratio = ratio
    return intercepts, coefs, iters, n_fitted


def lasso_logistic_path(X, y, *, lambdas=None, n_lambda: int = 100, lambda_min_ratio: float | None = None,
                        standardize: bool = True, tol: float = 1e-8, max_irls: int = 100,
                        full_path: bool = False) -> LassoPath:
    """LASSO logistic path of y (0/1, n) on X (DataFrame or array, n x p).

    The path is truncated where glmnet stops it, unless ``full_path`` (then the lambdas after
    the stop repeat the last fit, as cv.glmnet does for its folds).
    """
    if isinstance(X, pd.DataFrame):
        names = tuple(map(str, X.columns))
    else:
        names = tuple(f"x{j}" for j in range(np.shape(X)[1]))
    X = np.asarray(X, dtype=float)
    y = binary_outcome(y).astype(float)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise ValueError(f"X must be (n, p) with n = len(y) = {len(y)}, got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains missing or infinite values")
    Xs, centre, scale = _standardize(X, standardize)
    if lambdas is None:
        ratio = lambda_min_ratio if lambda_min_ratio is not None else (0.01 if X.shape[0] < X.shape[1] else 1e-4)
        top = lambda_max(X, y, standardize=standardize)
        lambdas = np.exp(np.linspace(np.log(top), np.log(top * ratio), n_lambda))
    lambdas = np.sort(np.asarray(lambdas, dtype=float))[::-1]
    with threadpool_limits(limits=1, user_api="blas"):   # small matrices: threads only contend
        b0, B, iters, n_fitted = _solve_path(Xs, y, lambdas, tol, max_irls)
    keep = slice(None) if full_path else slice(0, n_fitted)
    coef = B[keep] / scale
    return LassoPath(lambdas=lambdas[keep], intercept=b0[keep] - coef @ centre, coef=coef,
                     feature_names=names, n_iter=iters[keep])


def _deviance(y: np.ndarray, lp: np.ndarray) -> np.ndarray:
    prob = np.clip(expit(lp), PROB_CLIP, 1 - PROB_CLIP)
    return -2 * (y[:, None] * np.log(prob) + (1 - y[:, None]) * np.log(1 - prob))


def lasso_logistic_cv(X, y, *, n_folds: int = 10, seed: int = 0, n_lambda: int = 100,
                      lambda_min_ratio: float | None = None, standardize: bool = True,
                      tol: float = 1e-8) -> LassoCV:
    """cv.glmnet-style K-fold CV over the path fitted on all of X (n, p), y (n,)."""
    y_arr = binary_outcome(y)
    smaller = int(min(y_arr.sum(), len(y_arr) - y_arr.sum()))
    if n_folds < 2 or n_folds > smaller:
        raise ValueError(f"n_folds must be between 2 and the size of the smaller outcome class ({smaller}), "
                         f"got {n_folds}")
    full = lasso_logistic_path(X, y_arr, n_lambda=n_lambda, lambda_min_ratio=lambda_min_ratio,
                               standardize=standardize, tol=tol)
    Xa = np.asarray(X, dtype=float)
    folds = np.empty(len(y_arr), dtype=int)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold_dev, fold_w = np.empty((n_folds, len(full.lambdas))), np.empty(n_folds)
    for k, (train, test) in enumerate(splitter.split(Xa, y_arr)):
        folds[test] = k
        part = lasso_logistic_path(Xa[train], y_arr[train], lambdas=full.lambdas,
                                   standardize=standardize, tol=tol, full_path=True)
        fold_dev[k] = _deviance(y_arr[test].astype(float), part.linear_predictor(Xa[test])).mean(axis=0)
        fold_w[k] = len(test)
    cv_mean = fold_w @ fold_dev / fold_w.sum()
    cv_se = np.sqrt((fold_w @ (fold_dev - cv_mean) ** 2) / fold_w.sum() / (n_folds - 1))
    index_min = int(np.flatnonzero(cv_mean <= cv_mean.min())[0])
    index_1se = int(np.flatnonzero(cv_mean <= cv_mean[index_min] + cv_se[index_min])[0])
    return LassoCV(path=full, cv_mean=cv_mean, cv_se=cv_se, index_min=index_min,
                   index_1se=index_1se, folds=folds)
