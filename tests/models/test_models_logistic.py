"""LogisticModel against statsmodels (formula Logit with categorical predictors)."""
import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.exceptions import NotFittedError

from core.models import LogisticModel
from tests.reference import reference_file

PREDICTORS = ["ter_pos", "preafp", "prehcg", "sqpost", "reduc10"]


@pytest.fixture(scope="module")
def val_log_reg_mod():
    rdata = pd.read_csv(reference_file("calibration", "ValLogRegMod_rdata.csv")).set_index("patkey")
    vdata = pd.read_csv(reference_file("calibration", "ValLogRegMod_vdata.csv")).set_index("patkey")
    return rdata, vdata


@pytest.fixture(scope="module")
def model(val_log_reg_mod):
    return LogisticModel().fit(val_log_reg_mod[0], "tum_res", PREDICTORS)


def test_fit_matches_statsmodels(val_log_reg_mod, model):
    rdata, vdata = val_log_reg_mod
    ref = smf.logit("tum_res ~ C(ter_pos) + C(preafp) + C(prehcg) + sqpost + reduc10", data=rdata).fit(disp=0)
    assert model.feature_names_ == ["ter_pos[Yes]", "preafp[Yes]", "prehcg[Yes]", "sqpost", "reduc10"]
    assert model.intercept_ == pytest.approx(ref.params.iloc[0], rel=1e-7)
    assert model.coef_.to_numpy() == pytest.approx(ref.params.iloc[1:].to_numpy(), rel=1e-7)
    assert model.cov_.to_numpy() == pytest.approx(ref.cov_params().to_numpy(), rel=1e-5)
    table = LogisticModel(profile=False).fit(rdata, "tum_res", PREDICTORS).summary   # Wald, as statsmodels
    ci = ref.conf_int().to_numpy()
    assert table["or_low"].to_numpy() == pytest.approx(np.exp(ci[:, 0]), rel=1e-5)
    assert table["or_high"].to_numpy() == pytest.approx(np.exp(ci[:, 1]), rel=1e-5)
    assert model.predict_proba(vdata).to_numpy() == pytest.approx(ref.predict(vdata).to_numpy(), rel=1e-7)
    assert (model.n_obs_, model.n_events_, model.method_) == (len(rdata), int(rdata.tum_res.sum()), "ml")


def test_prediction_interval_brackets_the_risk(val_log_reg_mod, model):
    pi = model.predict_interval(val_log_reg_mod[1])
    assert ((pi["risk_low"] < pi["risk"]) & (pi["risk"] < pi["risk_high"])).all()


def test_clear_errors_for_missing_inputs(val_log_reg_mod, model):
    _, vdata = val_log_reg_mod
    with pytest.raises(NotFittedError):
        LogisticModel().predict_proba(vdata)
    with pytest.raises(ValueError, match="sqpost"):
        model.predict_proba(vdata.drop(columns="sqpost"))
    gap = vdata.copy()
    gap.loc[gap.index[2], "reduc10"] = np.nan
    with pytest.raises(ValueError, match=rf"reduc10: \[{gap.index[2]}\]"):
        model.predict_proba(gap)
    assert np.isnan(model.predict_proba(gap, missing="nan").iloc[2])
    odd = vdata.copy()
    odd.loc[odd.index[0], "preafp"] = "Maybe"
    with pytest.raises(ValueError, match="not seen in training"):
        model.predict_proba(odd)


def test_complete_case_fit_reports_excluded_patients(val_log_reg_mod):
    rdata, _ = val_log_reg_mod
    gap = rdata.copy()
    gap.loc[gap.index[:4], "sqpost"] = np.nan
    m = LogisticModel().fit(gap, "tum_res", PREDICTORS)
    assert m.excluded_ == gap.index[:4].tolist() and m.n_obs_ == len(rdata) - 4
    assert any("excluded" in w for w in m.warnings_)


def test_json_round_trip(val_log_reg_mod, model):
    _, vdata = val_log_reg_mod
    restored = LogisticModel.from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
    assert restored.predict_proba(vdata).to_numpy() == pytest.approx(model.predict_proba(vdata).to_numpy(), rel=1e-12)
    pd.testing.assert_frame_equal(restored.predict_interval(vdata), model.predict_interval(vdata))


def test_nomogram_points_reproduce_the_predicted_risk(val_log_reg_mod, model):
    rdata, vdata = val_log_reg_mod
    nomogram = model.nomogram(rdata)
    risk = model.predict_proba(vdata)
    for pid in vdata.index[:5]:
        pts = nomogram.points(vdata.loc[pid, PREDICTORS].to_dict())
        assert pts["total_points"] == pytest.approx(sum(pts[p] for p in PREDICTORS))
        assert pts["probability"] == pytest.approx(risk[pid], rel=1e-10)
    assert max(max(a.points) for a in nomogram.axes) == pytest.approx(100)
