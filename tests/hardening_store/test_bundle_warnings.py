"""What an analysis or a bundle warns about is printed by analyze, bundle, validate and risk; a bundle
missing a key names it; differing package versions are named; a CI that says nothing says why; a
refused validation leaves the study byte for byte as it was."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.analysis_cli import stored_warnings
from core.models.bundle import Bundle
from core.versions import package_versions
from tests.hardening_store.conftest import OTHER, SETTINGS, copy_study, feature_study, ids, run, snapshot

pytestmark = pytest.mark.slow  # one analysis of a synthetic study (about 20 s), then many commands on it


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> dict:
    """A training centre whose clinical predictors separate the outcome (Firth) and are collinear;
    its analysis, printed output and bundle; and a validation centre with the same settings."""
    folder = tmp_path_factory.mktemp("analysed")
    rng = np.random.default_rng(11)
    y = [i % 2 for i in range(40)]
    inr = rng.normal(1.1, 0.15, 40)
    extra = {"inr": inr, "inr_twice": 2 * inr, "sep": [4.0 + 3 * v + rng.uniform(0, 1) for v in y]}
    path = feature_study(folder / "s.duckdb", ids(40), y, SETTINGS, extra=extra)
    yv = [i % 2 for i in range(20)]
    feature_study(path, ids(20, "V"), yv, SETTINGS, center="V", role="validation", seed=2,
                  extra={"inr": (inr_v := rng.normal(1.1, 0.15, 20)), "inr_twice": 2 * inr_v,
                         "sep": [4.0 + 3 * v + rng.uniform(0, 1) for v in yv]})
    code, out, err = run(["analyze", "--study", str(path), "--train", "T", "--validate", "V", "--bootstrap", "0",
                          "--cv-folds", "5", "--clinical-predictors", "sep", "inr", "inr_twice",
                          "--out", str(folder / "result.json"), "--predictions", str(folder / "risks.csv")])
    assert code == 0, err
    bundle = folder / "bundle.json"
    export = run(["bundle", "export", "--study", str(path), "--out", str(bundle)])
    assert export[0] == 0, export[2]
    return {"study": path, "out": out, "result": json.loads((folder / "result.json").read_text()),
            "bundle": bundle, "export": export[1], "folder": folder}


def _edited_bundle(analysed: dict, tmp_path: Path, edit) -> Path:
    """The bundle changed by ``edit(content)`` and signed again: an internally consistent bundle."""
    content = json.loads(analysed["bundle"].read_text())
    content.pop("sha256")
    edit(content)
    path = tmp_path / "edited.json"
    Bundle(content).save(path)
    return path


def test_analyze_prints_every_stored_warning(analysed):
    out, warnings = analysed["out"], stored_warnings(analysed["result"])
    assert warnings
    for warning in warnings:
        assert f"warning: {warning}\n" in out
    printed = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert any("separation: outcome (quasi-)completely separated" in w for w in printed)
    assert any("Firth's penalised likelihood used instead of ML" in w for w in printed)
    assert any("collinearity: inr_twice dropped" in w for w in printed)


def test_analyze_writes_the_risks_table(analysed):
    text = (analysed["folder"] / "risks.csv").read_text().splitlines()
    assert text[0] == "center,patient_id,clinical,combined,radiomics" and len(text) == 61


def test_bundle_export_prints_the_analysis_warnings(analysed):
    assert "warning: " in analysed["export"]
    for warning in stored_warnings(analysed["result"]):
        assert f"warning: {warning}" in analysed["export"]


def test_validate_prints_training_warnings_and_package_differences(analysed, tmp_path):
    numpy_here = package_versions()["numpy"]
    bundle = _edited_bundle(analysed, tmp_path, lambda c: c["software"].update(numpy="1.0.0", duckdb="0.1"))
    study = copy_study(analysed["study"], tmp_path / "copy")
    code, out, err = run(["validate", "--bundle", str(bundle), "--study", str(study), "--center", "V"])
    assert code == 0, err
    assert ("warning: the bundle was made with other package versions than this installation (duckdb 0.1 in the "
            f"bundle, {package_versions()['duckdb']} here; numpy 1.0.0 in the bundle, {numpy_here} here): features "
            "and risks may differ slightly from the training centre's") in out
    assert "warning: training: combined model: " in out and "Firth" in out
    code, out, _ = run(["bundle", "import", "--study", str(study), "--bundle", str(bundle)])
    assert code == 0 and "numpy 1.0.0 in the bundle" in out
    code, out, _ = run(["validate", "--bundle", str(analysed["bundle"]), "--study", str(study), "--center", "V"])
    assert code == 0 and "package versions" not in out


def test_validate_with_other_settings_refuses_before_writing(analysed, tmp_path):
    study = copy_study(analysed["study"], tmp_path / "copy")
    feature_study(study, ids(20, "W"), [0, 1] * 10, OTHER, center="W", role="external",
                  extra={"sep": list(range(20)), "inr_twice": [2.2] * 20}, settings={"setting": {"binWidth": 10}})
    before = snapshot(study)
    code, _, err = run(["validate", "--bundle", str(analysed["bundle"]), "--study", str(study), "--center", "W"])
    assert code == 2 and "setting.binWidth: bundle 25, centre 10" in err and "override knowingly" in err
    assert snapshot(study) == before


@pytest.mark.parametrize("drop, named", [
    (lambda c: c.pop("cutoffs"), "the bundle lacks key 'cutoffs' (the training cut-offs)"),
    (lambda c: c["training"].pop("events"), "the bundle lacks key 'training.events' (the number of training events)"),
    (lambda c: c["cutoffs"].pop("combined"), "key 'cutoffs.combined' (the combined model's training cut-off)"),
    (lambda c: c["clinical_predictors"][1].pop("train_min"), "key 'clinical_predictors[1].train_min' (for inr)"),
    (lambda c: [c.pop("extraction"), c.pop("nomogram")],
     "key 'extraction' (the extraction settings), key 'nomogram' (the nomogram scales)"),
])
def test_bundle_missing_a_key_names_it_and_changes_nothing(analysed, tmp_path, drop, named):
    bundle = _edited_bundle(analysed, tmp_path, drop)
    study = copy_study(analysed["study"], tmp_path / "copy")
    before = snapshot(study)
    code, _, err = run(["validate", "--bundle", str(bundle), "--study", str(study), "--center", "V"])
    assert code == 2 and err.startswith("error: edited.json: the bundle lacks ") and named in err, err
    assert "export it again with `python -m core bundle export`" in err
    assert snapshot(study) == before


def test_risk_says_why_its_ci_is_uninformative(analysed, tmp_path):
    """Coefficients a hundred times as uncertain (what a tiny training cohort gives): the CI spans 0-100%;
    a hundred times as certain: no warning."""
    def scale(factor):
        def edit(content):
            model = content["models"]["models"]["combined"]
            model["cov"] = (np.array(model["cov"]) * factor).tolist()
        return edit
    bundle = _edited_bundle(analysed, tmp_path, scale(1e4))
    before = snapshot(analysed["study"])
    code, out, err = run(["risk", "--bundle", str(bundle), "--study", str(analysed["study"]), "--center", "V",
                          "--patient", "V03"])
    assert code == 0, err
    content = Bundle.load(bundle).content
    epv = content["training"]["events"] / (len(content["clinical_predictors"]) + 1)
    assert ("warning: the combined model's risk: the 95% CI 0.0-100.0% is uninformative (it spans 100% of the "
            f"possible range) because the estimate rests on 20 events and 20 without among 40 patients, {epv:.1f} "
            "events per predictor (at least 10 are advised)") in out
    code, out, _ = run(["risk", "--bundle", str(bundle), "--study", str(analysed["study"]), "--center", "V",
                        "--patient", "V03", "--json"])
    assert code == 0 and any("is uninformative" in w for w in json.loads(out)["warnings"])
    narrow = _edited_bundle(analysed, tmp_path / "narrow", scale(1e-6))
    code, out, _ = run(["risk", "--bundle", str(narrow), "--study", str(analysed["study"]), "--center", "V",
                        "--patient", "V03"])
    assert code == 0 and "uninformative" not in out
    assert snapshot(analysed["study"]) == before


def test_validate_names_why_an_auc_ci_is_missing(analysed, tmp_path):
    study = copy_study(analysed["study"], tmp_path / "copy")
    feature_study(study, ids(12, "Z"), [0] * 12, SETTINGS, center="Z", role="external", seed=5,
                  extra={"sep": [4.5] * 12, "inr_twice": [2.2] * 12, "inr": [1.1] * 12})
    code, out, err = run(["validate", "--bundle", str(analysed["bundle"]), "--study", str(study), "--center", "Z"])
    assert code == 0, err
    assert ("warning: combined model, Z, AUC: the 95% CI could not be computed (0 events and 12 without among 12 "
            "patients; it needs patients with and without an event)") in out
