"""LASSO logistic path against glmnet's definitions on glmnet's BinomialExample data.

glmnet's own coefficients are not in the reference folder, so the path is checked against
(1) glmnet's lambda_max formula for standardized x, (2) an independent solver, statsmodels
Logit.fit_regularized(method="l1", alpha = n * lambda) on x scaled to unit population SD
(glmnet's standardize=TRUE), agreeing to 2e-4 in every coefficient, and (3) the KKT
optimality conditions of the glmnet objective at every lambda (relative 1e-4).
"""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

from core.stats import lasso_logistic_cv, lasso_logistic_path
from core.stats.lasso import lambda_max
from tests.reference import reference_file


@pytest.fixture(scope="module")
def binomial_example():
    d = pd.read_csv(reference_file("glmnet", "BinomialExample.csv"))
    return d.drop(columns="y"), d["y"].to_numpy()


@pytest.fixture(scope="module")
def path(binomial_example):
    X, y = binomial_example
    return lasso_logistic_path(X, y, n_lambda=40)


def _standardized(X):
    return ((X - X.mean()) / X.std(ddof=0)).to_numpy(), X.std(ddof=0).to_numpy(), X.mean().to_numpy()


def test_lambda_max_is_glmnets_and_zeroes_every_coefficient(binomial_example, path):
    X, y = binomial_example
    Xs, _, _ = _standardized(X)
    expected = np.max(np.abs(Xs.T @ (y - y.mean()))) / len(y)
    assert lambda_max(X, y) == pytest.approx(expected, rel=1e-12)
    assert path.lambdas[0] == pytest.approx(expected, rel=1e-12)
    assert path.n_nonzero[0] == 0 and path.n_nonzero[1] >= 1
    assert path.intercept[0] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=1e-10)
    # default path: 100 values (or fewer where glmnet stops), ratio 1e-4 since n > p
    default = lasso_logistic_path(X, y, n_lambda=100)
    assert len(default.lambdas) <= 100
    assert default.lambdas[1] / default.lambdas[0] == pytest.approx((1e-4) ** (1 / 99), rel=1e-10)


@pytest.mark.parametrize("index", [4, 15])
def test_path_matches_statsmodels_l1_on_standardized_x(binomial_example, path, index):
    X, y = binomial_example
    Xs, sd, mean = _standardized(X)
    lam, n = path.lambdas[index], len(y)
    alpha = np.r_[0.0, np.full(X.shape[1], n * lam)]
    ref = sm.Logit(y, sm.add_constant(Xs)).fit_regularized(method="l1", alpha=alpha, disp=0, acc=1e-12,
                                                            trim_mode="off", maxiter=1000).params
    ours = path.coef[index] * sd                                   # back to the standardized scale
    assert ours == pytest.approx(ref[1:], abs=2e-4)
    assert path.intercept[index] + path.coef[index] @ mean == pytest.approx(ref[0], abs=2e-4)


def test_kkt_conditions_hold_along_the_path(binomial_example, path):
    X, y = binomial_example
    Xs, sd, mean = _standardized(X)
    for lam, b0, b in zip(path.lambdas, path.intercept, path.coef):
        beta = b * sd
        residual = y - expit(b0 + b @ mean + Xs @ beta)
        grad = Xs.T @ residual / len(y)
        active = beta != 0
        assert abs(residual.mean()) < 1e-4 * lam
        assert np.all(np.abs(grad[active] - lam * np.sign(beta[active])) < 1e-4 * lam)
        assert np.all(np.abs(grad[~active]) <= lam * (1 + 1e-4))


def test_cross_validation_follows_cv_glmnet(binomial_example):
    X, y = binomial_example
    cv = lasso_logistic_cv(X, y, n_folds=5, seed=1, n_lambda=40)
    assert cv.cv_mean[cv.index_min] == cv.cv_mean.min()
    assert cv.lambda_1se >= cv.lambda_min
    assert cv.cv_mean[cv.index_1se] <= cv.cv_mean[cv.index_min] + cv.cv_se[cv.index_min]
    assert all(y[cv.folds == k].sum() in (y.sum() // 5, y.sum() // 5 + 1) for k in range(5))   # stratified
    table = cv.table
    assert list(table.columns) == ["lambda", "log_lambda", "cv_mean", "cv_se", "n_nonzero"]
    # null model deviance per patient at lambda_max is about the CV deviance there
    p0 = y.mean()
    assert cv.cv_mean[0] == pytest.approx(-2 * (p0 * np.log(p0) + (1 - p0) * np.log(1 - p0)), rel=0.05)


def test_too_many_folds_is_a_clear_error(binomial_example):
    X, y = binomial_example
    with pytest.raises(ValueError, match="n_folds"):
        lasso_logistic_cv(X, y, n_folds=int(min(y.sum(), len(y) - y.sum())) + 1)
