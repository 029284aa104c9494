"""ICC against Shrout & Fleiss (1979), Table 2 data (6 targets x 4 judges), and the values
R's psych::ICC prints for that data (its documented example)."""
import numpy as np
import pandas as pd
import pytest

from core.stats import icc, icc_features

SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_mean_squares_of_shrout_fleiss_table_2():
    res = icc(SHROUT_FLEISS)
    assert (round(res["bms"], 2), round(res["wms"], 2), round(res["jms"], 2), round(res["ems"], 2)) == \
        (11.24, 6.26, 32.49, 1.02)


@pytest.mark.parametrize("kind, value, f, low, high, p", [
    ("ICC(1,1)", 0.17, 1.79, -0.133, 0.72, 0.16477),
    ("ICC(2,1)", 0.29, 11.03, 0.019, 0.76, 0.00013),
    ("ICC(3,1)", 0.71, 11.03, 0.342, 0.95, 0.00013),
])
def test_icc_values_match_shrout_fleiss_and_psych(kind, value, f, low, high, p):
    res = icc(SHROUT_FLEISS, kind)
    assert round(res["icc"], 2) == value
    assert round(res["F"], 2) == f
    assert res["ci_low"] == pytest.approx(low, abs=5e-4 if abs(low) < 0.5 else 5e-3)
    assert round(res["ci_high"], 2) == high
    assert res["p"] == pytest.approx(p, abs=5e-6)


def test_icc_features_is_the_two_measurement_icc_per_column():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(30, 3))
    first = pd.DataFrame(truth + 0.1 * rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    second = pd.DataFrame(truth + [[0.1, 1.0, 3.0]] * rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    second.loc[5, "c"] = np.nan
    res = icc_features(first, second, "ICC(3,1)")
    for col in ("a", "b"):
        assert res[col] == pytest.approx(icc(np.column_stack([first[col], second[col]]), "ICC(3,1)")["icc"])
    assert res["a"] > 0.9 > res["b"] and np.isnan(res["c"])


def test_icc_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        icc(SHROUT_FLEISS, "ICC(9,9)")
    with pytest.raises(ValueError, match="missing"):
        icc([[1, 2], [np.nan, 3]])
