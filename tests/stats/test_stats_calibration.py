"""Calibration: Hosmer-Lemeshow against ResourceSelection::hoslem.test; intercepts and slope
against statsmodels GLM fits and R's glm; rms::val.prob's statistics against rms 6.5, on an
external validation from ValLogRegMod (R values: tests/stats/r/val_prob.R)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from core.stats import calibration_metrics, hosmer_lemeshow
from core.stats.calibration import HL_DF_RULES, VAL_PROB_NAMES, calibration_curve, lowess_calibration, val_prob
from tests.reference import reference_file

R = json.loads((Path(__file__).parent / "r" / "val_prob.json").read_text())


def test_hosmer_lemeshow_matches_resourceselection():
    d = pd.read_csv(reference_file("calibration", "hoslem_example_seed123.csv"))
    res = hosmer_lemeshow(d["y"], d["fitted"], groups=10)
    # hoslem.test(y, fitted(glm(y ~ x, binomial))): X-squared = 4.5227, df = 8, p-value = 0.8072
    assert res["chi2"] == pytest.approx(4.5227, abs=5e-5)
    assert res["df"] == 8
    assert res["p"] == pytest.approx(0.8072, abs=5e-5)
    assert res["table"]["n"].tolist() == [50] * 10


def _vallogregmod():
    rdata = pd.read_csv(reference_file("calibration", "ValLogRegMod_rdata.csv"))
    vdata = pd.read_csv(reference_file("calibration", "ValLogRegMod_vdata.csv"))

    def design(d):
        x = pd.DataFrame({c: (d[c] == "Yes").astype(float) for c in ("ter_pos", "preafp", "prehcg")})
        x[["sqpost", "reduc10"]] = d[["sqpost", "reduc10"]]
        return sm.add_constant(x)

    fit = sm.GLM(rdata["tum_res"], design(rdata), family=sm.families.Binomial()).fit()
    return vdata["tum_res"].to_numpy(), fit.predict(design(vdata)).to_numpy()


def test_intercept_and_slope_match_statsmodels_glm_on_external_validation():
    y, risk = _vallogregmod()
    lp = np.log(risk / (1 - risk))
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    res = calibration_metrics(y, risk)
    assert res["citl"] == res["intercept"] == pytest.approx(citl.params[0], abs=1e-8)
    assert res["slope"] == pytest.approx(slope.params[1], abs=1e-8)
    assert res["recalibration_intercept"] == pytest.approx(slope.params[0], abs=1e-8)
    low, high = slope.conf_int(0.05)[1]
    # statsmodels stops IRLS at a deviance tolerance of 1e-8, so its SE differs by ~1e-6
    assert (res["slope_ci_low"], res["slope_ci_high"]) == pytest.approx((low, high), abs=1e-5)
    assert res["brier"] == pytest.approx(np.mean((risk - y) ** 2), abs=1e-15)
    assert res["oe_ratio"] == pytest.approx(y.sum() / risk.sum())


def test_predictions_are_rs():
    assert _vallogregmod()[1] == pytest.approx(R["p"], abs=1e-10)
    assert _vallogregmod()[0].tolist() == R["y"]


def test_intercepts_and_slope_with_cis_match_r_glm():
    res = calibration_metrics(np.array(R["y"]), np.array(R["p"]))
    recal = R["recalibration"]
    expected = {"citl": (R["citl"]["estimate"], *R["citl"]["ci"]),
                "recalibration_intercept": (recal["intercept"], *recal["intercept_ci"]),
                "slope": (recal["slope"], *recal["slope_ci"])}
    for key, (value, low, high) in expected.items():
        assert (res[key], res[f"{key}_ci_low"], res[f"{key}_ci_high"]) == pytest.approx((value, low, high), abs=1e-8)
    assert (res["intercept_ci_low"], res["intercept_ci_high"]) == (res["citl_ci_low"], res["citl_ci_high"])


def test_val_prob_matches_rms():
    res = val_prob(np.array(R["y"]), np.array(R["p"]))
    assert set(res) == set(VAL_PROB_NAMES)
    for key, name in VAL_PROB_NAMES.items():
        assert res[key] == pytest.approx(R["val_prob"][name], abs=1e-6), name
    # lrm.fit's binned concordance is not the exact AUC
    y, p = np.array(R["y"]), np.array(R["p"])
    exact = np.mean([(a > b) + 0.5 * (a == b) for a in p[y == 1] for b in p[y == 0]])
    assert abs(res["c_roc"] - exact) > 1e-5


def test_val_prob_rejects_risks_of_zero_or_one():
    with pytest.raises(ValueError, match="exactly 0 or 1"):
        val_prob([0, 1, 0, 1], [0.0, 0.7, 0.2, 0.9])


@pytest.mark.parametrize("fitted_here", [True, False])
def test_hosmer_lemeshow_degrees_of_freedom_on_an_external_cohort(fitted_here):
    res = hosmer_lemeshow(np.array(R["y"]), np.array(R["p"]), fitted_here=fitted_here)
    ref = R["hosmer_lemeshow"]
    which = "fitted" if fitted_here else "external"
    assert res["chi2"] == pytest.approx(ref["chisq"], abs=1e-10)
    assert (res["df"], res["groups"]) == (ref[f"df_{which}"], ref["groups"])
    assert res["p"] == pytest.approx(ref[f"p_{which}"], abs=1e-12)
    assert res["df_rule"] == HL_DF_RULES[fitted_here] and res["fitted_here"] is fitted_here


def test_apparent_calibration_of_an_ml_logistic_fit_is_perfect():
    """ML score equations make intercept 0 and slope 1 on the fitting data (theory)."""
    d = pd.read_csv(reference_file("calibration", "hoslem_example_seed123.csv"))
    res = calibration_metrics(d["y"], d["fitted"])
    assert res["citl"] == pytest.approx(0, abs=1e-6)
    assert res["recalibration_intercept"] == pytest.approx(0, abs=1e-6)
    assert res["slope"] == pytest.approx(1, abs=1e-6)


def test_calibration_curves():
    d = pd.read_csv(reference_file("calibration", "hoslem_example_seed123.csv"))
    grouped = calibration_curve(d["y"], d["fitted"], bins=10)
    hl = hosmer_lemeshow(d["y"], d["fitted"])["table"]
    assert grouped["events"].tolist() == hl["observed"].tolist()
    assert grouped["predicted"].to_numpy() == pytest.approx(hl["expected"].to_numpy() / 50)
    assert ((grouped["observed_low"] <= grouped["observed"]) & (grouped["observed"] <= grouped["observed_high"])).all()
    smooth = lowess_calibration(d["y"], d["fitted"])
    assert len(smooth) == len(d) and smooth["predicted"].is_monotonic_increasing
    assert smooth["observed"].between(0, 1).all()


def test_risks_of_zero_and_one_stay_usable():
    res = calibration_metrics([0, 1, 0, 1, 1, 0], [0.0, 1.0, 0.3, 0.6, 0.4, 0.5])
    assert np.isfinite([res["intercept"], res["slope"], res["brier"]]).all()


def test_risk_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="probabilities"):
        calibration_metrics([0, 1], [0.2, 1.2])
