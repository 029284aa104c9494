"""Bootstrap optimism of a fixed logistic model against rms::validate(lrm(...), B = 200) on
aSAH, replayed on the bootstrap samples validate drew (tests/stats/r/validate_lrm.R).

R computed the optimism twice: validate's own table, and by hand from the saved index sets
with validate's definitions (the two agree to 2e-8: lrm's convergence). Tolerance 1e-6.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from core.stats import fit_logistic, optimism_bootstrap
from tests.reference import reference_file

R = json.loads((Path(__file__).parent / "r" / "validate_lrm.json").read_text())
VALIDATE_NAMES = {"dxy": "Dxy", "recalibration_intercept": "Intercept", "calibration_slope": "Slope", "brier": "B"}


@pytest.fixture(scope="module")
def replayed():
    d = pd.read_csv(reference_file("proc", "aSAH.csv"))
    X, y = d[["age", "s100b", "ndka"]], (d["outcome"] == "Poor").astype(int).to_numpy()

    def fit(positions):
        f = fit_logistic(X.iloc[positions].reset_index(drop=True), y[positions], method="ml", profile=False)
        risk = expit(f.coef[0] + X.to_numpy() @ f.coef[1:])
        return lambda pos: {"fixed": risk[pos]}

    samples = np.array(R["indices"]) - 1                 # R's row numbers are 1-based
    return optimism_bootstrap(y, fit, samples=samples).set_index("metric")


def test_r_replayed_validates_own_samples():
    assert R["checks"]["indices_equal_validate_debug"] is True
    assert R["checks"]["by_hand_vs_validate_optimism_max_abs"] < 1e-7
    assert np.array(R["indices"]).shape == (R["B"], 113)


@pytest.mark.parametrize("metric", list(VALIDATE_NAMES))
def test_optimism_equals_rms_validate(replayed, metric):
    ref = R["validate"][VALIDATE_NAMES[metric]]
    row = replayed.loc[metric]
    assert row["n_boot"] == ref["n"] == 200 and row["n_failed"] == 0
    assert (row["apparent"], row["optimism"], row["corrected"]) == pytest.approx(
        (ref["index.orig"], ref["optimism"], ref["index.corrected"]), abs=1e-6)


@pytest.mark.parametrize("metric, name", [("auc", "AUC"), ("calibration_intercept", "CITL"), ("dxy", "Dxy"),
                                          ("recalibration_intercept", "Intercept"),
                                          ("calibration_slope", "Slope"), ("brier", "B")])
def test_optimism_equals_rs_computation_by_hand(replayed, metric, name):
    ref = R["by_hand"][name]
    row = replayed.loc[metric]
    assert (row["apparent"], row["optimism"], row["corrected"]) == pytest.approx(
        (ref["apparent"], ref["optimism"], ref["corrected"]), abs=1e-6)


def test_calibration_in_the_large_is_not_validates_intercept(replayed):
    citl, intercept = replayed.loc["calibration_intercept", "optimism"], R["validate"]["Intercept"]["optimism"]
    assert abs(citl - intercept) > 1e-2


def test_default_samples_are_seeded_and_unchanged():
    rng = np.random.default_rng(0)
    y = (rng.random(60) < 0.4).astype(int)
    risk = np.clip(y * 0.3 + rng.random(60) * 0.6, 0.01, 0.99)
    fixed = lambda idx: (lambda pos: {"m": risk[pos]})          # noqa: E731
    drawn = np.random.default_rng(5)
    samples = np.array([drawn.integers(0, 60, 60) for _ in range(25)])
    a = optimism_bootstrap(y, fixed, n_boot=25, seed=5)
    b = optimism_bootstrap(y, fixed, samples=samples)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("samples, message", [(np.zeros((3, 59), int), "shape"),
                                              (np.full((3, 60), 60), "positions 0..59"),
                                              (np.full((3, 60), 0.5), "integer")])
def test_bad_samples_are_clear_errors(samples, message):
    y = np.arange(60) % 2
    with pytest.raises(ValueError, match=message):
        optimism_bootstrap(y, lambda idx: (lambda pos: {"m": np.full(len(pos), 0.5)}), samples=samples)
