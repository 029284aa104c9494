"""The public functions of core.stats: signatures, return keys and input validation."""
import inspect

import numpy as np
import pandas as pd
import pytest

from core.stats import auc_delong, calibration_metrics, decision_curve, delong_test, hosmer_lemeshow

Y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 0])
RISK = np.array([0.1, 0.8, 0.3, 0.6, 0.7, 0.2, 0.4, 0.9, 0.35, 0.15])


def test_signatures_and_return_keys():
    assert list(inspect.signature(auc_delong).parameters)[:2] == ["y", "score"]
    assert list(inspect.signature(delong_test).parameters) == ["y", "score_a", "score_b"]
    assert list(inspect.signature(decision_curve).parameters)[:3] == ["y", "risk", "thresholds"]
    assert inspect.signature(hosmer_lemeshow).parameters["groups"].default == 10
    assert list(inspect.signature(calibration_metrics).parameters)[:2] == ["y", "risk"]
    assert {"auc", "var", "ci_low", "ci_high"} <= set(auc_delong(Y, RISK))
    assert {"z", "p", "auc_a", "auc_b"} <= set(delong_test(Y, RISK, RISK[::-1]))
    curve = decision_curve(Y, RISK, [0.1, 0.5])
    assert isinstance(curve, pd.DataFrame)
    assert {"threshold", "net_benefit", "treat_all", "treat_none"} <= set(curve.columns)
    assert {"chi2", "df", "p"} <= set(hosmer_lemeshow(Y, RISK, groups=3))
    assert {"intercept", "slope", "brier"} <= set(calibration_metrics(Y, RISK))


CALLS = {
    "auc_delong": lambda y, r: auc_delong(y, r),
    "delong_test": lambda y, r: delong_test(y, r, r),
    "decision_curve": lambda y, r: decision_curve(y, r, [0.2]),
    "hosmer_lemeshow": lambda y, r: hosmer_lemeshow(y, r, groups=3),
    "calibration_metrics": lambda y, r: calibration_metrics(y, r),
}


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("y, risk, message", [
    (Y[:-1], RISK, "length mismatch"),
    (np.where(np.arange(10) == 3, np.nan, Y), RISK, "missing"),
    (Y, np.where(np.arange(10) == 3, np.nan, RISK), "missing"),
    (np.ones(10), RISK, "one class"),
    (np.where(Y == 1, 2, 0), RISK, "0/1"),
    (Y.reshape(2, 5), RISK, "1-dimensional"),
])
def test_inputs_are_validated(name, y, risk, message):
    with pytest.raises(ValueError, match=message):
        CALLS[name](y, risk)


def test_boolean_and_series_inputs_are_accepted():
    res = auc_delong(pd.Series(Y.astype(bool)), pd.Series(RISK))
    assert res["auc"] == pytest.approx(auc_delong(Y, RISK)["auc"])
