"""Bundles travel between studies: same validation results, tamper-proof, settings checked;
a single patient's risk equals the study's prediction."""
from __future__ import annotations

import json

import pytest
import yaml

from core.__main__ import main
from core.cohort.ingest import ingest
from core.models.bundle import Bundle, BundleError, export_bundle, import_bundle
from core.models.external import validate_bundle
from core.models.risk import patient_risk
from core.radiomics.presets import PRESET_DIR, load_preset
from core.radiomics.runner import run_extraction
from core.store import Study

CENTRE = "hospital_b"


@pytest.fixture(scope="module")
def shared(demo_study, tmp_path_factory):
    """The bundle exported from the demo study, and the study's own results for the other centre."""
    folder = tmp_path_factory.mktemp("sharing")
    with Study.open(demo_study) as study:
        analysis_id = study.analyses()["analysis_id"].iloc[0]
        original = study.analysis(analysis_id)
        predictions = study.predictions(analysis_id)
        path = export_bundle(study, folder / "model.json", analysis_id)
    return {"bundle": path, "original": original, "predictions": predictions, "folder": folder,
            "cohort": demo_study.parent / "cohort" / CENTRE}


@pytest.fixture(scope="module")
def other_study(shared):
    """A new study holding only the validation centre, extracted with the shipped quick preset."""
    path = shared["folder"] / "other.duckdb"
    with Study.open(path) as study:
        ingest(study, shared["cohort"], CENTRE, "external")
        run_extraction(study, CENTRE, preset="quick")
    return path


def test_bundle_holds_no_patient_rows(shared, demo_study):
    text = shared["bundle"].read_text()
    with Study.open(demo_study) as study:
        ids = set(study.patients("hospital_a")["patient_id"]) | set(study.patients(CENTRE)["patient_id"])
    assert not [pid for pid in ids if pid in text]
    content = json.loads(text)
    assert content["extraction"]["settings_hash"] == load_preset("quick").settings_hash
    assert {p["name"] for p in content["clinical_predictors"]} == set(shared["original"]["clinical"]["independent_predictors"])
    assert content["training"]["n"] == shared["original"]["training"]["n_with_outcome"]


def test_validation_in_another_study_equals_the_original(shared, other_study):
    with Study.open(other_study) as study:
        bundle = import_bundle(study, shared["bundle"])
        assert study.models("bundle")["model_id"].tolist() == [bundle.bundle_id]
        result = validate_bundle(study, bundle, CENTRE)
    assert result["settings_override"] is None
    for name in ("clinical", "radiomics", "combined"):
        got, want = result["models"][name]["metrics"][CENTRE], shared["original"]["models"][name]["metrics"][CENTRE]
        for key in ("auc", "auc_ci_low", "auc_ci_high", "sensitivity", "specificity", "brier",
                    "calibration_intercept", "calibration_slope", "hl_p"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (name, key)
    assert set(result["comparisons"][CENTRE]) >= {"combined_vs_clinical", "combined_vs_radiomics"}


def test_tampered_bundle_is_refused(shared, tmp_path):
    content = json.loads(shared["bundle"].read_text())
    content["models"]["models"]["combined"]["intercept"] += 0.5
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(content))
    with pytest.raises(BundleError, match="checksum mismatch"):
        Bundle.load(tampered)


def test_other_extraction_settings_are_refused_naming_the_difference(shared, tmp_path):
    params = yaml.safe_load((PRESET_DIR / "quick.yaml").read_text())
    params.setdefault("setting", {})["binWidth"] = 10
    preset_file = tmp_path / "coarse.yaml"
    preset_file.write_text(yaml.safe_dump(params))
    path = tmp_path / "coarse.duckdb"
    with Study.open(path) as study:
        ingest(study, shared["cohort"], CENTRE, "external")
        run_extraction(study, CENTRE, preset=preset_file)
        bundle = import_bundle(study, shared["bundle"])
        with pytest.raises(BundleError, match=r"binWidth: bundle 25, centre 10"):
            validate_bundle(study, bundle, CENTRE)
        forced = validate_bundle(study, bundle, CENTRE, allow_other_settings=True)
    assert forced["settings_override"].startswith("OVERRIDE") and "binWidth" in forced["settings_override"]


def test_patient_risk_equals_the_study_prediction(shared, demo_study):
    bundle = Bundle.load(shared["bundle"])
    with Study.open(demo_study) as study:
        clinical = study.clinical(CENTRE)
        image = study.images(CENTRE).set_index("patient_id")["path"]
        mask = study.masks(CENTRE, "manual").set_index("patient_id")["path"]
    stored = shared["predictions"].query("center == @CENTRE and model == 'combined'").set_index("patient_id")["risk"]
    pid = stored.index[0]
    values = {p["name"]: clinical.loc[pid, p["name"]] for p in bundle.predictors}
    risk = patient_risk(bundle, values, image=image[pid], mask=mask[pid])
    assert risk.risk == pytest.approx(stored[pid], rel=1e-9)
    assert risk.risk_low < risk.risk < risk.risk_high
    assert sum(risk.points.values()) == pytest.approx(risk.total_points)
    with pytest.raises(ValueError, match=r"implausible; allowed range 0.5 to 10"):
        patient_risk(bundle, {**values, "inr": 25}, image=image[pid], mask=mask[pid])


def test_command_line_validate_and_risk(shared, other_study, tmp_path, capsys):
    out = tmp_path / "validation.json"
    report = tmp_path / "validation.html"
    assert main(["validate", "--bundle", str(shared["bundle"]), "--study", str(other_study), "--center", CENTRE,
                 "--out", str(out), "--report", str(report)]) == 0
    result = json.loads(out.read_text())
    metrics = result["models"]["combined"]["metrics"][CENTRE]
    assert {"auc", "auc_ci_low", "auc_ci_high", "sensitivity", "specificity", "brier", "calibration_intercept",
            "calibration_slope", "hl_p"} <= set(metrics)
    html = report.read_text()
    assert "TRIPOD+AI" in html and html.count("plotly-graph-div") >= 3
    with Study.open(other_study) as study:
        pid = study.patients(CENTRE)["patient_id"].iloc[0]
    capsys.readouterr()
    assert main(["risk", "--bundle", str(shared["bundle"]), "--study", str(other_study), "--center", CENTRE,
                 "--patient", pid, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = shared["predictions"].query("center == @CENTRE and model == 'combined' and patient_id == @pid")["risk"]
    assert printed["risk"] == pytest.approx(float(stored.iloc[0]), rel=1e-9)
    assert 0 <= printed["risk_ci_low"] <= printed["risk"] <= printed["risk_ci_high"] <= 1
    assert main(["risk", "--bundle", str(shared["bundle"]), "--value", "inr=abc"]) == 2


def test_missing_stored_value_is_refused_as_missing(shared):
    bundle = Bundle.load(shared["bundle"])
    values = {p["name"]: float("nan") for p in bundle.predictors}
    with pytest.raises(ValueError, match=r"inr: missing; expected a number from 0.5 to 10"):
        patient_risk(bundle, values, features={})
