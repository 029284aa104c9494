"""Every dashboard page renders on the demo study without an exception or an error message."""
from __future__ import annotations

import io
import zipfile

import pytest

PAGES = ["views/study.py", "views/cohorts.py", "views/jobs.py", "views/segmentation.py", "views/extraction.py",
         "views/clinical.py", "views/selection.py", "views/models.py", "views/nomogram.py", "views/external.py",
         "views/patient.py"]


def _problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(app, page):
    app.switch_page(page).run()
    assert not _problems(app), _problems(app)
    assert app.title, f"{page} shows no title"


def test_study_page_counts(app):
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Centres"] == "2"
    assert int(metrics["Patients"]) > 30
    assert not _problems(app)


def test_open_missing_study_is_a_message(app, tmp_path):
    app.text_input(key="study_path_input").set_value(str(tmp_path / "nowhere.duckdb"))
    app.button[0].click().run()  # Open
    assert any("No study file" in e.value for e in app.error)
    assert not app.exception


def test_no_study_file_points_to_study_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    monkeypatch.setenv("PTLF_STUDY", str(tmp_path / "missing.duckdb"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    for page in ("views/clinical.py", "views/models.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert any("No study file" in w.value for w in at.warning), page


def test_create_study_then_upload_bad_cohort(tmp_path, monkeypatch):
    """A fresh study; a cohort zip with problems gives the validation report and stores nothing."""
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import APP

    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("PTLF_STUDY", str(path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    next(b for b in at.button if b.label == "Create").click().run()
    assert path.exists() and not _problems(at)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cohort/clinical.csv", "patient_id,ptlf,inr\nP1,1,1.1\nP2,2,abc\nP2,0,1.0\n")
    at.switch_page("views/cohorts.py").run()
    at.text_input(key="upload_center").set_value("hospital_x")
    at.file_uploader(key="upload_zip_0").set_value(("bad.zip", buf.getvalue(), "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Check the cohort").click().run()
    assert not at.exception
    assert any("problem" in e.value for e in at.error)
    report = at.dataframe[-1].value
    assert len(report) >= 3  # every problem listed: outcome 2, INR 'abc', duplicate P2
    from dashboard import session

    assert session.open_study(str(path)).centers().empty  # the app's connection: nothing was stored


def test_upload_store_and_delete_a_centre(app, demo_study, tmp_path):
    """A valid cohort zip: the report passes, 'Store' adds the centre, 'Delete' (confirmed) removes it."""
    import shutil

    from dashboard import session

    cohort = demo_study.parent / "cohort" / "hospital_b"
    zip_path = shutil.make_archive(str(tmp_path / "hospital_c"), "zip", cohort.parent, cohort.name)
    at = app.switch_page("views/cohorts.py").run()
    at.text_input(key="upload_center").set_value("hospital_c")
    at.selectbox(key="upload_role").set_value("external")
    at.file_uploader(key="upload_zip_0").set_value(("hospital_c.zip", open(zip_path, "rb").read(),
                                                     "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Check the cohort").click().run()
    assert not _problems(at), _problems(at)
    assert any("passed every check" in s.value for s in at.success)
    next(b for b in at.button if b.key == "store").click().run()
    assert not _problems(at), _problems(at)
    assert any("Stored centre hospital_c" in s.value for s in at.success)
    assert "hospital_c" in set(session.open_study(str(demo_study)).centers()["center"])
    assert at.text_input(key="upload_center").value == ""  # an empty form for the next centre

    at.selectbox(key="delete_center").set_value("hospital_c")
    at.text_input(key="delete_confirm").set_value("hospital_x")
    next(b for b in at.get("form_submit_button") if "Delete" in b.label).click().run()
    assert any("exactly" in e.value for e in at.error)  # a wrong confirmation deletes nothing
    assert "hospital_c" in set(session.open_study(str(demo_study)).centers()["center"])
    at.text_input(key="delete_confirm").set_value("hospital_c")
    next(b for b in at.get("form_submit_button") if "Delete" in b.label).click().run()
    assert not _problems(at), _problems(at)
    assert "hospital_c" not in set(session.open_study(str(demo_study)).centers()["center"])


def test_cohort_as_separate_files(app, demo_study):
    """clinical.csv, images and masks uploaded one by one give the same validation report."""
    cohort = demo_study.parent / "cohort" / "hospital_b"
    at = app.switch_page("views/cohorts.py").run()
    at.radio(key="upload_mode").set_value("files").run()
    at.text_input(key="upload_center").set_value("hospital_d")
    at.file_uploader(key="upload_clinical_0").set_value(
        ("clinical.csv", (cohort / "clinical.csv").read_bytes(), "text/csv"))
    at.file_uploader(key="upload_images_0").set_value(
        [(p.name, p.read_bytes(), "application/gzip") for p in sorted((cohort / "images").iterdir())])
    at.file_uploader(key="upload_masks_0").set_value(
        [(p.name, p.read_bytes(), "application/gzip") for p in sorted((cohort / "masks").iterdir())])
    at.run()
    next(b for b in at.button if b.label == "Check the cohort").click().run()
    assert not _problems(at), _problems(at)
    assert any("passed every check" in s.value for s in at.success)
    counts = {m.label: m.value for m in at.metric}
    assert counts["Images"] == counts["Masks"] == counts["Patients"]


def test_jobs_page_cancels_a_running_job(app, demo_study):
    from dashboard import session

    study = session.open_study(str(demo_study))
    job_id = study.jobs.create("extract", "hospital_a", {"note": "test"}, total=10)
    try:
        at = app.switch_page("views/jobs.py").run()
        assert not _problems(at)
        at.selectbox(key="job_pick").set_value(job_id).run()
        at.button(key="cancel-job").click().run()
        assert study.jobs.get(job_id)["state"] == "cancelling"
        assert not _problems(at)
    finally:
        study.jobs.update(job_id, state="cancelled")


def test_extraction_page_runs_a_job(app, demo_study):
    """Start from the page: the job runs in a background thread (every case cached here) and is shown done."""
    from dashboard import background, session

    at = app.switch_page("views/extraction.py").run()
    before = len(session.open_study(str(demo_study)).jobs.list())
    at.button(key="ext_start").click().run()
    background.wait_background("extract:hospital_a", 120)
    at.run()
    assert not _problems(at), _problems(at)
    jobs = session.open_study(str(demo_study)).jobs.list()
    assert len(jobs) == before + 1 and jobs["state"].iloc[0] == "done"
    assert at.get("progress") and at.dataframe  # the job's progress and the feature table preview
    computed = at.dataframe[-1].value      # which engine and device computed the stored cases
    assert list(computed["engine"]) == ["torch"] and list(computed["device"]) == ["cpu"]
    assert any("Engine: **torch**" in c.value for c in at.caption)


def test_segmentation_viewer(app):
    at = app.switch_page("views/segmentation.py").run()
    assert len(at.get("plotly_chart")) == 3  # slice, liver and tumour volumes
    at.selectbox(key="qa_patient").set_value(at.selectbox(key="qa_patient").options[1]).run()
    at.radio(key="qa_overlay").set_value("fill").run()
    at.number_input(key="qa_width").set_value(400).run()
    assert not _problems(at), _problems(at)
    assert len(at.get("plotly_chart")) == 3


def test_training_form_checks_folds(app):
    """The nnU-Net options are checked before any job starts (nothing trains here)."""
    at = app.switch_page("views/segmentation.py").run()
    assert at.selectbox(key="train_config").value == "3d_fullres" and at.selectbox(key="train_epochs").value == 1000
    at.number_input(key="train_nfolds").set_value(3)
    next(b for b in at.get("form_submit_button") if b.label == "Train").click().run()
    assert not at.exception
    assert any("must be below 3" in e.value for e in at.error)


def test_an_unexpected_error_is_a_message(app, monkeypatch):
    from dashboard import session

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(session, "read", broken)
    at = app.switch_page("views/study.py").run()
    assert not at.exception  # no traceback page
    assert any("RuntimeError: the disk went away" in e.value for e in at.error)
