"""Firth's bias-reduced (penalised-likelihood) logistic regression, as R's logistf.

Maximises l(beta) + 0.5 * log|X'WX|, whose gradient is the modified score
U*(beta) = X'(y - p + h * (0.5 - p)), h the diagonal of the hat matrix
W^1/2 X (X'WX)^-1 X' W^1/2 (Firth 1993; Heinze & Schemper 2002), by Newton iterations
(exact Hessian, falling back to Fisher scoring where it is not negative definite) with
step-halving and a cap on the step. Estimates are finite under (quasi-)complete separation.
Confidence limits and tests use the profile penalised likelihood (logistf's default,
pl=TRUE): the penalty keeps the full model's information matrix when a coefficient is fixed.

X always includes the intercept column; shapes: X (n, k), y (n,), beta (k,).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from scipy.special import expit

MAX_STEP = 5.0          # logistf's maxstep
MAX_HALVINGS = 25


@dataclass(frozen=True)
class FirthFit:
    """Result of ``firth_logit``: coef (k,), cov (k, k) = inverse Fisher information at coef,
    penalised log-likelihood, convergence flag and iterations used."""
    coef: np.ndarray
    cov: np.ndarray
    penalized_loglik: float
    loglik: float
    converged: bool
    n_iter: int


def _loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    eta = X @ beta
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _information(X: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = expit(X @ beta)
    w = p * (1 - p)
    return X.T @ (X * w[:, None]), p


def penalized_loglik(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """l(beta) + 0.5 log det(X'WX)."""
    info, _ = _information(X, beta)
    sign, logdet = np.linalg.slogdet(info)
    return _loglik(X, y, beta) + 0.5 * logdet if sign > 0 else -np.inf


def _derivatives(X: np.ndarray, y: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Modified score U* (k,), Fisher information I (k, k) and the exact Hessian of the
    penalised log-likelihood (k, k) at beta; memory O(n k^2)."""
    info, p = _information(X, beta)
    w = p * (1 - p)
    info_inv = np.linalg.pinv(info, hermitian=True)
    q = np.sum((X @ info_inv) * X, axis=1)            # x_i' I^-1 x_i
    h = w * q
    score = X.T @ (y - p + h * (0.5 - p))
    g = w * (1 - 2 * p)                               # d w_i / d eta_i
    # d h_i / d beta = g_i q_i x_i - w_i sum_l (x_i' I^-1 x_l)^2 g_l x_l, with
    # (x_i' A x_l)^2 = vec(x_i x_i')' (A kron A) vec(x_l x_l') to avoid an n x n matrix
    outer = np.einsum("ia,ib->iab", X, X).reshape(len(X), -1)
    squared_leverage_term = outer @ (np.kron(info_inv, info_inv) @ (outer.T @ (g[:, None] * X)))
    dh = (g * q)[:, None] * X - w[:, None] * squared_leverage_term
    hessian = -X.T @ ((w * (1 + h))[:, None] * X) + X.T @ ((0.5 - p)[:, None] * dh)
    return score, info, hessian


def _maximise(X: np.ndarray, y: np.ndarray, beta: np.ndarray, free: np.ndarray,
              max_iter: int, tol: float) -> tuple[np.ndarray, bool, int]:
    """Maximise the penalised likelihood over beta[free], the other entries held fixed.

    Newton steps on the exact Hessian where it is negative definite, Fisher-scoring steps
    (logistf's algorithm) otherwise; step length capped at MAX_STEP, step-halving while the
    penalised likelihood decreases. Converged when every step entry is below ``tol``.
    """
    beta = beta.astype(float).copy()
    current = penalized_loglik(X, y, beta)
    sub = np.ix_(free, free)
    for it in range(1, max_iter + 1):
        try:
            score, info, hessian = _derivatives(X, y, beta)
        except np.linalg.LinAlgError:      # far out on a profile the information is numerically singular
            return beta, False, it
        if not (np.isfinite(score).all() and np.isfinite(hessian).all()):
            return beta, False, it
        step = np.zeros_like(beta)
        try:
            np.linalg.cholesky(-hessian[sub])
            step[free] = np.linalg.solve(-hessian[sub], score[free])
        except np.linalg.LinAlgError:
            step[free] = np.linalg.lstsq(info[sub], score[free], rcond=None)[0]
        largest = np.max(np.abs(step))
        if largest < tol:
            return beta, True, it
        if largest > MAX_STEP:
            step *= MAX_STEP / largest
        for _ in range(MAX_HALVINGS):
            candidate = penalized_loglik(X, y, beta + step)
            if candidate >= current - 1e-12:
                break
            step /= 2
        beta += step
        current = candidate
    return beta, False, max_iter


def firth_logit(X, y, *, start=None, max_iter: int = 100, tol: float = 1e-9) -> FirthFit:
    """Firth logistic fit of y (0/1) on X (n, k) including the intercept column."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    beta0 = np.zeros(X.shape[1]) if start is None else np.asarray(start, dtype=float)
    free = np.ones(X.shape[1], dtype=bool)
    beta, converged, n_iter = _maximise(X, y, beta0, free, max_iter, tol)
    info, _ = _information(X, beta)
    return FirthFit(
        coef=beta,
        cov=np.linalg.pinv(info, hermitian=True),
        penalized_loglik=penalized_loglik(X, y, beta),
        loglik=_loglik(X, y, beta),
        converged=converged,
        n_iter=n_iter,
    )


def _profile(X: np.ndarray, y: np.ndarray, fit: FirthFit, j: int, value: float) -> float:
    """Profile penalised log-likelihood with beta_j fixed at ``value``."""
    start = fit.coef.copy()
    start[j] = value
    free = np.ones(X.shape[1], dtype=bool)
    free[j] = False
    beta, _, _ = _maximise(X, y, start, free, max_iter=100, tol=1e-8)
    return penalized_loglik(X, y, beta)


def profile_test(X, y, fit: FirthFit, j: int, value: float = 0.0) -> tuple[float, float]:
    """Penalised likelihood ratio test of beta_j = value: returns (chi2 with 1 df, p)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    chi2 = float(max(0.0, 2 * (fit.penalized_loglik - _profile(X, y, fit, j, value))))
    return chi2, float(stats.chi2.sf(chi2, 1))


def profile_ci(X, y, fit: FirthFit, j: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Profile penalised-likelihood confidence limits of beta_j (-inf/inf if not reached)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    target = fit.penalized_loglik - stats.chi2.ppf(1 - alpha, 1) / 2
    centre = fit.coef[j]
    scale = max(np.sqrt(max(fit.cov[j, j], 0.0)), 1e-3)

    def excess(v: float) -> float:
        return _profile(X, y, fit, j, v) - target

    limits = []
    for direction in (-1.0, 1.0):
        inner, outer = centre, centre + direction * scale
        for _ in range(12):
            if excess(outer) < 0:
                break
            inner, outer = outer, centre + 2 * (outer - centre)
        else:
            limits.append(direction * np.inf)
            continue
        limits.append(optimize.brentq(excess, inner, outer, xtol=1e-9, rtol=1e-12))
    return float(limits[0]), float(limits[1])
