"""The whole analysis from DataFrames (core.analysis.run_analysis) on a synthetic study."""
import json

import numpy as np
import pytest

from core.analysis import AnalysisParams, run_analysis
from core.stats._json import jsonable
from core.stats.simulate import simulate_cohort

FAST = {"cv_folds": 5, "n_lambda": 30, "bootstrap": 10, "dca_bootstrap": 5}


@pytest.fixture(scope="module")
def study():
    clinical, features = simulate_cohort(210, n_features=300, seed=11)
    train = (clinical.iloc[:147], features.iloc[:147])
    vclin, vfeat = clinical.iloc[147:].copy(), features.iloc[147:]
    vclin.loc[vclin.index[0], "inr"] = np.nan                # lacks a clinical predictor
    vfeat = vfeat.drop(index=vclin.index[1])                 # lacks radiomics features
    return train, (vclin, vfeat)


@pytest.fixture(scope="module")
def result(study):
    (clin, feat), validation = study
    return run_analysis(clin, feat, {"CentreB": validation}, train_name="CentreA", **FAST)


@pytest.fixture(scope="module")
def as_dict(result):
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


def test_result_has_the_documented_keys(as_dict):
    d = as_dict
    assert {"variable", "p", "test"} <= set(d["clinical"]["univariate"][0])
    assert {"variable", "beta", "or", "or_low", "or_high", "p"} <= set(d["clinical"]["multivariate"][0])
    assert {"inr", "alb"} <= set(d["clinical"]["independent_predictors"])
    assert list(d["radiomics"]["counts"])[:3] == ["input", "complete", "non_constant"]
    assert {"feature", "coef"} <= set(d["radiomics"]["selected"][0])
    assert ":" in d["radiomics"]["selected"][0]["feature"]
    assert d["radiomics"]["radscore_formula"].startswith("Radscore = ")
    for name in ("clinical", "radiomics", "combined"):
        model = d["models"][name]
        assert {"variable", "beta", "p"} <= set(model["coefficients"][0])
        for centre in ("CentreA", "CentreB"):
            metrics = model["metrics"][centre]
            assert {"auc", "auc_ci_low", "auc_ci_high", "sensitivity", "specificity", "brier",
                    "calibration_intercept", "calibration_slope", "hl_p", "n_excluded"} <= set(metrics)
        assert {"auc", "calibration_slope", "calibration_intercept", "brier"} <= set(model["optimism"])
        assert "auc_corrected" in model["metrics"]["CentreA"]
    for centre in ("CentreA", "CentreB"):
        comparison = d["comparisons"][centre]
        assert {"z", "p"} <= set(comparison["combined_vs_clinical"]) and "combined_vs_radiomics" in comparison
        curves = d["curves"][centre]
        assert {"roc", "decision", "calibration"} <= set(curves)
        assert {"threshold", "treat_all", "treat_none", "combined", "combined_low"} <= set(curves["decision"][0])
        assert {"grouped", "smoothed"} <= set(curves["calibration"]["combined"])
    assert {"patient_id", "ptlf", "radscore", "combined"} <= set(d["predictions"]["CentreB"][0])
    assert d["nomogram"]["axes"] and d["fitted"]["models"]["combined"]["coefficients"]


def test_missing_inputs_are_excluded_with_counts(result, study):
    _, (vclin, _) = study
    m = result.metrics.set_index(["centre", "model"])
    assert m.loc[("CentreB", "clinical"), "n_excluded"] == 1             # no INR
    assert m.loc[("CentreB", "radiomics"), "n_excluded"] == 1            # no features
    assert m.loc[("CentreB", "combined"), "n_excluded"] == 2
    assert m.loc[("CentreB", "combined"), "n"] == len(vclin) - 2
    pred = result.predictions["CentreB"]
    assert pred.loc[vclin.index[0], ["clinical", "combined"]].isna().all()
    comp = result.comparisons.set_index(["centre", "comparison"])
    assert comp.loc[("CentreB", "combined_vs_clinical"), "n"] == len(vclin) - 2   # same patients for both


def test_metrics_agree_with_the_stats_functions(result, study):
    from core.stats import auc_delong, calibration_metrics
    _, (vclin, _) = study
    pred = result.predictions["CentreB"].dropna()
    row = result.metrics.set_index(["centre", "model"]).loc[("CentreB", "combined")]
    assert row["auc"] == pytest.approx(auc_delong(pred["ptlf"], pred["combined"])["auc"])
    assert row["calibration_slope"] == pytest.approx(calibration_metrics(pred["ptlf"], pred["combined"])["slope"])
    cutoff = result.models.cutoffs_["combined"]
    positive = pred["combined"] >= cutoff
    assert row["sensitivity"] == pytest.approx(positive[pred["ptlf"] == 1].mean())


def _fitted_state(res) -> dict:
    sel = res.models.selector_
    return jsonable({
        "coefficients": {n: (m.intercept_, m.coef_.to_dict()) for n, m in res.models.models_.items()},
        "means": sel.means_.to_dict(), "sds": sel.sds_.to_dict(), "selected": sel.selected_,
        "radscore": (sel.intercept_, sel.coef_.to_dict()), "cutoffs": res.models.cutoffs_,
        "univariate": res.univariate.summary.to_dict(), "predictors": res.independent_predictors,
        "optimism": res.optimism.to_dict(), "nomogram": res.nomogram.to_dict(),
        "training_metrics": res.metrics[res.metrics.centre == "CentreA"].to_dict(),
    })


def test_no_fitted_step_sees_the_validation_cohort(result, study):
    """Replace every value of the validation centre: nothing fitted may change, its metrics must."""
    (clin, feat), (vclin, vfeat) = study
    rng = np.random.default_rng(99)
    other_clin = vclin.copy()
    other_clin["ptlf"] = rng.permutation(vclin["ptlf"].to_numpy())
    for col in ("age", "inr", "alb", "bilirubin", "tumor_size_cm"):
        other_clin[col] = vclin[col].to_numpy() * rng.uniform(0.5, 1.5, len(vclin))
    other_clin["sex"] = rng.choice(["female", "male"], len(vclin))
    other_clin["child_pugh"] = rng.choice(["A", "B"], len(vclin))
    other_feat = vfeat * rng.uniform(0.2, 3.0, vfeat.shape) + rng.normal(size=vfeat.shape)
    changed = run_analysis(clin, feat, {"CentreB": (other_clin, other_feat)}, train_name="CentreA", **FAST)
    assert _fitted_state(changed) == _fitted_state(result)
    before = result.metrics.set_index(["centre", "model"]).loc["CentreB"]
    after = changed.metrics.set_index(["centre", "model"]).loc["CentreB"]
    assert not np.allclose(before["auc"], after["auc"])


def test_parameters_and_overrides(result):
    assert result.params.top_k == 10 and result.params.cv_folds == 5
    assert AnalysisParams().lambda_choice == "min" and AnalysisParams().spearman == 0.8


def test_thin_signals_fit_what_can_be_fitted(study):
    (clin, feat), validation = study
    no_clinical = run_analysis(clin, feat, {"CentreB": validation}, clinical_p=1e-300, **FAST)
    assert set(no_clinical.models.models_) == {"radiomics"}
    assert set(no_clinical.models.skipped_) == {"clinical", "combined"}
    assert any("no clinical variable has univariate P < 1e-300" in w for w in no_clinical.warnings)
    assert set(no_clinical.metrics["model"]) == {"radiomics"}
    d = json.loads(json.dumps(no_clinical.to_dict(), allow_nan=False))
    assert set(d["models"]) == {"radiomics"} and d["nomogram"] is None
    no_features = run_analysis(clin, feat, {"CentreB": validation}, univariate_p=1e-300, **FAST)
    assert set(no_features.models.models_) == {"clinical"}
    assert "no feature left after step 'univariate'" in no_features.models.skipped_["radiomics"]
    assert np.isfinite(no_features.optimism.set_index(["model", "metric"]).loc[("clinical", "auc"), "corrected"])


def test_clear_errors(study):
    (clin, feat), validation = study
    one_event = clin.assign(ptlf=0)
    one_event.loc[one_event.index[0], "ptlf"] = 1
    with pytest.raises(ValueError, match="has 1 event"):
        run_analysis(one_event, feat, **FAST)
    with pytest.raises(ValueError, match="training cohort's name"):
        run_analysis(clin, feat, {"training": validation}, **FAST)
    with pytest.raises(ValueError, match="bootstrap_refit"):
        run_analysis(clin, feat, bootstrap_refit="everything")


def test_full_bootstrap_reruns_the_selection(study):
    (clin, feat), _ = study
    res = run_analysis(clin, feat, cv_folds=3, n_lambda=15, bootstrap=3, bootstrap_refit="full")
    table = res.optimism.set_index(["model", "metric"])
    assert table["n_boot"].max() + table["n_failed"].max() == 3
    assert np.isfinite(table.loc[("combined", "auc"), "corrected"])


def test_outcome_must_be_binary(study):
    (clin, feat), (vclin, vfeat) = study
    bad = vclin.assign(ptlf=vclin["ptlf"].replace({1: 2}))
    with pytest.raises(ValueError, match="must be 0/1"):
        run_analysis(clin, feat, {"CentreB": (bad, vfeat)}, **FAST)
