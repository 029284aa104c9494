"""ROC/AUC/DeLong against pROC's published values on aSAH (pROC tests/testthat)."""
import numpy as np
import pandas as pd
import pytest

from core.stats import auc_delong, delong_test
from core.stats.roc import classification_metrics, delong_covariance, roc_curve, youden_cutoff
from tests.reference import reference_file


@pytest.fixture(scope="module")
def asah():
    d = pd.read_csv(reference_file("proc", "aSAH.csv"))
    return (d["outcome"] == "Poor").astype(int).to_numpy(), d


def test_auc_and_delong_variance_match_proc(asah):
    y, d = asah
    s100b, ndka = auc_delong(y, d["s100b"]), auc_delong(y, d["ndka"])
    assert s100b["auc"] == pytest.approx(0.731368563685637, abs=1e-12)
    assert ndka["auc"] == pytest.approx(0.611957994579946, abs=1e-12)
    assert s100b["var"] == pytest.approx(0.00266868245717244, rel=1e-10)
    assert ndka["var"] == pytest.approx(0.0031908105493913, rel=1e-10)
    assert ndka["ci_low"] == pytest.approx(0.501244999271703, abs=1e-10)
    assert ndka["ci_high"] == pytest.approx(0.722670989888189, abs=1e-10)
    assert (s100b["n_events"], s100b["n_controls"]) == (41, 72)


def test_delong_covariance_and_paired_test_match_proc(asah):
    y, d = asah
    _, cov = delong_covariance(y, [d["ndka"], d["s100b"]])
    assert cov[0, 1] == pytest.approx(-0.000756164938056579, rel=1e-10)
    res = delong_test(y, d["ndka"], d["s100b"])
    assert res["z"] == pytest.approx(-1.39077002573558, rel=1e-10)
    assert res["p"] == pytest.approx(0.164295175223054, rel=1e-10)
    assert (res["auc_a"], res["auc_b"]) == pytest.approx((0.611957994579946, 0.731368563685637), abs=1e-12)


def test_roc_curve_trapezoid_area_is_the_auc(asah):
    y, d = asah
    curve = roc_curve(y, d["s100b"])
    assert (curve.iloc[0][["fpr", "tpr"]].tolist(), curve.iloc[-1][["fpr", "tpr"]].tolist()) == ([0, 0], [1, 1])
    area = np.sum(np.diff(curve["fpr"]) * (curve["tpr"].to_numpy()[1:] + curve["tpr"].to_numpy()[:-1]) / 2)
    assert area == pytest.approx(0.731368563685637, abs=1e-12)


def test_youden_cutoff_is_the_best_observed_threshold(asah):
    y, d = asah
    best = youden_cutoff(y, d["s100b"])
    # brute force over every observed value, positive when score >= cut-off
    s = d["s100b"].to_numpy()
    j = [np.mean(s[y == 1] >= c) + np.mean(s[y == 0] < c) - 1 for c in np.unique(s)]
    assert best["youden"] == pytest.approx(max(j), abs=1e-12)
    # pROC coords(best) for s100b: sensitivity 0.6341463, specificity 0.8055556
    assert (best["sensitivity"], best["specificity"]) == pytest.approx((26 / 41, 58 / 72), abs=1e-12)
    metrics = classification_metrics(y, s, best["cutoff"])
    assert (metrics["sensitivity"], metrics["specificity"]) == pytest.approx((26 / 41, 58 / 72))


def test_classification_metrics_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0]
    risk = [0.9, 0.5, 0.2, 0.5, 0.1, 0.3, 0.05]
    m = classification_metrics(y, risk, 0.5)                      # positive when risk >= 0.5
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 3)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 4)
    assert (m["ppv"], m["npv"], m["accuracy"]) == pytest.approx((2 / 3, 3 / 4, 5 / 7))
