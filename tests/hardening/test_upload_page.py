"""The Cohorts page refuses a hostile upload with the very messages the command line gives (one
validation layer), stores nothing, and keeps no file of the upload as sent."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from core.cohort.ingest import validate
from tests.cohort.conftest import make_cohort
from tests.hardening.conftest import snapshot, write_nifti

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _hostile_zip(tmp_path: Path) -> bytes:
    c = make_cohort(tmp_path / "cohort")
    ct = np.random.default_rng(1).normal(60, 20, (6, 12, 12)).astype(np.float32)
    ct[2, 3, 4] = np.nan
    write_nifti(ct, c / "images" / "P02.nii.gz")
    text = (c / "clinical.csv").read_text().replace("P04", "../P04")
    (c / "clinical.csv").write_text(text)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(c.rglob("*")):
            if path.is_file():
                zf.write(path, Path("cohort") / path.relative_to(c))
    return buf.getvalue()


def test_upload_page_gives_the_command_lines_messages(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    data = _hostile_zip(tmp_path)
    (tmp_path / "hostile.zip").write_bytes(data)
    expected = validate(tmp_path / "hostile.zip").problems
    assert any("1 voxels are NaN" in p for p in expected) and any("'../P04' is a path" in p for p in expected)

    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("PTLF_STUDY", str(path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    next(b for b in at.button if b.label == "Create").click().run()
    before = snapshot(path)
    at.switch_page("views/cohorts.py").run()
    at.text_input(key="upload_center").set_value("hospital_x")
    at.file_uploader(key="upload_zip_0").set_value(("hostile.zip", data, "application/zip"))
    at.run()
    next(b for b in at.button if b.label == "Check the cohort").click().run()
    assert not at.exception
    assert list(at.dataframe[-1].value["problem"]) == expected
    work = Path(at.session_state["cohort_check"]["work"])
    assert [p.name for p in work.iterdir()] == ["prepared"]  # the zip as uploaded is gone
    assert not list(work.rglob("*.zip")) and not (work / "prepared" / "unpacked").exists()
    from dashboard import session

    study = session.open_study(str(path))
    assert study.centers().empty
    study.close()
    assert snapshot(path) == before
