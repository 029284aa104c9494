"""Pooled development on several centres and internal-external cross-validation."""
from __future__ import annotations

import pytest

from core.analysis import run_analysis
from core.analysis_params import AnalysisParams
from core.multicentre import internal_external, pooled_cohort
from core.stats.meta import random_effects
from core.stats.simulate import simulate_cohort

SETTINGS = {"cv_folds": 5, "n_lambda": 30, "bootstrap": 0, "dca_bootstrap": 0, "workers": 1,
            "clinical_predictors": ("inr", "alb")}


@pytest.fixture(scope="module")
def centres():
    clinical, features = simulate_cohort(480, n_features=120, signal=2.0, seed=8)
    out = {}
    for i, name in enumerate("ABCD"):
        rows = slice(120 * i, 120 * (i + 1))
        clin, feats = clinical.iloc[rows], features.iloc[rows] * (1 + 0.1 * i)
        ids = [f"P{j:03d}" for j in range(120)]              # the same ids in every centre
        out[name] = (clin.set_axis(ids), feats.set_axis(ids))
    return out


def test_pooling_keeps_every_patient_and_names_clashing_ids(centres):
    clinical, features, centre = pooled_cohort(centres)
    assert len(clinical) == len(features) == 480 and clinical.index.is_unique
    assert clinical.index[0] == "A/P000" and centre.value_counts().to_dict() == {c: 120 for c in "ABCD"}
    assert features.loc["C/P005"].equals(centres["C"][1].loc["P005"])


def test_each_centre_left_out_is_validated_by_models_developed_on_the_others(centres):
    params = AnalysisParams(**SETTINGS, harmonise=True)
    result = internal_external(centres, params)
    assert sorted(result.per_centre["centre"].unique()) == list("ABCD")
    clinical, features, centre = pooled_cohort({c: centres[c] for c in "BCD"})
    direct = run_analysis(clinical, features, {"A": centres["A"]}, train_name="B+C+D", train_centres=centre,
                          params=params)
    ours = result.per_centre.set_index(["centre", "model"]).loc[("A", "combined"), "auc"]
    assert ours == pytest.approx(direct.metrics.set_index(["centre", "model"]).loc[("A", "combined"), "auc"])
    pooled = result.pooled.set_index(["model", "metric"]).loc[("combined", "calibration_slope")]
    part = result.per_centre[result.per_centre["model"] == "combined"]
    se = (part["calibration_slope_ci_high"] - part["calibration_slope_ci_low"]) / (2 * 1.959963984540054)
    assert pooled["estimate"] == pytest.approx(random_effects(part["calibration_slope"], se ** 2).estimate)
    auc = result.pooled.set_index(["model", "metric"]).loc[("combined", "auc")]
    assert auc["ci_low"] < auc["estimate"] < auc["ci_high"] and 0.5 < auc["estimate"] < 1


def test_two_centres_are_not_enough(centres):
    with pytest.raises(ValueError, match="three or more centres"):
        internal_external({c: centres[c] for c in "AB"}, AnalysisParams(**SETTINGS))
