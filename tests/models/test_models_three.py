"""ThreeModels: clinical, radiomics and combined models fitted on training data only."""
import json

import numpy as np
import pandas as pd
import pytest

from core.models import ThreeModels
from core.stats import RadiomicsSelector
from core.stats.roc import youden_cutoff


@pytest.fixture(scope="module")
def fitted(small_cohort):
    clin, feats, _, _ = small_cohort
    selector = RadiomicsSelector(cv_folds=5, n_lambda=30)
    return ThreeModels(selector=selector).fit(clin, feats, predictors=["inr", "alb"])


def test_models_and_predictions(fitted, small_cohort):
    clin, feats, vclin, vfeats = small_cohort
    assert set(fitted.models_) == {"clinical", "radiomics", "combined"}
    assert fitted.models_["combined"].feature_names_ == ["inr", "alb", "radscore"]
    pred = fitted.predict(vclin, vfeats)
    assert list(pred.columns) == ["radscore", "clinical", "radiomics", "combined"]
    assert pred.index.equals(vclin.index) and pred.notna().all().all()
    expected = fitted.models_["clinical"].predict_proba(vclin)
    assert pred["clinical"].to_numpy() == pytest.approx(expected.to_numpy())
    assert pred["radscore"].to_numpy() == pytest.approx(fitted.selector_.radscore(vfeats).to_numpy())


def test_cutoffs_are_training_youden(fitted, small_cohort):
    clin, feats, _, _ = small_cohort
    train = fitted.predict(clin, feats)
    for name in ("clinical", "radiomics", "combined"):
        assert fitted.cutoffs_[name] == youden_cutoff(clin["ptlf"], train[name])["cutoff"]


def test_missing_inputs_give_nan_risk(fitted, small_cohort):
    _, _, vclin, vfeats = small_cohort
    clin = vclin.copy()
    clin.loc[clin.index[0], "inr"] = np.nan
    pred = fitted.predict(clin, vfeats.drop(index=vclin.index[1]))
    assert np.isnan(pred.loc[clin.index[0], ["clinical", "combined"]]).all()
    assert pred.loc[clin.index[0], "radiomics"] > 0
    assert np.isnan(pred.loc[clin.index[1], ["radscore", "radiomics", "combined"]]).all()
    assert pred.iloc[2:].notna().all().all()


def test_json_round_trip_predicts_identically(fitted, small_cohort):
    _, _, vclin, vfeats = small_cohort
    restored = ThreeModels.from_dict(json.loads(json.dumps(fitted.to_dict(), allow_nan=False)))
    pd.testing.assert_frame_equal(restored.predict(vclin, vfeats), fitted.predict(vclin, vfeats), rtol=1e-12)
    assert restored.cutoffs_ == fitted.cutoffs_


def test_nomogram_of_the_combined_model(fitted, small_cohort):
    _, _, vclin, vfeats = small_cohort
    pred = fitted.predict(vclin, vfeats)
    pid = vclin.index[0]
    pts = fitted.nomogram_.points({"inr": vclin.loc[pid, "inr"], "alb": vclin.loc[pid, "alb"],
                                   "radscore": pred.loc[pid, "radscore"]})
    assert pts["probability"] == pytest.approx(pred.loc[pid, "combined"], rel=1e-10)
