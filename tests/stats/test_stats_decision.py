"""Decision curves against R's dcurves results (MSKCC-Epi-Bio/dcurves benchmark tables).

dcurves at threshold 0 calls a patient positive only when risk > 0 (it nudges 0 up by
machine epsilon); we apply risk >= threshold everywhere, so threshold 0 is left out here.
"""
import pandas as pd
import pytest
import statsmodels.api as sm

from core.stats import decision_curve
from core.stats.decision import decision_curve_bands
from tests.reference import reference_file


@pytest.fixture(scope="module")
def df_binary():
    d = pd.read_csv(reference_file("dcurves", "df_binary.csv"))
    d["cancer"] = d["cancer"].astype(int)
    return d


def _r_table(name, variable):
    r = pd.read_csv(reference_file("dcurves", name))
    model = r[(r["variable"] == variable) & (r["threshold"] > 0)]
    treat_all = r[(r["variable"] == "all") & (r["threshold"] > 0)]
    return model, treat_all


def test_readme_values_at_threshold_025(df_binary):
    res = decision_curve(df_binary["cancer"], df_binary["cancerpredmarker"], [0.25]).iloc[0]
    assert res["net_benefit"] == pytest.approx(0.0640000, abs=1e-7)
    assert res["treat_all"] == pytest.approx(-0.1466667, abs=1e-7)
    assert res["treat_none"] == 0


@pytest.mark.parametrize("table", ["r_case1_results.csv", "r_dca_famhistory.csv"])
def test_binary_predictor_matches_dcurves_at_every_threshold(df_binary, table):
    model, treat_all = _r_table(table, "famhistory")
    ours = decision_curve(df_binary["cancer"], df_binary["famhistory"], model["threshold"])
    assert ours["net_benefit"].to_numpy() == pytest.approx(model["net_benefit"].to_numpy(), abs=1e-12)
    assert ours["treat_all"].to_numpy() == pytest.approx(treat_all["net_benefit"].to_numpy(), abs=1e-12)
    assert ours["tp_rate"].to_numpy() == pytest.approx(model["tp_rate"].to_numpy(), abs=1e-12)


@pytest.mark.parametrize("table, variable, harm", [
    ("r_simple_binary_dca_result_df.csv", "age", 0.0),      # dca(cancer ~ age, as_probability = "age")
    ("r_case3_results.csv", "marker", 0.0333),              # ... plus harm = 0.0333, thresholds 0-0.35
])
def test_converted_predictor_and_harm_match_dcurves(df_binary, table, variable, harm):
    model, _ = _r_table(table, variable)
    # dcurves' as_probability: risk from a logistic regression of the outcome on the variable
    fit = sm.Logit(df_binary["cancer"], sm.add_constant(df_binary[[variable]])).fit(disp=0)
    ours = decision_curve(df_binary["cancer"], fit.predict(), model["threshold"], harm=harm)
    assert ours["net_benefit"].to_numpy() == pytest.approx(model["net_benefit"].to_numpy(), abs=1e-10)


def test_bands_bracket_the_curve_and_are_seeded(df_binary):
    y, risk = df_binary["cancer"], df_binary["cancerpredmarker"]
    a = decision_curve_bands(y, risk, [0.1, 0.2, 0.3], n_boot=50, seed=3)
    b = decision_curve_bands(y, risk, [0.1, 0.2, 0.3], n_boot=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["net_benefit_low"] <= a["net_benefit"]).all() and (a["net_benefit"] <= a["net_benefit_high"]).all()


def test_default_thresholds_and_validation():
    res = decision_curve([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.4])
    assert res["threshold"].iloc[0] == 0.01 and res["threshold"].iloc[-1] == 0.99 and len(res) == 99
    with pytest.raises(ValueError, match="thresholds"):
        decision_curve([0, 1], [0.1, 0.8], [1.0])
    with pytest.raises(ValueError, match="length mismatch"):
        decision_curve([0, 1, 1], [0.1, 0.8])
