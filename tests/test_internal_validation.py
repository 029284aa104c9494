"""Internal validation against a known truth: simulated cohorts whose models are also scored on a
large independent sample from the same simulation, so the AUC a model really has is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.analysis import run_analysis
from core.analysis_params import AnalysisParams
from core.internal_validation import bootstrap_validation
from core.stats.roc import auc_delong
from core.stats.simulate import simulate_cohort

N_TRAIN, N_LARGE, FEATURES = 110, 4000, 240
SETTINGS = {"cv_folds": 5, "n_lambda": 30, "bootstrap": 0, "dca_bootstrap": 0, "workers": 1,
            "clinical_predictors": ("inr", "alb")}


def _cohort(seed: int, signal: float = 1.3):
    clinical, features = simulate_cohort(N_TRAIN + N_LARGE, n_features=FEATURES, signal=signal, seed=seed)
    return (clinical.iloc[:N_TRAIN], features.iloc[:N_TRAIN]), (clinical.iloc[N_TRAIN:], features.iloc[N_TRAIN:])


@pytest.mark.slow
def test_the_full_bootstrap_is_closer_to_the_truth_than_the_final_only_one():
    """Averaged over simulated cohorts, repeating every fitted step in the bootstrap corrects the
    apparent AUC to nearer the AUC on a large independent sample than refitting only the final
    models with the selected features held fixed (which misses the selection's optimism)."""
    errors = {"full": [], "final": []}
    for seed in range(4):
        (clin, feats), (big_clin, big_feats) = _cohort(seed)
        result = run_analysis(clin, feats, seed=seed, **SETTINGS)
        pred = result.models.predict(big_clin, big_feats)
        truth = auc_delong(big_clin["ptlf"].to_numpy(), pred["radiomics"].to_numpy())["auc"]
        for mode in errors:
            params = AnalysisParams(**{**SETTINGS, "bootstrap": 20, "bootstrap_refit": mode, "seed": seed})
            boot = bootstrap_validation(result.models, clin, feats, params)
            row = boot.optimism.set_index(["model", "metric"]).loc[("radiomics", "auc")]
            errors[mode].append(row["corrected"] - truth)
    full, final = np.abs(errors["full"]).mean(), np.abs(errors["final"]).mean()
    assert full < final, f"|corrected - true AUC|: full {errors['full']}, final {errors['final']}"
    assert np.mean(errors["final"]) > 0, "the final-only bootstrap should flatter the model"


def test_a_replicate_that_selects_nothing_falls_back_to_the_intercept(monkeypatch):
    """When the procedure builds no Radscore on a draw, the replicate scores the intercept-only
    model (AUC 0.5 on the draw and on everyone: no optimism), and says so."""
    (clin, feats), _ = _cohort(5, signal=2.5)
    result = run_analysis(clin, feats, seed=1, **SETTINGS)
    params = AnalysisParams(**{**SETTINGS, "bootstrap": 4, "univariate_p": 1e-300})
    boot = bootstrap_validation(result.models, clin, feats, params)
    assert boot.fallbacks.get("radiomics") == boot.n_boot == 4
    row = boot.optimism.set_index(["model", "metric"]).loc[("radiomics", "auc")]
    assert row["optimism"] == pytest.approx(0.0)
    assert boot.stability["frequency"].eq(0).all() and set(boot.stability["feature"]) == set(
        result.models.selector_.selected_)


def test_stability_counts_each_replicates_own_selection():
    (clin, feats), _ = _cohort(6, signal=2.5)
    result = run_analysis(clin, feats, seed=2, **SETTINGS)
    params = AnalysisParams(**{**SETTINGS, "bootstrap": 6})
    boot = bootstrap_validation(result.models, clin, feats, params)
    table = boot.stability.set_index("feature")
    assert table["frequency"].between(0, 1).all()
    assert set(result.models.selector_.selected_) <= set(table.index[table["in_radscore"]])
    # each replicate selects at most top_k features: the frequencies sum to at most top_k
    assert table["frequency"].sum() <= params.top_k + 1e-9
    variants = boot.variants.set_index(["variant", "metric"])
    assert ("refit", "calibration_slope") in variants.index
    final = bootstrap_validation(result.models, clin, feats, AnalysisParams(**{**SETTINGS, "bootstrap": 3,
                                                                                "bootstrap_refit": "final"}))
    assert final.stability.empty and final.mode == "final"
    assert isinstance(boot.optimism, pd.DataFrame) and boot.mode == "full"
