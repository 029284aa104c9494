"""ComBat inside the analysis: a scanner shift at the validating centre that breaks calibration is
repaired, the validating centre's outcomes are never read, and the bootstrap refits it."""
from __future__ import annotations

import numpy as np
import pytest

from core.analysis import run_analysis
from core.stats.simulate import simulate_cohort

SETTINGS = {"cv_folds": 5, "n_lambda": 30, "bootstrap": 0, "dca_bootstrap": 0, "workers": 1,
            "clinical_predictors": ("inr", "alb")}


@pytest.fixture(scope="module")
def shifted():
    clinical, features = simulate_cohort(900, n_features=120, signal=2.0, seed=4)
    train = (clinical.iloc[:300], features.iloc[:300])
    vclin, vfeat = clinical.iloc[300:], features.iloc[300:].copy()
    rng = np.random.default_rng(1)
    sd = features.iloc[:300].std()
    vfeat = vfeat * rng.uniform(0.6, 1.6, vfeat.shape[1]) + sd.to_numpy() * rng.normal(0.8, 0.4, vfeat.shape[1])
    return train, (vclin, vfeat)


def _validation(result, model="radiomics"):
    return result.metrics.set_index(["centre", "model"]).loc[("B", model)]


def test_a_scanner_shift_is_repaired(shifted):
    (clin, feats), validation = shifted
    raw = run_analysis(clin, feats, {"B": validation}, train_name="A", **SETTINGS)
    fixed = run_analysis(clin, feats, {"B": validation}, train_name="A", harmonise=True, **SETTINGS)
    before, after = _validation(raw), _validation(fixed)
    assert abs(before["calibration_intercept"]) > 1.0, "the shift breaks calibration-in-the-large"
    assert abs(after["calibration_intercept"]) < 0.3 and abs(after["calibration_slope"] - 1) < 0.3
    assert after["auc"] > before["auc"] - 0.02
    d = fixed.to_dict()
    assert d["harmonisation"]["reference"] == "A" and len(d["harmonisation"]["shown"]) == 6
    shifts = d["harmonisation"]["shifts"]
    row = max(shifts, key=lambda r: abs(r["smd_before"]))
    assert abs(row["smd_after"]) < 0.2 * abs(row["smd_before"])


def test_the_validating_centres_outcomes_are_never_read(shifted):
    (clin, feats), (vclin, vfeat) = shifted
    first = run_analysis(clin, feats, {"B": (vclin, vfeat)}, train_name="A", harmonise=True, **SETTINGS)
    scrambled = vclin.assign(ptlf=np.random.default_rng(3).permutation(vclin["ptlf"].to_numpy()))
    second = run_analysis(clin, feats, {"B": (scrambled, vfeat)}, train_name="A", harmonise=True, **SETTINGS)
    risks = [r.predictions["B"][["radscore", "clinical", "radiomics", "combined"]] for r in (first, second)]
    assert risks[0].equals(risks[1])


def test_pooled_centres_refit_combat_in_every_replicate(shifted):
    (clin, feats), (vclin, vfeat) = shifted
    pooled_clin, pooled_feats = clin.iloc[:200], feats.iloc[:200]
    second = vfeat.iloc[:150]
    import pandas as pd
    clinical = pd.concat([pooled_clin, vclin.iloc[:150]])
    features = pd.concat([pooled_feats, second])
    centres = pd.Series(["A"] * 200 + ["C"] * 150, index=features.index)
    result = run_analysis(clinical, features, {"B": (vclin.iloc[150:], vfeat.iloc[150:])}, train_name="A+C",
                          train_centres=centres, harmonise=True, **{**SETTINGS, "bootstrap": 3})
    assert result.to_dict()["harmonisation"]["reference"] == "A"
    table = result.optimism.set_index(["model", "metric"])
    assert table.loc[("radiomics", "auc"), "n_boot"] == 3
