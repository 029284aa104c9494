"""Maximum-likelihood logistic fits against statsmodels GLM and R (profile-likelihood CIs of
confint(glm(...)), tests/stats/r/confint_glm.R), and the diagnostics."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from core.stats import detect_separation, fit_logistic, multivariate_logistic
from tests.reference import reference_file

R = json.loads((Path(__file__).parent / "r" / "confint_glm.json").read_text())


@pytest.fixture(scope="module")
def asah():
    d = pd.read_csv(reference_file("proc", "aSAH.csv"))
    return d.assign(poor=(d["outcome"] == "Poor").astype(int))


@pytest.fixture(scope="module")
def rdata():
    d = pd.read_csv(reference_file("calibration", "ValLogRegMod_rdata.csv"))
    X = pd.DataFrame({c: (d[c] == "Yes").astype(float) for c in ("ter_pos", "preafp", "prehcg")})
    X[["sqpost", "reduc10"]] = d[["sqpost", "reduc10"]]
    return X, d["tum_res"].to_numpy()


def test_ml_fit_matches_statsmodels_glm(rdata):
    X, y = rdata
    glm = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial()).fit()
    fit = fit_logistic(X, y, profile=False)
    assert fit.method == "ml" and fit.ci_method == "wald" and fit.warnings == ()
    assert fit.coef == pytest.approx(glm.params.to_numpy(), abs=1e-7)
    assert fit.se == pytest.approx(glm.bse.to_numpy(), rel=1e-5)
    ci = glm.conf_int().to_numpy()
    assert np.column_stack([fit.ci_low, fit.ci_high]) == pytest.approx(ci, abs=1e-5)
    assert fit.p == pytest.approx(glm.pvalues.to_numpy(), rel=1e-4)
    table = fit.summary
    assert list(table.columns) == ["variable", "beta", "se", "or", "or_low", "or_high", "p"]
    assert table["or"].to_numpy() == pytest.approx(np.exp(glm.params.to_numpy()), rel=1e-6)


@pytest.mark.parametrize("data", ["asah", "vallogreg"])
def test_profile_likelihood_cis_equal_r_confint(request, data):
    """confint(glm(...)) (MASS's profile method) to 1e-8; Wald limits as confint.default."""
    if data == "asah":
        d = request.getfixturevalue("asah")
        X, y = d[["age", "s100b", "ndka"]], d["poor"].to_numpy()
    else:
        X, y = request.getfixturevalue("rdata")
    ref = R[data]
    fit = fit_logistic(X, y)
    assert fit.ci_method == "profile likelihood" and list(fit.names[1:]) == ref["names"][1:]
    assert fit.coef == pytest.approx(ref["coef"], abs=1e-8)
    assert np.column_stack([fit.ci_low, fit.ci_high]) == pytest.approx(np.array(ref["profile"]), abs=1e-8)
    wald = fit_logistic(X, y, profile=False)
    assert np.column_stack([wald.ci_low, wald.ci_high]) == pytest.approx(np.array(ref["wald"]), abs=1e-6)
    # MASS's spline interpolation is not the exact profile root (R's own uniroot, same file)
    assert 1e-6 < np.abs(np.array(ref["profile"]) - np.array(ref["exact"])).max() < 1e-3


def test_multivariate_table_defaults_to_profile_likelihood(asah):
    res = multivariate_logistic(asah, "poor", ["age", "s100b", "ndka"])
    assert res.fit.ci_method == "profile likelihood" and res.to_dict()["ci_method"] == "profile likelihood"
    limits = np.log(res.summary[["or_low", "or_high"]].to_numpy())
    assert limits == pytest.approx(np.array(R["asah"]["profile"]), abs=1e-8)
    wald = multivariate_logistic(asah, "poor", ["age", "s100b", "ndka"], profile=False)
    assert np.log(wald.summary[["or_low", "or_high"]].to_numpy()) == pytest.approx(np.array(R["asah"]["wald"]), abs=1e-6)


def test_exact_collinearity_drops_the_aliased_column(rdata):
    X, y = rdata
    fit = fit_logistic(X.assign(twice=2 * X["sqpost"]), y)
    assert fit.dropped == ("twice",)
    assert any("collinearity" in w and "twice" in w for w in fit.warnings)
    assert fit.coef == pytest.approx(fit_logistic(X, y).coef, abs=1e-10)


def test_high_vif_and_few_events_warn():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60)})
    X["b"] = X["a"] + 0.05 * rng.normal(size=60)
    y = (rng.random(60) < 0.3).astype(int)
    fit = fit_logistic(X, y)
    assert any("VIF" in w for w in fit.warnings)
    assert any("events per variable" in w for w in fit.warnings)
    assert np.isfinite(fit.coef).all()


def test_separation_detection_linear_program():
    X = np.column_stack([np.ones(8), [1, 2, 3, 4, 5, 6, 7, 8]])
    assert detect_separation(X, np.array([0, 0, 0, 0, 1, 1, 1, 1])) is not None   # complete
    assert detect_separation(X, np.array([0, 0, 0, 1, 1, 1, 1, 1])) is not None   # complete
    assert detect_separation(X, np.array([0, 1, 0, 1, 0, 1, 1, 0])) is None       # overlap


def test_missing_values_are_rejected():
    with pytest.raises(ValueError, match="missing"):
        fit_logistic(pd.DataFrame({"a": [1.0, np.nan, 2.0, 3.0]}), [0, 1, 0, 1])
