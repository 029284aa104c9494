"""LASSO logistic path and cross-validation against R's glmnet 4.1 on its BinomialExample data.

The reference values are glmnet's own (tests/stats/r/glmnet_binomial.R, run with a tight
convergence threshold, thresh = 1e-30): the path (lambda, a0, beta, df, dev.ratio), where
glmnet's rule ends it, and cv.glmnet's deviance curve on given folds. Tolerances: 1e-6,
relative for coefficients larger than 1 (the path ends nearly separated, dev.ratio 0.999,
where coefficients reach 14 and both solvers agree to ~1e-7 relative).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from core.stats import lasso_logistic_cv, lasso_logistic_path
from core.stats.lasso import lambda_max
from tests.reference import reference_file

R = json.loads((Path(__file__).parent / "r" / "glmnet_binomial.json").read_text())


@pytest.fixture(scope="module")
def binomial_example():
    d = pd.read_csv(reference_file("glmnet", "BinomialExample.csv"))
    return d.drop(columns="y"), d["y"].to_numpy()


@pytest.fixture(scope="module")
def path(binomial_example):
    return lasso_logistic_path(*binomial_example)


def _assert_path_equals_glmnet(ours, ref):
    assert len(ours.lambdas) == len(ref["lambda"])
    assert ours.lambdas == pytest.approx(ref["lambda"], rel=1e-12)
    assert ours.intercept == pytest.approx(ref["a0"], rel=1e-6, abs=1e-6)
    assert ours.coef == pytest.approx(np.array(ref["beta"]), rel=1e-6, abs=1e-6)
    assert ours.n_nonzero.tolist() == ref["df"]
    assert ours.dev_ratio == pytest.approx(ref["dev_ratio"], abs=1e-8)


def test_path_equals_glmnet(path):
    _assert_path_equals_glmnet(path, R["path"])
    assert path.dev_ratio[-1] > 0.999                     # ended by devmax, after 98 of 100 lambdas


@pytest.mark.parametrize("case", ["first5", "mnlam", "user"])
def test_path_ends_where_glmnet_ends_it(binomial_example, case):
    """fdev ends the path on 5 features; never before mnlam = 5 lambdas; a user sequence
    is fitted in full although its gains are below fdev."""
    X, y = binomial_example
    ref = R["stops"][case]
    ours = {"first5": lambda: lasso_logistic_path(X.iloc[:, :5], y),
            "mnlam": lambda: lasso_logistic_path(X, y, n_lambda=20, lambda_min_ratio=0.9995),
            "user": lambda: lasso_logistic_path(X, y, lambdas=ref["lambda"])}[case]()
    assert len(ours.lambdas) == {"first5": 58, "mnlam": 5, "user": 30}[case]
    _assert_path_equals_glmnet(ours, ref)


def test_lambda_max_zeroes_every_coefficient(binomial_example, path):
    X, y = binomial_example
    Xs = ((X - X.mean()) / X.std(ddof=0)).to_numpy()
    assert lambda_max(X, y) == pytest.approx(np.max(np.abs(Xs.T @ (y - y.mean()))) / len(y), rel=1e-12)
    assert path.n_nonzero[0] == 0 and path.n_nonzero[1] >= 1
    assert path.intercept[0] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=1e-10)


def test_kkt_conditions_hold_along_the_path(binomial_example, path):
    X, y = binomial_example
    sd, mean = X.std(ddof=0).to_numpy(), X.mean().to_numpy()
    Xs = ((X - X.mean()) / X.std(ddof=0)).to_numpy()
    for lam, b0, b in zip(path.lambdas, path.intercept, path.coef):
        beta = b * sd
        residual = y - expit(b0 + b @ mean + Xs @ beta)
        grad = Xs.T @ residual / len(y)
        active = beta != 0
        assert abs(residual.mean()) < 1e-4 * lam
        assert np.all(np.abs(grad[active] - lam * np.sign(beta[active])) < 1e-4 * lam)
        assert np.all(np.abs(grad[~active]) <= lam * (1 + 1e-4))


@pytest.mark.parametrize("case", ["cv", "cv_user"])
def test_cross_validation_equals_cv_glmnet_on_given_folds(binomial_example, case):
    """cv.glmnet's folds fit their own paths, predicted at the full path's lambdas by
    interpolation ("cv"); with a user lambda sequence every fold fits every lambda."""
    X, y = binomial_example
    ref = R[case]
    lambdas = ref["lambda"] if case == "cv_user" else None
    cv = lasso_logistic_cv(X, y, folds=np.array(R["foldid"]), lambdas=lambdas)
    assert cv.path.lambdas == pytest.approx(ref["lambda"], rel=1e-12)
    assert cv.cv_mean == pytest.approx(ref["cvm"], abs=1e-6)
    assert cv.cv_se == pytest.approx(ref["cvsd"], abs=1e-6)
    assert (cv.index_min + 1, cv.index_1se + 1) == (ref["index_min"], ref["index_1se"])
    assert (cv.lambda_min, cv.lambda_1se) == pytest.approx((ref["lambda_min"], ref["lambda_1se"]), rel=1e-12)
    assert cv.folds.tolist() == R["foldid"]


def test_folds_fitting_every_lambda_would_differ_from_cv_glmnet():
    """R's own check (glmnet_binomial.R): cv.glmnet's held-out predictions are the folds'
    own paths interpolated, not fits at every lambda of the full path."""
    assert R["checks"]["fit_preval_vs_own_fold_paths_max_abs"] == 0
    assert R["checks"]["fit_preval_vs_every_lambda_folds_max_abs"] > 1


def test_default_folds_are_stratified_and_seeded(binomial_example):
    X, y = binomial_example
    cv = lasso_logistic_cv(X, y, n_folds=5, seed=1, n_lambda=40)
    assert all(y[cv.folds == k].sum() in (y.sum() // 5, y.sum() // 5 + 1) for k in range(5))
    assert np.array_equal(cv.folds, lasso_logistic_cv(X, y, n_folds=5, seed=1, n_lambda=40).folds)
    assert list(cv.table.columns) == ["lambda", "log_lambda", "cv_mean", "cv_se", "n_nonzero"]


def test_bad_folds_are_clear_errors(binomial_example):
    X, y = binomial_example
    with pytest.raises(ValueError, match="n_folds"):
        lasso_logistic_cv(X, y, n_folds=int(min(y.sum(), len(y) - y.sum())) + 1)
    with pytest.raises(ValueError, match="one fold id per patient"):
        lasso_logistic_cv(X, y, folds=np.arange(10))
    with pytest.raises(ValueError, match="at least 2"):
        lasso_logistic_cv(X, y, folds=np.ones(len(y)))
    with pytest.raises(ValueError, match="fold 1: the patients outside it have only one outcome class"):
        lasso_logistic_cv(X, y, folds=np.where(y == 1, 1, 2))
