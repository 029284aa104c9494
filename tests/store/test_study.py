"""The study database: schema versions, one transaction per write, jobs, content-addressed files."""
from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from core.store import Study, StudyError
from core.store.schema import VERSION


def test_new_study_has_current_schema_and_refuses_newer(tmp_path):
    path = tmp_path / "s.duckdb"
    with Study.open(path) as study:
        assert study.version() == 0
        assert study._df("SELECT max(version) AS v FROM schema_version")["v"][0] == VERSION
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version (version) VALUES (?)", [VERSION + 1])
    con.close()
    with pytest.raises(StudyError, match=f"schema version {VERSION + 1}"):
        Study.open(path)


def test_missing_study_is_not_created_when_asked_not_to(tmp_path):
    with pytest.raises(StudyError, match="no such study file"):
        Study.open(tmp_path / "none.duckdb", create=False)
    assert not (tmp_path / "none.duckdb").exists()


def test_write_cohort_is_one_transaction(tmp_path):
    with Study.open(tmp_path / "s.duckdb") as study:
        patients = pd.DataFrame({"patient_id": ["a", "b"], "ptlf": [0, 1]})
        bad_clinical = pd.DataFrame({"patient_id": ["a", "a"], "variable": ["inr", "inr"],
                                     "value_num": [1.0, 1.1], "value_text": [None, None]})  # duplicate key
        with pytest.raises(duckdb.ConstraintException):
            study.write_cohort("c", "training", "test", {"patients": patients, "clinical": bad_clinical})
        assert study.centers().empty and study.patients("c").empty and study.version() == 0
        study.write_cohort("c", "training", "test", {"patients": patients})
        assert study.version() == 1 and len(study.patients("c")) == 2


def test_case_features_replace_and_mark_job_case(tmp_path):
    with Study.open(tmp_path / "s.duckdb") as study:
        study.write_cohort("c", "training", "t", {"patients": pd.DataFrame({"patient_id": ["a"], "ptlf": [1]})})
        job = study.jobs.create("extract", "c", {"preset": "quick"}, total=1)
        rows = pd.DataFrame({"region": ["liver", "tumor"], "feature": ["f", "f"], "value": [1.0, 2.0]})
        study.write_case_features("c", "a", "manual", "h1", "img", "msk", rows, job_id=job, seconds=0.5)
        study.write_case_features("c", "a", "manual", "h1", "img", "msk", rows.assign(value=[3.0, 4.0]))
        wide = study.features_wide("c")
        assert wide.loc["a", "liver:f"] == 3.0 and wide.shape == (1, 2)
        assert study.extracted_cases("c", "manual", "h1").to_dict("records") == [
            {"patient_id": "a", "image_sha": "img", "mask_sha": "msk"}]
        assert study.jobs.cases(job)["state"].tolist() == ["done"]
        study.jobs.update(job, state="done with 0 failures", done=1)
        assert study.jobs.get(job)["finished_at"] is not None


def test_features_wide_refuses_mixed_extractions(tmp_path):
    with Study.open(tmp_path / "s.duckdb") as study:
        rows = pd.DataFrame({"region": ["liver"], "feature": ["f"], "value": [1.0]})
        study.write_case_features("c", "a", "manual", "h1", None, None, rows)
        study.write_case_features("c", "a", "model_x", "h1", None, None, rows)
        with pytest.raises(StudyError, match="several extractions"):
            study.features_wide("c")
        assert study.features_wide("c", mask_source="model_x").shape == (1, 1)


def test_files_are_named_by_content(tmp_path):
    src = tmp_path / "x.nii.gz"
    src.write_bytes(b"abc")
    with Study.open(tmp_path / "s.duckdb") as study:
        sha = study.files.put(src)
        assert sha == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        assert study.files.path(sha).read_bytes() == b"abc" and study.files.shas() == {sha}


def test_stale_running_job_is_marked_interrupted(tmp_path):
    with Study.open(tmp_path / "s.duckdb") as study:
        job = study.jobs.create("extract", "c", {}, total=3)
        study._con.execute("UPDATE jobs SET params = '{\"pid\": 999999999}' WHERE job_id = ?", [job])
        assert study.jobs.mark_stale() == 1
        assert study.jobs.get(job)["state"] == "interrupted"


def test_concurrent_writes_do_not_conflict(tmp_path):
    """Two threads' transactions (e.g. a job writing a case while a page logs an action) both commit."""
    with Study.open(tmp_path / "s.duckdb") as study:
        with study.transaction() as first, study.transaction() as second:
            first.execute("INSERT INTO audit (action) VALUES ('a')")
            second.execute("INSERT INTO audit (action) VALUES ('b')")
        assert set(study.audit_log()["action"]) == {"a", "b"} and study.version() == 2
