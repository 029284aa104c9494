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
1e-4).

Stopping rule (glmnet 4.1, elnet_path/base.hpp ``process_point_fit``): on a path glmnet
generates itself, once at least min(mnlam = 5, n_lambda) lambdas are fitted the path stops
after the first lambda whose deviance explained (dev.ratio) exceeds devmax = 0.999 or gains
less than fdev = 1e-5 (absolute) over the previous lambda. A lambda sequence given by the
user is always fitted in full. dev.ratio = 1 - deviance / null deviance, with the
probabilities clipped to [pmin, 1 - pmin], pmin = 1e-9 (glmnet.control).

Cross-validation follows cv.glmnet (type.measure="deviance", grouped; R/cv.glmnet.raw.R,
buildPredmat.default.R, cv.lognet.R, cvstats.R, getOptcv.glmnet.R). Each fold's training
patients get their own glmnet call with the same arguments: without a user lambda sequence
that is the fold's own path (its own lambda_max and its own stop), predicted at the lambdas
of the full-data path by glmnet's linear interpolation of the coefficients in lambda
(``lambda.interp``; a lambda beyond the fold's path takes the fold's nearest end); with a
user sequence every fold fits every lambda. Per fold the mean binomial deviance of the
held-out patients (probabilities clipped to [1e-5, 1 - 1e-5]); cv_mean is the
fold-size-weighted mean, cv_se its weighted SD / sqrt(K - 1); lambda_min is the largest
lambda minimising cv_mean, lambda_1se the largest lambda with cv_mean <= that minimum + its
SE. Folds are given (fold ids, as cv.glmnet's ``foldid``) or stratified by outcome
(scikit-learn StratifiedKFold, seeded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from functools import cache

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import ThreadpoolController

from core.stats._checks import binary_outcome

PROB_CLIP = 1e-5      # cv.lognet's prob_min: probabilities clipped in the CV deviance
PROB_MIN = 1e-9       # glmnet.control(pmin): probabilities clipped in dev.ratio
MIN_WEIGHT = 1e-9     # floor on IRLS weights p(1-p)
FDEV = 1e-5           # glmnet.control(fdev): minimum gain in deviance explained
DEV_MAX = 0.999       # glmnet.control(devmax): maximum deviance explained
QUADRATIC_EXIT = 1e-4  # an IRLS step this small on unchanged signs leaves an error of order its square
MIN_LAMBDAS = 5       # glmnet.control(mnlam): lambdas fitted before the path may stop


@cache
def _blas() -> ThreadpoolController:
    """The loaded BLAS libraries, inspected once (a few ms per inspection)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class LassoPath:
    """Coefficient path: lambdas (L,) decreasing, intercept (L,), coef (L, p) on the input
    scale, feature_names (p,), n_iter (L,) IRLS iterations per lambda, dev_ratio (L,) the
    fraction of the null deviance explained (glmnet's dev.ratio)."""
    lambdas: np.ndarray
    intercept: np.ndarray
    coef: np.ndarray
    feature_names: tuple[str, ...]
    n_iter: np.ndarray
    dev_ratio: np.ndarray

    @property
    def n_nonzero(self) -> np.ndarray:
        """Non-zero coefficients per lambda (L,): glmnet's df."""
        return (self.coef != 0).sum(axis=1)

    def coef_at(self, index: int) -> pd.Series:
        return pd.Series(self.coef[index], index=list(self.feature_names))

    def interpolated(self, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(intercept (S,), coef (S, p)) at ``lambdas`` (S,), as glmnet's predict(s=):
        linear in lambda between the two path lambdas around each, the nearest end outside
        the path (R/lambda.interp.R)."""
        lam, s = self.lambdas, np.asarray(lambdas, dtype=float)
        if len(lam) == 1:
            return np.repeat(self.intercept, len(s)), np.repeat(self.coef, len(s), axis=0)
        scaled = (lam[0] - lam) / (lam[0] - lam[-1])
        where = np.clip((lam[0] - s) / (lam[0] - lam[-1]), scaled[0], scaled[-1])
        coord = np.interp(where, scaled, np.arange(len(lam)))
        left, right = np.floor(coord).astype(int), np.ceil(coord).astype(int)
        gap = scaled[left] - scaled[right]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where((left == right) | (np.abs(gap) < np.finfo(float).eps), 1.0,
                            (where - scaled[right]) / gap)
        intercept = frac * self.intercept[left] + (1 - frac) * self.intercept[right]
        return intercept, frac[:, None] * self.coef[left] + (1 - frac[:, None]) * self.coef[right]


@dataclass(frozen=True)
class LassoCV:
    """Path on all data plus CV deviance: cv_mean, cv_se (L,) (cv.glmnet's cvm, cvsd),
    lambda_min, lambda_1se and their indices in ``path.lambdas``; folds (n,) gives each
    patient's fold id."""
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


def _deviance_ratio(Xs, y, b0, beta, null_dev) -> float:
    """glmnet's dev.ratio: 1 - deviance / null deviance, probabilities clipped at PROB_MIN."""
    prob = np.clip(expit(b0 + Xs @ beta), PROB_MIN, 1 - PROB_MIN)
    dev = -2 * np.sum(y * np.log(prob) + (1 - y) * np.log(1 - prob))
    return 1 - dev / null_dev


def _loss(y: np.ndarray, eta: np.ndarray) -> float:
    """Mean negative log-likelihood of y given linear predictors eta."""
    return float(-np.mean(y * eta - np.logaddexp(0.0, eta)))


def _quadratic_lasso(G: np.ndarray, c: np.ndarray, lam: float, x: np.ndarray) -> np.ndarray:
    """argmin_x 0.5 x'Gx - c'x + lam * |x|_1 by feature-sign search (Lee et al. 2007),
    warm-started at x. G (p, p) positive semi-definite, c (p,)."""
    x = x.copy()
    if not len(c):
        return x
    tol = 1e-10 * max(1.0, np.max(np.abs(c)))
    ridge = 1e-12 * max(np.trace(G) / len(c), 1e-300)
    theta = np.sign(x)
    idx = np.flatnonzero(theta)
    if idx.size:         # warm start: keeping the signs is usually optimal (one solve, then the KKT check)
        sub = G[np.ix_(idx, idx)]
        sub.flat[::len(idx) + 1] += ridge
        try:
            target = np.linalg.solve(sub, c[idx] - lam * theta[idx])
        except np.linalg.LinAlgError:
            target = None
        if target is not None and np.array_equal(np.sign(target), theta[idx]):
            candidate = np.zeros_like(x)
            candidate[idx] = target
            grad = G @ candidate - c
            if np.all(np.abs(grad[theta == 0]) <= lam + tol):
                return candidate
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
        G_active, c_active = G[idx][:, idx], c[idx]
        sub = G_active.copy()
        sub.flat[::len(idx) + 1] += ridge
        rhs = c_active - lam * theta[idx]
        try:
            target = np.linalg.solve(sub, rhs)
        except np.linalg.LinAlgError:
            target = np.linalg.lstsq(sub, rhs, rcond=None)[0]
        start = x[idx]
        step = target - start
        with np.errstate(divide="ignore", invalid="ignore"):
            crossings = -start / step
        inside = np.sort(crossings[(crossings > 0) & (crossings < 1)])
        t_best = 1.0
        if inside.size:                                  # best of the full step and each sign change
            ts = np.concatenate([[1.0], inside])
            v = start[None, :] + ts[:, None] * step[None, :]
            values = 0.5 * np.einsum("ti,ij,tj->t", v, G_active, v) - v @ c_active + lam * np.abs(v).sum(axis=1)
            t_best = ts[int(np.argmin(values))]
        new = start + t_best * step
        if t_best < 1:                                   # the coefficient that crossed is zero
            new[np.isclose(crossings, t_best, rtol=1e-12, atol=1e-15)] = 0.0
        x[idx] = new
        theta = np.sign(x)
    return x


def _irls(Xs: np.ndarray, y: np.ndarray, lam: float, b0: float, beta: np.ndarray, idx: np.ndarray, tol: float,
          max_irls: int) -> tuple[float, np.ndarray, int]:
    """Penalised IRLS for one lambda over the intercept and the coefficients ``idx`` (the others
    held at 0): the quadratic approximation of the log-likelihood at the current fit, solved
    exactly by feature-sign search, step-halved if the objective rises. Returns (b0, beta (p,),
    iterations)."""
    n = len(y)
    XA = Xs[:, idx]
    b = beta[idx]
    eta = b0 + XA @ b
    current = _loss(y, eta) + lam * np.abs(b).sum()
    for it in range(1, max_irls + 1):
        prob = expit(eta)
        w = np.maximum(prob * (1 - prob), MIN_WEIGHT)
        z = eta + (y - prob) / w
        total = w.sum()
        xbar = w @ XA / total
        zbar = w @ z / total
        # quadratic approximation (1/2n) sum w (z - b0 - x b)^2, b0 profiled out
        Xc = XA - xbar
        WX = Xc * w[:, None]
        new_b = _quadratic_lasso(Xc.T @ WX / n, WX.T @ (z - zbar) / n, lam, b)
        new_b0 = zbar - xbar @ new_b
        new_eta = new_b0 + XA @ new_b
        new = _loss(y, new_eta) + lam * np.abs(new_b).sum()
        halvings = 0
        while new > current + 1e-12 and halvings < 20:      # damp a step that overshoots
            new_b, new_b0 = (b + new_b) / 2, (b0 + new_b0) / 2
            new_eta = new_b0 + XA @ new_b
            new = _loss(y, new_eta) + lam * np.abs(new_b).sum()
            halvings += 1
        change = max(abs(new_b0 - b0), np.max(np.abs(new_b - b), initial=0.0))
        same_signs = np.array_equal(np.sign(new_b), np.sign(b))
        b0, b, eta, current = new_b0, new_b, new_eta, new
        # a full Newton step on unchanged signs converges quadratically: after a step of size
        # QUADRATIC_EXIT the error left is of order its square
        if change < tol or (change < QUADRATIC_EXIT and halvings == 0 and same_signs):
            break
    out = np.zeros(Xs.shape[1])
    out[idx] = b
    return b0, out, it


def _solve_path(Xs: np.ndarray, y: np.ndarray, lambdas: np.ndarray, tol: float, max_irls: int,
                stop: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Penalised IRLS along ``lambdas`` on standardized Xs, warm-started from lambda to lambda.

    Per lambda the IRLS works on a small working set, the coefficients non-zero at the previous
    lambda plus those glmnet's strong rule flags (|x_j'(y - p)| / n > 2 lambda - lambda_prev);
    then the KKT condition |x_j'(y - p)| / n <= lambda of every other coefficient is checked,
    violators join and the IRLS resumes, until none is left: the same minimiser as working on
    every coefficient at once (glmnet's active-set cycling).
    Returns (b0 (m,), B (m, p), iterations (m,), dev_ratio (m,)) for the m lambdas fitted:
    all of them, or with ``stop`` up to where glmnet's rule ends the path (module doc).
    """
    n, p = Xs.shape
    ybar = y.mean()
    b0, beta = np.log(ybar / (1 - ybar)), np.zeros(p)
    null_dev = -2 * n * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
    size = len(lambdas)
    intercepts, coefs, iters, ratios = np.empty(size), np.empty((size, p)), np.zeros(size, int), np.empty(size)
    previous_ratio, n_fitted = 0.0, size
    grad = Xs.T @ (y - ybar) / n
    previous_lam = lambdas[0]
    for i, lam in enumerate(lambdas):
        used = 0
        working = (beta != 0) | (np.abs(grad) > 2 * lam - previous_lam)
        if i >= 2 and np.isclose(np.log(lambdas[i - 1] / lam), np.log(lambdas[i - 2] / lambdas[i - 1])):
            # evenly spaced log-lambdas: start from the path extrapolated where no sign would change
            guess = 2 * coefs[i - 1] - coefs[i - 2]
            if np.array_equal(np.sign(guess), np.sign(beta)):
                b0, beta = 2 * intercepts[i - 1] - intercepts[i - 2], guess
        for _ in range(p + 1):
            b0, beta, it = _irls(Xs, y, lam, b0, beta, np.flatnonzero(working), tol, max_irls)
            used += it
            grad = Xs.T @ (y - expit(b0 + Xs @ beta)) / n
            violators = ~working & (np.abs(grad) > lam * (1 + 1e-10))
            if not violators.any():
                break
            working |= violators
        ratio = _deviance_ratio(Xs, y, b0, beta, null_dev)
        intercepts[i], coefs[i], iters[i], ratios[i] = b0, beta, used, ratio
        previous_lam = lam
        if stop and i + 1 >= min(MIN_LAMBDAS, size) and (ratio - previous_ratio < FDEV or ratio > DEV_MAX):
            n_fitted = i + 1
            break
        previous_ratio = ratio
    keep = slice(0, n_fitted)
    return intercepts[keep], coefs[keep], iters[keep], ratios[keep]


def lasso_logistic_path(X, y, *, lambdas=None, n_lambda: int = 100, lambda_min_ratio: float | None = None,
                        standardize: bool = True, tol: float = 1e-8, max_irls: int = 100) -> LassoPath:
    """LASSO logistic path of y (0/1, n) on X (DataFrame or array, n x p), as glmnet(x, y,
    family="binomial").

    lambdas: the lambda sequence (fitted in full, decreasing); default glmnet's own path of
    ``n_lambda`` values down to ``lambda_min_ratio`` * lambda_max, ended by glmnet's rule.
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
    generated = lambdas is None
    if generated:
        ratio = lambda_min_ratio if lambda_min_ratio is not None else (0.01 if X.shape[0] < X.shape[1] else 1e-4)
        top = lambda_max(X, y, standardize=standardize)
        lambdas = np.exp(np.linspace(np.log(top), np.log(top * ratio), n_lambda))
    lambdas = np.asarray(lambdas, dtype=float)
    if lambdas.ndim != 1 or not len(lambdas) or not np.isfinite(lambdas).all() or lambdas.min() < 0:
        raise ValueError(f"lambdas must be a non-empty 1-D sequence of non-negative numbers, got {lambdas!r}")
    lambdas = np.sort(lambdas)[::-1]
    with _blas().limit(limits=1, user_api="blas"):       # small matrices: threads only contend
        b0, B, iters, ratios = _solve_path(Xs, y, lambdas, tol, max_irls, stop=generated)
    coef = B / scale
    return LassoPath(lambdas=lambdas[:len(b0)], intercept=b0 - coef @ centre, coef=coef,
                     feature_names=names, n_iter=iters, dev_ratio=ratios)


def _deviance(y: np.ndarray, lp: np.ndarray) -> np.ndarray:
    prob = np.clip(expit(lp), PROB_CLIP, 1 - PROB_CLIP)
    return -2 * (y[:, None] * np.log(prob) + (1 - y[:, None]) * np.log(1 - prob))


def _fold_ids(folds, y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold id per patient (n,): the given ``folds`` checked, or stratified K-fold."""
    if folds is None:
        smaller = int(min(y.sum(), len(y) - y.sum()))
        if n_folds < 2 or n_folds > smaller:
            raise ValueError(f"n_folds must be between 2 and the size of the smaller outcome class ({smaller}), "
                             f"got {n_folds}")
        ids = np.empty(len(y), dtype=int)
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
            ids[test] = k
        return ids
    ids = np.asarray(folds)
    if ids.shape != y.shape:
        raise ValueError(f"folds must give one fold id per patient ({len(y)}), got shape {ids.shape}")
    if pd.isna(ids).any():
        raise ValueError(f"folds contains {int(pd.isna(ids).sum())} missing fold id(s)")
    labels = np.unique(ids)
    if len(labels) < 2:
        raise ValueError(f"folds must hold at least 2 distinct fold ids, got {labels.tolist()}")
    for label in labels:
        kept = y[ids != label]
        if kept.min() == kept.max():
            raise ValueError(f"fold {label}: the patients outside it have only one outcome class ({kept[0]})")
    return ids


def lasso_logistic_cv(X, y, *, n_folds: int = 10, seed: int = 0, folds=None, lambdas=None, n_lambda: int = 100,
                      lambda_min_ratio: float | None = None, standardize: bool = True, tol: float = 1e-8,
                      columns=None, fold_columns: Callable[[np.ndarray], np.ndarray] | None = None) -> LassoCV:
    """cv.glmnet(x, y, family="binomial", type.measure="deviance") over the path fitted on all
    of X (n, p), y (n,).

    folds: fold id per patient (n,), as cv.glmnet's ``foldid`` (overrides n_folds and seed);
    default stratified ``n_folds``-fold, seeded. lambdas, n_lambda, lambda_min_ratio: as
    ``lasso_logistic_path``, for the full fit and every fold.
    columns: positions of the columns of X the full path uses (default all). fold_columns: for
    a selection refitted within each fold, ``fold_columns(train)`` (train: (n,) bool, the
    fold's training patients) gives the columns that fold's path uses (default ``columns``);
    a fold left with none predicts its training event rate at every lambda.
    """
    y_arr = binary_outcome(y)
    ids = _fold_ids(folds, y_arr, n_folds, seed)
    options = dict(lambdas=lambdas, n_lambda=n_lambda, lambda_min_ratio=lambda_min_ratio,
                   standardize=standardize, tol=tol)
    Xa = np.asarray(X, dtype=float)
    columns = np.arange(Xa.shape[1]) if columns is None else np.asarray(columns, dtype=int)
    full_X = X.iloc[:, columns] if isinstance(X, pd.DataFrame) else Xa[:, columns]
    full = lasso_logistic_path(full_X, y_arr, **options)
    labels = np.unique(ids)
    fold_dev, fold_w = np.empty((len(labels), len(full.lambdas))), np.empty(len(labels))
    for k, label in enumerate(labels):
        test = ids == label
        used = columns if fold_columns is None else np.asarray(fold_columns(~test), dtype=int)
        if len(used):
            part = lasso_logistic_path(Xa[~test][:, used], y_arr[~test], **options)
            intercept, coef = part.interpolated(full.lambdas)
            lp = intercept[None, :] + Xa[test][:, used] @ coef.T
        else:
            rate = y_arr[~test].mean()
            lp = np.full((int(test.sum()), len(full.lambdas)), np.log(rate / (1 - rate)))
        fold_dev[k] = _deviance(y_arr[test].astype(float), lp).mean(axis=0)
        fold_w[k] = test.sum()
    cv_mean = fold_w @ fold_dev / fold_w.sum()
    cv_se = np.sqrt((fold_w @ (fold_dev - cv_mean) ** 2) / fold_w.sum() / (len(labels) - 1))
    index_min = int(np.flatnonzero(cv_mean <= cv_mean.min())[0])
    index_1se = int(np.flatnonzero(cv_mean <= cv_mean[index_min] + cv_se[index_min])[0])
    return LassoCV(path=full, cv_mean=cv_mean, cv_se=cv_se, index_min=index_min,
                   index_1se=index_1se, folds=ids)
