"""Recalibration as a product: both updates equal statsmodels' GLM with an offset; the saved bundle
gives the GLM's recalibrated risk (and a delta-method CI) through ``risk``, validates as calibrated on
its centre, records its parent and centre, and carries no patient of the centre.

Tolerances: estimates and covariances 1e-8 relative (two Newton/IRLS solvers each stopping near
1e-10). The reference covariance is the inverse of statsmodels' Hessian at its estimates:
``cov_params()`` of a GLM comes from the last IRLS iteration's weights and differs from it by up to
1e-7 relative. The calibration of a logistic recalibration on its own patients is exactly slope 1 and
intercept 0 at the ML optimum, reached to the solvers' tolerance (1e-6 absolute). On the demo centre
only the models whose linear predictors stay within +-20 are compared with statsmodels: the small
demo's radiomics model reaches |lp| > 100, where statsmodels' IRLS overflows and stops far from the
optimum (the synthetic test covers the method on well-conditioned data)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit, logit

from core.models.bundle import Bundle, build_bundle
from core.models.external import score_centre
from core.models.recalibration import Update, usable
from core.store import Study
from tests.hardening_store.conftest import copy_study, run, snapshot

CENTRE = "hospital_b"
MODELS = ("clinical", "radiomics", "combined")


def _cov(fit) -> np.ndarray:
    """The inverse information of a statsmodels GLM at its estimates (see the module docstring)."""
    return np.linalg.inv(-fit.model.hessian(fit.params))


def _glm(y, lp, method: str):
    """statsmodels' fit: y ~ 1 + offset(lp) (intercept) or y ~ 1 + lp (logistic)."""
    ones = np.ones((len(y), 1))
    if method == "intercept":
        return sm.GLM(y, ones, family=sm.families.Binomial(), offset=lp).fit(tol=1e-12)
    return sm.GLM(y, np.column_stack([ones, lp]), family=sm.families.Binomial()).fit(tol=1e-12)


@pytest.mark.parametrize("method", ["intercept", "logistic"])
def test_update_equals_statsmodels_glm_with_offset(method):
    rng = np.random.default_rng(3)
    lp = rng.normal(-0.5, 1.5, 400)
    y = rng.binomial(1, expit(0.4 + 0.6 * lp)).astype(float)
    got = Update.estimate(y, lp, method)
    fit = _glm(y, lp, method)
    k = 1 if method == "intercept" else 2
    assert np.r_[got.intercept, got.slope][:k] == pytest.approx(fit.params, rel=1e-8)
    assert got.cov[:k, :k] == pytest.approx(_cov(fit), rel=1e-8)
    if method == "intercept":
        assert got.slope == 1 and not got.cov[1].any()


@pytest.fixture(scope="module")
def centre(demo_study, tmp_path_factory) -> dict:
    """A copy of the demo study, its bundle signed here, and the validating centre's outcomes and
    linear predictors under the bundle as shared."""
    folder = tmp_path_factory.mktemp("recalibration")
    study = copy_study(demo_study, folder / "study")
    with Study.open(study, read_only=True) as s:
        bundle = build_bundle(s)
        scored = score_centre(s, bundle, CENTRE)
        clinical = s.clinical(CENTRE)
    path = bundle.save(folder / "model.json")
    return {"study": study, "bundle": path, "folder": folder, "y": scored.y, "lps": scored.lps,
            "clinical": clinical}


def _moderate(centre) -> list[str]:
    """The models whose linear predictors on the centre stay within +-20 (see the module docstring)."""
    return [name for name in MODELS if centre["lps"][name].abs().max() <= 20]


def _positive(centre) -> list[str]:
    """The moderate models whose logistic recalibration slope on the centre (statsmodels) is above 0:
    the ones a logistic recalibration is saved for here (the small demo centre decides which)."""
    out = []
    for name in _moderate(centre):
        ok = centre["y"].notna() & centre["lps"][name].notna()
        if _glm(centre["y"][ok].to_numpy(float), centre["lps"][name][ok].to_numpy(float), "logistic").params[1] > 0:
            out.append(name)
    return out


@pytest.fixture(scope="module")
def recalibrated(centre) -> dict:
    """``python -m core recalibrate``: intercept-only of all three models; logistic of those whose slope
    is above 0 (a slope below is refused, see the last test)."""
    out = {}
    for method, models in (("intercept", MODELS), ("logistic", _positive(centre))):
        assert models, "no model of the demo centre has a positive calibration slope"
        path = centre["folder"] / f"{method}.json"
        code, printed, err = run(["recalibrate", "--bundle", str(centre["bundle"]), "--study", str(centre["study"]),
                                  "--center", CENTRE, "--method", method, "--models", *models, "--out", str(path)])
        assert code == 0, err
        out[method] = {"path": path, "printed": printed, "bundle": Bundle.load(path), "models": list(models)}
    return out


@pytest.mark.parametrize("method", ["intercept", "logistic"])
def test_saved_updates_equal_the_glm_on_the_centre(centre, recalibrated, method):
    record = recalibrated[method]["bundle"].content["recalibration"]
    assert sorted(record["models"]) == sorted(recalibrated[method]["models"])
    compared = [name for name in recalibrated[method]["models"] if name in _moderate(centre)]
    assert "combined" in compared, f"the demo centre leaves only {compared} to compare with statsmodels"
    for name in compared:
        ok = centre["y"].notna() & centre["lps"][name].notna()
        fit = _glm(centre["y"][ok].to_numpy(float), centre["lps"][name][ok].to_numpy(float), method)
        saved = record["models"][name]
        k = 1 if method == "intercept" else 2
        assert [saved["intercept"], saved["slope"]][:k] == pytest.approx(fit.params, rel=1e-8), name
        assert np.array(saved["cov"])[:k, :k] == pytest.approx(_cov(fit), rel=1e-8), name


@pytest.mark.parametrize("method", ["intercept", "logistic"])
def test_risk_of_a_recalibrated_bundle_is_the_recalibrated_risk(centre, recalibrated, method):
    """Every patient and recalibrated model: the GLM's fitted risk; for the combined model also a CI
    from the training covariance and the GLM's (delta method)."""
    y, lps = centre["y"], centre["lps"]
    z = stats.norm.ppf(0.975)
    fits = {}
    moderate = _moderate(centre)
    for name in (m for m in recalibrated[method]["models"] if m in moderate):
        ok = y.notna() & lps[name].notna()
        fit = _glm(y[ok].to_numpy(float), lps[name][ok].to_numpy(float), method)
        cov = np.zeros((2, 2))
        cov[:len(fit.params), :len(fit.params)] = _cov(fit)
        fits[name] = (np.r_[fit.params, 1.0][:2], cov)
    for pid in lps.index[y.notna() & lps[list(MODELS)].notna().all(axis=1)]:
        args = ["risk", "--study", str(centre["study"]), "--center", CENTRE, "--patient", pid, "--json"]
        code, out, err = run([*args, "--bundle", str(recalibrated[method]["path"])])
        assert code == 0, err
        got = json.loads(out)
        assert got["recalibration"]["centre"] == CENTRE and got["provenance"]["status"] == "own"
        original = json.loads(run([*args, "--bundle", str(centre["bundle"])])[1])
        for name in moderate:
            lp = lps.loc[pid, name]
            assert original["risks"][name] == pytest.approx(expit(lp), rel=1e-9)
            params, _ = fits.get(name, (np.array([0.0, 1.0]), None))  # a model left as shared keeps its risk
            assert got["risks"][name] == pytest.approx(expit(params[0] + params[1] * lp), rel=1e-9), (pid, name)
        if "combined" not in fits:
            continue
        params, cov = fits["combined"]
        lp = lps.loc[pid, "combined"]
        se_training = (logit(original["risk_ci_high"]) - logit(original["risk_ci_low"])) / (2 * z)
        d = np.array([1.0, lp])
        se = np.sqrt(params[1] ** 2 * se_training ** 2 + d @ cov @ d)
        new_lp = params[0] + params[1] * lp
        assert got["risk"] == pytest.approx(expit(new_lp), rel=1e-9)
        assert (got["risk_ci_low"], got["risk_ci_high"]) == pytest.approx(
            (expit(new_lp - z * se), expit(new_lp + z * se)), rel=1e-7), pid


def test_recalibrated_bundle_validates_as_calibrated_on_its_centre(centre, recalibrated, tmp_path):
    """At the ML optimum the intercept-only update leaves calibration-in-the-large 0, and the logistic
    recalibration slope 1 and intercept 0, on the patients it was estimated on."""
    parent = Bundle.load(centre["bundle"])
    for method in ("intercept", "logistic"):
        out, report = tmp_path / f"{method}.json", tmp_path / f"{method}.html"
        code, printed, err = run(["validate", "--bundle", str(recalibrated[method]["path"]), "--study",
                                  str(centre["study"]), "--center", CENTRE, "--out", str(out), "--report", str(report)])
        assert code == 0, err
        result = json.loads(out.read_text())
        # extreme risks are clipped to 1e-10 by the calibration metrics: the moderate models only
        for name in (m for m in recalibrated[method]["models"] if m in _moderate(centre)):
            m = result["models"][name]["metrics"][CENTRE]
            assert m["calibration_intercept"] == pytest.approx(0, abs=1e-6), (method, name)
            if method == "logistic":
                assert m["calibration_slope"] == pytest.approx(1, abs=1e-6), name
        assert result["bundle"]["recalibration"]["parent_sha256"] == parent.sha256
        assert f"recalibrated for centre '{CENTRE}' ({method}" in printed
        html = report.read_text()
        assert parent.sha256 in html and f"Calibration after recalibration ({method})" in html


def test_new_bundle_records_its_parent_and_no_patient(centre, recalibrated):
    parent = Bundle.load(centre["bundle"])
    new = recalibrated["intercept"]["bundle"]
    record = new.content["recalibration"]
    y = centre["clinical"]["ptlf"]
    assert record["parent_sha256"] == parent.sha256 and record["centre"] == CENTRE
    assert (record["n"], record["events"]) == (int(y.notna().sum()), int((y == 1).sum()))
    assert record["parent_signature"]["fingerprint"] == parent.signature["fingerprint"]
    assert new.provenance().status == "own" and new.sha256 != parent.sha256
    assert new.content["radscore_formula"] == parent.content["radscore_formula"]
    text = recalibrated["intercept"]["path"].read_text()
    assert not [pid for pid in centre["clinical"].index if pid in text]
    with Study.open(centre["study"], read_only=True) as s:
        registered = set(s.models("bundle")["model_id"])
        log = s.audit_log(50)
    assert {parent.bundle_id, new.bundle_id} <= registered
    steps = [json.loads(p) for a, p in zip(log["action"], log["params"]) if a == "recalibrate bundle"]
    assert any(st["bundle"] == new.bundle_id and st["parent_sha256"] == parent.sha256 for st in steps)


def test_only_the_chosen_models_change(centre, tmp_path):
    study = copy_study(centre["study"], tmp_path / "copy")
    path = tmp_path / "combined.json"
    code, out, err = run(["recalibrate", "--bundle", str(centre["bundle"]), "--study", str(study), "--center",
                          CENTRE, "--method", "intercept", "--models", "combined", "--out", str(path)])
    assert code == 0, err
    assert "clinical, radiomics left as shared" in out
    new, parent = Bundle.load(path), Bundle.load(centre["bundle"])
    for name in ("clinical", "radiomics"):
        assert new.content["models"]["models"][name] == parent.content["models"]["models"][name]
        assert new.content["cutoffs"][name] == parent.content["cutoffs"][name]
    assert new.content["models"]["models"]["combined"] != parent.content["models"]["models"]["combined"]


def test_refusals_name_the_model_and_leave_the_study_unchanged(centre, tmp_path):
    rng = np.random.default_rng(4)
    lp = rng.normal(0, 1, 200)
    backwards = Update.estimate(rng.binomial(1, expit(-lp)), lp, "logistic")
    assert backwards.slope < 0
    assert usable("combined", backwards, "C").startswith(
        f"the combined model's recalibration slope on centre 'C' is {backwards.slope:.3f} (not above 0)")
    with pytest.raises(ValueError, match="200 scored patient.s. with 0 event.s.: a recalibration needs patients "
                                         "with and without the event"):
        Update.estimate(np.zeros(200), lp, "logistic")
    unsigned = tmp_path / "unsigned.json"
    data = json.loads(centre["bundle"].read_text())
    data.pop("signature")
    unsigned.write_text(json.dumps(data))
    before = snapshot(centre["study"])
    code, _, err = run(["recalibrate", "--bundle", str(unsigned), "--study", str(centre["study"]), "--center",
                        CENTRE, "--method", "logistic"])
    assert code == 2 and "the bundle is unsigned" in err
    code, _, err = run(["recalibrate", "--bundle", str(centre["bundle"]), "--study", str(centre["study"]),
                        "--center", "nowhere", "--method", "logistic"])
    assert code == 2 and "nowhere" in err
    assert snapshot(centre["study"]) == before
