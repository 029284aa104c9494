"""ComBat harmonisation (core.stats.combat) against sva::ComBat and neuroCombat, the new-centre
harmonisation from shipped parameters, the repair of a scanner shift, and input handling.

The references are in tests/stats/combat/ (features.csv; neurocombat.json from
neurocombat_reference.py, neuroCombat 0.2.12; sva.json from sva_reference.R, sva 3.46.0).
Differences are measured in units of each feature's SD over the fixture (the features span
1e-1 to 1e8). Tolerance 1e-10 SD: the libraries agree with each other to 1e-14.
"""
import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.exceptions import NotFittedError

from core.plots import harmonisation
from core.stats.calibration import calibration_metrics
from core.stats.combat import ComBat, harmonise_new_centre, most_shifted, new_centre_estimates, shift_table

HERE = Path(__file__).parent / "combat"
TOL = 1e-10  # in feature SDs


@pytest.fixture(scope="module")
def fixture():
    features = pd.read_csv(HERE / "features.csv").set_index("patient_id")
    X = features.drop(columns="centre")
    return X, features["centre"], X.std().to_numpy()


@pytest.fixture(scope="module")
def neurocombat():
    return json.loads((HERE / "neurocombat.json").read_text())


@pytest.fixture(scope="module")
def sva():
    return json.loads((HERE / "sva.json").read_text())


def deviation(ours, reference, sd) -> float:
    """Largest |ours - reference| in feature SDs."""
    return float(np.max(np.abs(np.asarray(ours, float) - np.asarray(reference, float)) / sd))


def combat_of(cfg: dict) -> ComBat:
    return ComBat(parametric=cfg["parametric"], eb=cfg.get("eb", True), mean_only=cfg["mean_only"],
                  ref_batch=cfg["ref_batch"])


NEUROCOMBAT_CONFIGS = ["parametric", "parametric_ref_A", "nonparametric", "nonparametric_ref_A", "mean_only",
                       "mean_only_ref_A", "no_eb", "no_eb_ref_A"]
SVA_CONFIGS = NEUROCOMBAT_CONFIGS[:6]


# ------------------------------------------------------------------ against the libraries
@pytest.mark.parametrize("name", NEUROCOMBAT_CONFIGS)
def test_matches_neurocombat(fixture, neurocombat, name):
    X, centre, sd = fixture
    ref = neurocombat["configs"][name]
    assert neurocombat["features"] == list(X.columns)
    combat = combat_of(ref).fit(X, centre)
    assert deviation(combat.transform(X, centre), ref["data"], sd) < TOL
    assert deviation(combat.location_, ref["stand_mean"], sd) < TOL
    assert np.allclose(combat.scale_ ** 2, ref["var_pooled"], rtol=1e-12, atol=0)
    assert combat.centres_ == neurocombat["batches"]
    assert np.allclose(combat.gamma_star_, ref["gamma_star"], rtol=0, atol=TOL)
    assert np.allclose(combat.delta_star_, ref["delta_star"], rtol=0, atol=TOL)


@pytest.mark.parametrize("name", SVA_CONFIGS)
def test_matches_sva(fixture, sva, name):
    X, centre, sd = fixture
    ref = sva["configs"][name]
    ref["ref_batch"] = ref["ref_batch"] or None
    assert deviation(combat_of(ref).fit_transform(X, centre), ref["data"], sd) < TOL


def test_reference_centre_is_left_unchanged(fixture):
    X, centre, _ = fixture
    out = ComBat(ref_batch="A").fit_transform(X, centre)
    pd.testing.assert_frame_equal(out[centre == "A"], X[centre == "A"], check_exact=True)
    assert not np.allclose(out[centre == "B"], X[centre == "B"])


# ------------------------------------------------------------------- a new centre, no data
def shipped(X, centre, train, **settings) -> dict:
    """What a bundle carries, after a round trip through JSON text."""
    keep = centre.isin(train)
    return json.loads(json.dumps(ComBat(**settings).fit(X[keep], centre[keep]).to_dict()))


@pytest.mark.parametrize("parametric", [True, False])
@pytest.mark.parametrize("train", [["A"], ["A", "B"]])
def test_new_centre_equals_joint_reference_fit_in_sva(fixture, sva, parametric, train):
    """sva's reference-batch ComBat fitted jointly on A, B and C gives C the same features as
    harmonise_new_centre from the parameters of a fit on the training centres alone."""
    X, centre, sd = fixture
    params = shipped(X, centre, train, parametric=parametric, ref_batch="A")
    joint = np.asarray(sva["configs"]["parametric_ref_A" if parametric else "nonparametric_ref_A"]["data"])
    new = (centre == "C").to_numpy()
    assert deviation(harmonise_new_centre(params, X[new]), joint[new], sd) < TOL


@pytest.mark.parametrize("parametric", [True, False])
def test_new_centre_equals_our_joint_reference_fit(fixture, parametric):
    X, centre, sd = fixture
    pair = centre.isin(["A", "C"])
    joint = ComBat(parametric=parametric, ref_batch="A").fit(X[pair], centre[pair])
    new = centre == "C"
    from_params = harmonise_new_centre(shipped(X, centre, ["A"], parametric=parametric, ref_batch="A"), X[new])
    assert deviation(from_params, joint.transform(X[new], centre[new]), sd) < 1e-12
    est = new_centre_estimates(shipped(X, centre, ["A"], parametric=parametric, ref_batch="A"), X[new])
    assert np.allclose(est["gamma_star"], joint.gamma_star_.loc["C"], rtol=0, atol=1e-12)
    assert np.allclose(est["delta_star"], joint.delta_star_.loc["C"], rtol=0, atol=1e-12)
    assert np.allclose(est["gamma_hat"], joint.gamma_hat_.loc["C"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("parametric", [True, False])
def test_new_centre_in_the_pooled_frame_matches_sva(fixture, sva, parametric):
    """Without a reference batch the new centre is brought to the training centres' grand mean
    and pooled variance: sva's reference-batch ComBat against a reference with exactly that
    mean and variance (sva_reference.R) gives the same features."""
    X, centre, sd = fixture
    params = shipped(X, centre, ["A", "B"], parametric=parametric)
    expected = sva["pooled_frame"]["parametric" if parametric else "nonparametric"]
    assert deviation(harmonise_new_centre(params, X[centre == "C"]), expected, sd) < TOL


def test_shipped_parameters_reproduce_the_fit(fixture):
    X, centre, _ = fixture
    combat = ComBat(ref_batch="A").fit(X, centre)
    text = json.dumps(combat.to_dict())
    again = ComBat.from_dict(json.loads(text))
    pd.testing.assert_frame_equal(again.transform(X, centre), combat.transform(X, centre), check_exact=True)
    one = again.transform(X.loc[["B03"]], ["B"])  # one patient of a training centre
    pd.testing.assert_frame_equal(one, combat.transform(X, centre).loc[["B03"]], check_exact=True)
    params = json.loads(text)
    assert params["reference"] == "A" and params["conventions"]["min_patients"] == 3
    assert np.allclose(params["location"], X[centre == "A"].mean(), rtol=1e-14, atol=0)
    assert np.allclose(params["scale"], X[centre == "A"].std(ddof=0), rtol=1e-12, atol=0)
    # no patient data: every vector is per feature, and no patient identifier appears
    n = len(X.columns)
    assert len(params["location"]) == len(params["scale"]) == n
    assert all(len(c["gamma_star"]) == len(c["delta_star"]) == n for c in params["centres"].values())
    assert not any(pid in text for pid in X.index)


# ---------------------------------------------------------------------- scanner shift repair
def _centre(rng, n, shift, scale):
    """Features (scanner-shifted and true) and outcomes of n patients of one centre."""
    loc = np.array([60.0, 3e3, 25.0, 0.4, 4.5, 0.7])
    spread = np.array([15.0, 800.0, 9.0, 0.08, 0.6, 0.06])
    beta = np.array([0.8, -0.6, 0.5, 0.0, 0.4, -0.3])
    x = rng.multivariate_normal(np.zeros(6), 0.3 + 0.7 * np.eye(6), n)
    y = rng.binomial(1, 1 / (1 + np.exp(1.0 - x @ beta)))
    names = [f"liver:original_feature{j}" for j in range(6)]
    return (pd.DataFrame(loc + spread * (shift + scale * x), columns=names),
            pd.DataFrame(loc + spread * x, columns=names), y)


def test_harmonising_repairs_the_calibration_broken_by_a_scanner_shift():
    rng = np.random.default_rng(7)
    X_a, _, y_a = _centre(rng, 1500, 0.0, 1.0)
    shift, scale = np.array([1.0, -0.8, 0.8, 0.5, 0.6, -0.6]), np.array([1.3, 0.7, 1.2, 0.8, 1.4, 0.75])
    X_b, X_b_true, y_b = _centre(rng, 1500, shift, scale)
    model = sm.Logit(y_a, sm.add_constant(X_a)).fit(disp=0)

    def calibration(X):
        return calibration_metrics(y_b, model.predict(sm.add_constant(X, has_constant="add")))

    params = ComBat(ref_batch="A").fit(X_a, np.repeat("A", len(X_a))).to_dict()
    broken, repaired, true = calibration(X_b), calibration(harmonise_new_centre(params, X_b)), calibration(X_b_true)
    assert abs(broken["citl"]) > 1.0 and abs(broken["slope"] - 1) > 0.2
    # sampling error at 1,500 patients (SE of citl ~0.07, of the slope ~0.05) and of the centre's
    # ComBat estimates
    assert abs(repaired["citl"]) < 0.25 and abs(repaired["slope"] - 1) < 0.15
    # as good as the same patients scanned without the shift: ComBat's estimation error only
    assert abs(repaired["citl"] - true["citl"]) < 0.1 and abs(repaired["slope"] - true["slope"]) < 0.1


# ------------------------------------------------------------ the new centre's outcomes
def test_harmonise_new_centre_takes_features_only():
    assert list(inspect.signature(harmonise_new_centre).parameters) == ["params", "X_new"]
    assert list(inspect.signature(new_centre_estimates).parameters) == ["params", "X_new"]


def test_new_centre_outcomes_never_change_its_features(fixture):
    X, centre, _ = fixture
    params = shipped(X, centre, ["A", "B"], ref_batch="A")
    new = X[centre == "C"]
    rng = np.random.default_rng(0)
    with_outcome = new.assign(ptlf=rng.integers(0, 2, len(new)))
    permuted = with_outcome.assign(ptlf=rng.permutation(with_outcome["ptlf"].to_numpy()))
    unknown = with_outcome.assign(ptlf=np.nan)
    base = harmonise_new_centre(params, new)
    for frame in (with_outcome, permuted, unknown):
        pd.testing.assert_frame_equal(harmonise_new_centre(params, frame), base, check_exact=True)
    assert list(base.columns) == params["features"]


# --------------------------------------------------------------------------- bad input
def test_missing_values_are_refused_with_feature_and_patient(fixture):
    X, centre, _ = fixture
    bad = X.copy()
    bad.loc["B03", "liver:original_glcm_Idm"] = np.nan
    with pytest.raises(ValueError, match=r"liver:original_glcm_Idm.*B03"):
        ComBat().fit(bad, centre)
    with pytest.raises(ValueError, match="B03"):
        harmonise_new_centre(shipped(X, centre, ["A"], ref_batch="A"), bad[centre == "B"])


def test_constant_features_are_refused(fixture):
    X, centre, _ = fixture
    flat = X.copy()
    flat.loc[centre == "A", "liver:original_glcm_Idm"] = 0.5
    with pytest.raises(ValueError, match=r"constant within the reference centre 'A'.*glcm_Idm"):
        ComBat(ref_batch="A").fit(flat, centre)
    with pytest.raises(ValueError, match=r"constant within centre 'A'.*glcm_Idm"):
        ComBat().fit(flat, centre)
    ComBat(mean_only=True).fit(flat, centre)  # no scale is estimated
    with pytest.raises(ValueError, match=r"constant within centre 'new centre'.*glcm_Idm"):
        harmonise_new_centre(shipped(X, centre, ["B"], ref_batch="B"), flat[centre == "A"])


def test_small_centres_are_refused(fixture):
    X, centre, _ = fixture
    keep = centre.isin(["A", "B"]) | centre.index.isin(["C00", "C01"])
    with pytest.raises(ValueError, match=r"at least 3 patients.*'C': 2"):
        ComBat().fit(X[keep], centre[keep])
    with pytest.raises(ValueError, match="at least 3 patients"):
        harmonise_new_centre(shipped(X, centre, ["A"], ref_batch="A"), X.loc[["C00", "C01"]])


def test_centres_and_settings_are_checked(fixture):
    X, centre, _ = fixture
    with pytest.raises(ValueError, match="ref_batch 'Z' is not among"):
        ComBat(ref_batch="Z").fit(X, centre)
    with pytest.raises(ValueError, match="pass it as ref_batch"):
        ComBat().fit(X[centre == "A"], centre[centre == "A"])
    combat = ComBat(ref_batch="A").fit(X[centre != "C"], centre[centre != "C"])
    with pytest.raises(ValueError, match=r"\['C'\] were not fitted.*harmonise_new_centre"):
        combat.transform(X, centre)
    with pytest.raises(ValueError, match="two or more"):
        ComBat().fit(X.iloc[:, :1], centre)
    ComBat(eb=False).fit(X.iloc[:, :1], centre)
    with pytest.raises(ValueError, match="length mismatch"):
        ComBat().fit(X, centre.to_numpy()[:-1])
    with pytest.raises(ValueError, match="not numeric"):
        ComBat().fit(X.assign(sex="F"), centre)
    with pytest.raises(NotFittedError):
        ComBat().transform(X, centre)


def test_batch_series_is_matched_by_patient(fixture):
    X, centre, _ = fixture
    shuffled = centre.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(ComBat().fit_transform(X, shuffled), ComBat().fit_transform(X, centre.to_numpy()))


def test_summary_lists_every_centre_and_feature(fixture):
    X, centre, _ = fixture
    combat = ComBat(ref_batch="A").fit(X, centre)
    summary = combat.summary
    assert len(summary) == 3 * X.shape[1]
    assert summary.groupby("centre")["reference"].all().to_dict() == {"A": True, "B": False, "C": False}
    b = summary[summary["centre"] == "B"].set_index("feature")
    assert (b["n"] == 15).all()
    pd.testing.assert_series_equal(b["gamma_star"], combat.gamma_star_.loc["B"], check_names=False)
    assert (summary.loc[summary["reference"], "delta_star"] == 1).all()


def test_refitting_discards_the_previous_fit(fixture):
    X, centre, _ = fixture
    keep = centre != "C"
    combat = ComBat().fit(X, centre).fit(X[keep], centre[keep])
    assert combat.centres_ == ["A", "B"]
    pd.testing.assert_frame_equal(combat.gamma_star_, ComBat().fit(X[keep], centre[keep]).gamma_star_)


def test_shipped_parameters_are_checked(fixture):
    X, centre, _ = fixture
    params = shipped(X, centre, ["A"], ref_batch="A")
    new = X[centre == "C"]
    with pytest.raises(ValueError, match="1 feature column"):
        harmonise_new_centre(params, new.drop(columns="liver:original_glcm_Idm"))
    with pytest.raises(ValueError, match="scale positive"):
        harmonise_new_centre({**params, "scale": [0.0] * len(params["scale"])}, new)
    with pytest.raises(ValueError, match="version"):
        harmonise_new_centre({**params, "version": 99}, new)
    with pytest.raises(ValueError, match="ComBat.to_dict"):
        harmonise_new_centre({"features": []}, new)


# ------------------------------------------------------------------------- shift summary
def test_shift_table_by_hand():
    """Cohen's d worked by hand: feature f, A = 1, 2, 3 and B = 4, 5, 6: pooled SD 1, d(A) = -3,
    d(B) = 3; feature g, A = 0, 2, 4 (SD 2) and B = 1, 1, 4 (SD sqrt 3): pooled SD
    sqrt((2 * 4 + 2 * 3) / 4) = sqrt(3.5), d(A) = (2 - 2) / sqrt(3.5) = 0."""
    before = pd.DataFrame({"f": [1.0, 2, 3, 4, 5, 6], "g": [0.0, 2, 4, 1, 1, 4]})
    after = before * 2
    table = shift_table(before, after, ["A"] * 3 + ["B"] * 3)
    a = table.set_index(["centre", "feature"])
    assert a.loc[("A", "f"), "smd_before"] == pytest.approx(-3.0, abs=1e-14)
    assert a.loc[("B", "f"), "smd_before"] == pytest.approx(3.0, abs=1e-14)
    assert a.loc[("A", "g"), "smd_before"] == pytest.approx(0.0, abs=1e-14)
    assert a.loc[("A", "g"), "sd_ratio_before"] == pytest.approx(2 / np.sqrt(3), rel=1e-14)
    assert a.loc[("A", "f"), "smd_after"] == pytest.approx(-3.0, abs=1e-14)  # d is scale-free
    assert table["feature"].tolist() == ["f", "g", "f", "g"]  # by centre, then |smd_before| down
    with_ref = shift_table(before, after, ["A"] * 3 + ["B"] * 3, reference="A")
    assert with_ref["centre"].unique().tolist() == ["B"]
    assert most_shifted(table, 1) == ["f"]


def test_harmonisation_reduces_the_shift_and_is_plotted(fixture):
    X, centre, _ = fixture
    after = ComBat(ref_batch="A").fit_transform(X, centre)
    table = shift_table(X, after, centre, reference="A")
    assert table["smd_before"].abs().max() > 1.0
    assert table["smd_after"].abs().max() < table["smd_before"].abs().max() / 4  # shrinkage leaves a little
    # without shrinkage each centre gets A's mean exactly, and A's SD (divided by n, ComBat's
    # standardisation) against A's SD divided by n - 1
    exact = shift_table(X, ComBat(eb=False, ref_batch="A").fit_transform(X, centre), centre, reference="A")
    assert exact["smd_after"].abs().max() < 1e-12
    n_a = int((centre == "A").sum())
    assert np.allclose(exact["sd_ratio_after"], np.sqrt((n_a - 1) / n_a), rtol=1e-12, atol=0)
    top = most_shifted(table, 3)
    fig = harmonisation(X, after, centre, top, title="Most shifted features")
    assert len(fig.data) == 3 * 2 * 3  # features x (before, after) x centres
    assert [a.text for a in fig.layout.annotations][:2] == [f"{top[0]}: before", f"{top[0]}: after"]
    with pytest.raises(ValueError, match="same patients"):
        harmonisation(X, after.iloc[::-1], centre, top)
