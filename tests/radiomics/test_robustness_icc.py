"""ICC per feature over k mask sources: Shrout & Fleiss's published k = 4 values through the
table and through the study, k = 3 and 5 against a two-way ANOVA by statsmodels, and the
handling of missing values, constant and identical features."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.anova import anova_lm

from core.cohort.ingest import ingest
from core.radiomics.robustness import (alternative_sources, feature_icc, icc_table, perturb_center,
                                       perturbed_sources, robust_summary, split_feature_name)
from core.stats import icc
from core.store import Study
from tests.cohort.conftest import make_cohort
from tests.stats.test_stats_icc import SHROUT_FLEISS

FEATURE = "liver:original_firstorder_Mean"
# Shrout & Fleiss (1979) Table 4 and R's psych::ICC on their Table 2 (6 targets x 4 judges)
PUBLISHED = {"ICC(2,1)": (0.29, 0.019, 0.76), "ICC(3,1)": (0.71, 0.342, 0.95)}


def _judges(columns=(FEATURE,), ratings=SHROUT_FLEISS) -> dict[str, pd.DataFrame]:
    """One wide table per judge: index patient_id, the judge's ratings in every column."""
    r = np.asarray(ratings, dtype=float)
    ids = [f"P{i:02d}" for i in range(1, len(r) + 1)]
    return {f"judge{j + 1}": pd.DataFrame({c: r[:, j] for c in columns}, index=pd.Index(ids, name="patient_id"))
            for j in range(r.shape[1])}


def _assert_published(row: pd.Series, kind: str) -> None:
    value, low, high = PUBLISHED[kind]
    assert round(row["icc"], 2) == value
    # the published limits are rounded: 3 decimals near 0, 2 decimals otherwise (as in test_stats_icc)
    assert row["ci_low"] == pytest.approx(low, abs=5e-4 if abs(low) < 0.5 else 5e-3)
    assert round(row["ci_high"], 2) == high
    assert (row["n"], row["k"], row["kind"]) == (6, 4, kind)


@pytest.mark.parametrize("kind", list(PUBLISHED))
def test_four_sources_give_shrout_fleiss_published_icc(kind):
    table = icc_table(_judges(), kind)
    assert list(table.columns) == ["region", "image_type", "feature_class", "icc", "ci_low", "ci_high", "n", "k",
                                   "kind"]
    _assert_published(table.loc[FEATURE], kind)


def _anova_icc(r: np.ndarray, kind: str) -> float:
    """ICC from the mean squares of a two-way ANOVA (patients x raters, no interaction) by statsmodels."""
    n, k = r.shape
    long = pd.DataFrame({"y": r.ravel(), "subject": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n)})
    aov = anova_lm(smf.ols("y ~ C(subject) + C(rater)", long).fit())
    ms = aov["sum_sq"] / aov["df"]
    msr, msc, mse = ms["C(subject)"], ms["C(rater)"], ms["Residual"]
    if kind == "ICC(3,1)":
        return (msr - mse) / (msr + (k - 1) * mse)
    return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("kind", ["ICC(2,1)", "ICC(3,1)"])
def test_k_sources_match_a_two_way_anova(k, kind):
    rng = np.random.default_rng(k)
    n, features = 15, 4
    truth = rng.normal(size=(n, 1, features))
    bias = rng.normal(scale=0.4, size=(1, k, features))                  # raters differ systematically
    noise = rng.normal(scale=[0.2, 0.5, 1.0, 2.0], size=(n, k, features))
    r = truth + bias + noise
    names = [f"tumor:original_glcm_F{j}" for j in range(features)]
    measurements = {f"s{j}": pd.DataFrame(r[:, j, :], index=[f"P{i}" for i in range(n)], columns=names)
                    for j in range(k)}
    table = icc_table(measurements, kind)
    for j, name in enumerate(names):
        assert table.loc[name, "icc"] == pytest.approx(_anova_icc(r[:, :, j], kind), abs=1e-10)
        assert (table.loc[name, "n"], table.loc[name, "k"]) == (n, k)
    assert table["icc"].is_monotonic_decreasing  # more noise, less agreement
    if kind == "ICC(3,1)":  # Shrout & Fleiss's F-based limits, by hand
        name, ratings = names[1], r[:, :, 1]
        res = icc(ratings, kind)
        f = res["bms"] / res["ems"]
        fl = f / stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1))
        fu = f * stats.f.ppf(0.975, (n - 1) * (k - 1), n - 1)
        assert table.loc[name, "ci_low"] == pytest.approx((fl - 1) / (fl + k - 1), abs=1e-12)
        assert table.loc[name, "ci_high"] == pytest.approx((fu - 1) / (fu + k - 1), abs=1e-12)


def test_missing_values_constant_and_identical_features():
    columns = [FEATURE, "liver:original_shape_Sphericity", "tumor:original_firstorder_Median",
               "tumor:original_ngtdm_Busyness"]
    judges = _judges(columns)
    judges["judge2"].loc["P03", FEATURE] = np.nan                          # one missing value: P03 left out
    for table in judges.values():
        table["liver:original_shape_Sphericity"] = 0.5                    # constant: no ICC
        table["tumor:original_firstorder_Median"] = np.arange(6.0)          # identical for every source
    for j, name in enumerate(["judge1", "judge2", "judge3"]):
        judges[name].loc["P99"] = 1.0 + j                                  # judge 4 did not rate P99
    table = icc_table(judges, "ICC(3,1)")
    complete = np.delete(np.asarray(SHROUT_FLEISS, dtype=float), 2, axis=0)
    assert table.loc[FEATURE, "icc"] == pytest.approx(icc(complete, "ICC(3,1)")["icc"], abs=1e-12)
    assert table.loc[FEATURE, "n"] == 5
    assert np.isnan(table.loc["liver:original_shape_Sphericity", ["icc", "ci_low", "ci_high"]].astype(float)).all()
    assert table.loc["tumor:original_firstorder_Median", ["icc", "ci_low", "ci_high"]].tolist() == [1.0, 1.0, 1.0]
    assert table.loc["tumor:original_ngtdm_Busyness", "n"] == 6            # P99 lacks a value from judge 4
    assert table.loc["tumor:original_ngtdm_Busyness", "icc"] == pytest.approx(
        icc(SHROUT_FLEISS, "ICC(3,1)")["icc"], abs=1e-12)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 measurements"):
        icc_table({"a": _judges()["judge1"]})
    with pytest.raises(ValueError, match=r"kind must be one of ICC\(2,1\), ICC\(3,1\), got 'ICC\(1,1\)'"):
        icc_table(_judges(), "ICC(1,1)")
    one = {name: t.iloc[:1] for name, t in _judges().items()}
    with pytest.raises(ValueError, match="1 patient"):
        icc_table(one)
    with pytest.raises(ValueError, match="no feature is common"):
        icc_table({"a": _judges()["judge1"], "b": _judges(["tumor:original_glcm_Idmn"])["judge2"]})


def test_feature_names_split_into_region_image_type_and_class():
    assert split_feature_name("liver:wavelet-LLH_glcm_Idmn") == ("liver", "wavelet-LLH", "glcm", "Idmn")
    assert split_feature_name("tumor:log-sigma-1-0-mm-3D_firstorder_10Percentile") == \
        ("tumor", "log-sigma-1-0-mm-3D", "firstorder", "10Percentile")
    assert split_feature_name("tumor:lbp-2D_gldm_DependenceEntropy")[1:3] == ("lbp-2D", "gldm")
    assert split_feature_name("liver:hounsfield") == ("liver", "other", "other", "hounsfield")
    with pytest.raises(ValueError, match="expected 'region:feature'"):
        split_feature_name("original_firstorder_Mean")


def test_summary_counts_features_at_or_above_the_threshold():
    table = pd.DataFrame({"region": ["liver"] * 3 + ["tumor"] * 2,
                          "image_type": ["original", "original", "square", "original", "original"],
                          "icc": [0.75, 0.74, 0.9, np.nan, 0.8]})
    summary = robust_summary(table, 0.75).set_index(["region", "image_type"])
    assert summary.loc[("liver", "original"), ["features", "robust"]].tolist() == [2, 1]
    assert summary.loc[("liver", "square"), "share"] == 1.0
    assert summary.loc[("tumor", "original"), ["features", "robust", "median_icc"]].tolist() == [2, 1, 0.8]


@pytest.mark.parametrize("kind", list(PUBLISHED))
def test_feature_icc_reads_every_perturbed_source_from_the_study(tmp_path, kind):
    """Perturbed masks stored for 6 patients; features written per source as Shrout & Fleiss's judges."""
    with Study.open(tmp_path / "s.duckdb") as study:
        ingest(study, make_cohort(tmp_path / "cohort", n=6), "centre_a", "training")
        result = perturb_center(study, "centre_a")
        assert result.stored == {s: 6 for s in perturbed_sources().values()}
        others = alternative_sources(study, "centre_a", "manual", "perturbed")
        assert others == ["perturbed-erode", "perturbed-dilate", "perturbed-shift"]
        r = np.asarray(SHROUT_FLEISS, dtype=float)
        for j, source in enumerate(["manual", *others]):
            for i, pid in enumerate(study.patients("centre_a")["patient_id"]):
                values = pd.DataFrame({"region": ["liver", "tumor"], "feature": ["original_firstorder_Mean",
                                                                                 "original_glcm_Idmn"],
                                       "value": [r[i, j], 10 * i + j]})
                study.write_case_features("centre_a", pid, source, "hash", None, None, values)
        table = feature_icc(study, "centre_a", "manual", others, "hash", kind)
        _assert_published(table.loc[FEATURE], kind)
        offset = table.loc["tumor:original_glcm_Idmn"]                       # patient + source effects only
        assert [offset["region"], offset["image_type"], offset["feature_class"]] == ["tumor", "original", "glcm"]
        expected = _anova_icc(10 * np.arange(6)[:, None] + np.arange(4)[None, :], kind)
        assert offset["icc"] == pytest.approx(expected, abs=1e-9)
        assert table.attrs["others"] == others
        with pytest.raises(ValueError, match="no features from mask source 'manual' with settings other_settin"):
            feature_icc(study, "centre_a", "manual", others, "other_settings")
        with pytest.raises(ValueError, match="no masks from reader2"):
            alternative_sources(study, "centre_a", "manual", "reader2")
