"""The engine of an extraction run: chosen per run, interchangeable in the store, recorded per case,
falling back to PyRadiomics (saying why) where the torch engine lacks a setting."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from core.__main__ import main
from core.radiomics import load_preset, run_extraction
from core.radiomics.engines import choose_engine
from core.store import Study
from tests.radiomics.conftest import CENTER
from tests.radiomics.engine.tolerance import within


def _values(study: Study, preset: str = "quick"):
    return study.features(CENTER, "manual", load_preset(preset).settings_hash).set_index(
        ["patient_id", "region", "feature"])["value"].sort_index()


def test_both_engines_store_the_same_features_and_say_which_computed_them(study_path, tmp_path):
    with Study.open(study_path) as study:
        ours = run_extraction(study, CENTER, preset="quick", workers=2, engine="torch")
        assert (ours.state, ours.engine, ours.devices, ours.engine_note) == ("done", "torch", ("cpu",), None)
        provenance = study.provenance(CENTER)
        assert len(provenance) == 4 and set(provenance["engine"]) == {"torch"}
        assert set(provenance["device"]) == {"cpu"} and provenance["engine_version"].str.contains("torch").all()
        torch_values = _values(study)

        # the cache holds across engines: the features are the same by contract
        again = run_extraction(study, CENTER, preset="quick", workers=2, engine="pyradiomics")
        assert (again.extracted, again.cached) == (0, 4)

    with Study.open(tmp_path / "other.duckdb") as other, Study.open(study_path, read_only=True) as study:
        from core.cohort.ingest import ingest
        from tests.radiomics.conftest import make_cohort

        ingest(other, make_cohort(tmp_path / "same", 4), CENTER, "training")
        theirs = run_extraction(other, CENTER, preset="quick", workers=2, engine="pyradiomics")
        assert (theirs.engine, theirs.devices) == ("pyradiomics", ("cpu",))
        assert set(other.provenance(CENTER)["engine"]) == {"pyradiomics"}
        pyradiomics_values = _values(other)
    assert list(torch_values.index) == list(pyradiomics_values.index)
    beyond = [name for name, a, b in zip(torch_values.index, torch_values, pyradiomics_values, strict=True)
              if not within(a, b)]
    assert not beyond, beyond[:5]
    assert np.isfinite(torch_values).sum() > 0.9 * len(torch_values)


def test_settings_the_engine_lacks_fall_back_to_pyradiomics_saying_why(study_path, tmp_path, capsys):
    params = tmp_path / "resampled.yaml"
    params.write_text(yaml.safe_dump({"setting": {"binWidth": 25, "resampledPixelSpacing": [2, 2, 4],
                                                  "interpolator": "sitkBSpline"},
                                      "imageType": {"Original": {}}, "featureClass": {"firstorder": []}}))
    choice = choose_engine("torch", load_preset(params))
    assert choice.engine == "pyradiomics" and "resampling (resampledPixelSpacing [2, 2, 4])" in choice.note
    assert choose_engine("auto", load_preset("paper")).engine == "torch"
    assert choose_engine("pyradiomics", load_preset("paper")).engine == "pyradiomics"
    with pytest.raises(ValueError, match="engine 'gpu': expected one of auto, torch, pyradiomics"):
        choose_engine("gpu", load_preset("quick"))

    assert main(["extract", "--study", str(study_path), "--center", CENTER, "--preset", str(params),
                 "--engine", "torch", "--workers", "1", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "note: PyRadiomics extracts these settings: the torch engine does not implement resampling" in err
    assert "engine pyradiomics on cpu" in out
    with Study.open(study_path, read_only=True) as study:
        job = study.jobs.list().iloc[-1]
        assert '"engine": "pyradiomics"' in job["params"] and '"engine_requested": "torch"' in job["params"]


def test_command_line_names_the_engine_and_device(study_path, capsys):
    assert main(["extract", "--study", str(study_path), "--center", CENTER, "--preset", "quick",
                 "--engine", "torch", "--workers", "2", "--no-progress"]) == 0
    out, _ = capsys.readouterr()
    assert "4 extracted" in out and "engine torch on cpu" in out
    with Study.open(study_path, read_only=True) as study:
        counts = study.provenance_counts(CENTER, "manual", load_preset("quick").settings_hash)
    assert counts[["engine", "device", "patients"]].values.tolist() == [["torch", "cpu", 4]]
