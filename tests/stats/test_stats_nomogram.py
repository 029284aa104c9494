"""Nomogram scales (rms::nomogram conventions) and bootstrap optimism."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from core.stats import Nomogram, optimism_bootstrap
from core.stats.calibration import quick_performance
from core.stats.logistic import fit_logistic
from core.stats.nomogram import nice_ticks


@pytest.fixture
def nomogram():
    # lp = -4 + 2.0 * inr - 0.1 * alb + 0.7 * [child = B], inr in [0.8, 2.0], alb in [25, 50]
    return Nomogram(-4.0, {"inr": (2.0, 0.8, 2.0), "alb": (-0.1, 25.0, 50.0)}, {"child": {"A": 0.0, "B": 0.7}})


def test_largest_range_gets_100_points(nomogram):
    axes = {a.name: a for a in nomogram.axes}
    assert max(axes["alb"].points) == pytest.approx(100)          # |-0.1| * 25 = 2.5 > 2.4 > 0.7
    assert min(axes["alb"].points) == pytest.approx(0)
    assert axes["inr"].points[-1] == pytest.approx(100 * 2.4 / 2.5)
    assert axes["child"].points == pytest.approx((0.0, 28.0))
    assert axes["alb"].values[0] == 25 and axes["alb"].values[-1] == 50


def test_points_sum_to_total_whose_probability_is_the_models(nomogram):
    values = {"inr": 1.3, "alb": 33.0, "child": "B"}
    pts = nomogram.points(values)
    assert pts["total_points"] == pytest.approx(pts["inr"] + pts["alb"] + pts["child"])
    lp = -4.0 + 2.0 * 1.3 - 0.1 * 33.0 + 0.7
    assert pts["linear_predictor"] == pytest.approx(lp)
    assert pts["probability"] == pytest.approx(expit(lp)) == pytest.approx(nomogram.probability(pts["total_points"]))
    for tick in nomogram.probability_scale():
        assert nomogram.probability(tick["total_points"]) == pytest.approx(tick["probability"])
    with pytest.raises(ValueError, match="alb"):
        nomogram.points({"inr": 1.3, "child": "A"})
    assert Nomogram.from_dict(nomogram.to_dict()).points(values) == pytest.approx(pts)


def test_nice_ticks():
    assert nice_ticks(0.83, 2.04) == [0.83, 1.0, 1.25, 1.5, 1.75, 2.0, 2.04]
    assert nice_ticks(0, 100, 6) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_optimism_is_zero_for_a_model_that_ignores_the_data():
    rng = np.random.default_rng(0)
    risk = expit(rng.normal(-1, 1, 300))
    y = (rng.random(300) < risk).astype(int)
    res = optimism_bootstrap(y, lambda idx: (lambda pos: {"fixed": risk[pos]}), n_boot=100, seed=1)
    assert res["optimism"].abs().max() < 0.05           # resampling noise only: nothing is refitted
    apparent = quick_performance(y, risk)
    assert res.set_index("metric")["apparent"].to_dict() == pytest.approx(apparent)


def test_refitting_on_noise_shows_optimism():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 8)), columns=[f"x{i}" for i in range(8)])
    y = (rng.random(100) < 0.4).astype(int)

    def fit(idx):
        f = fit_logistic(X.iloc[idx].reset_index(drop=True), y[idx], method="ml")
        risk = expit(f.coef[0] + X.to_numpy() @ f.coef[1:])
        return lambda pos: {"noise": risk[pos]}

    res = optimism_bootstrap(y, fit, n_boot=40, seed=0).set_index("metric")
    assert res.loc["auc", "optimism"] > 0.03
    assert res.loc["calibration_slope", "corrected"] < 1
    assert res.loc["auc", "corrected"] == pytest.approx(res.loc["auc", "apparent"] - res.loc["auc", "optimism"])
    assert res["n_boot"].min() == 40
