"""The dashboard shows a job whose process was killed as ``interrupted`` (Jobs page and the
Extraction page's job monitor), with what to do, and never polls it as running."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Study
from dashboard.background import INTERRUPTED_HINT
from tests.radiomics.conftest import CENTER, make_study

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture
def app_on_killed_job(tmp_path, monkeypatch):
    """An AppTest on a study whose extraction job was left 'running' by a process that has ended."""
    from streamlit.testing.v1 import AppTest

    path = make_study(tmp_path, 2)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    with Study.open(path) as study:
        job = study.jobs.create("extract", CENTER, {"mask_source": "manual", "settings_hash": "h"}, total=2)
        params = {**study.jobs.get(job)["params"], "pid": ended.pid}
        study._con.execute("UPDATE jobs SET params = ? WHERE job_id = ?", [json.dumps(params), job])
        study.jobs.close()  # this process beats no more: the job stays 'running', its owner gone
    monkeypatch.setenv("PTLF_STUDY", str(path))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    return at


def _problems(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def test_jobs_page_shows_the_killed_job_interrupted(app_on_killed_job):
    at = app_on_killed_job.switch_page("views/jobs.py").run()
    assert not _problems(at), _problems(at)
    table = at.dataframe[0].value
    assert table["State"].tolist() == ["interrupted"]
    assert table["Message"].iloc[0].startswith("interrupted: its process (pid ")
    assert INTERRUPTED_HINT in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key == "cancel-job"], "an interrupted job cannot be cancelled"


def test_extraction_monitor_shows_the_killed_job_interrupted(app_on_killed_job):
    at = app_on_killed_job.switch_page("views/extraction.py").run()
    assert not _problems(at), _problems(at)
    progress = [p.proto.text for p in at.get("progress")]
    assert progress and progress[0].startswith("**interrupted**"), progress
    assert INTERRUPTED_HINT in [c.value for c in at.caption]
