"""kill -9 in the middle of `python -m core extract`: finished cases stay stored, and the same
command afterwards completes the job with every case exactly once in the features table."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.__main__ import main
from core.radiomics import load_preset
from core.store import Study
from tests.radiomics.conftest import CENTER, make_study

ROOT = Path(__file__).resolve().parents[2]
CASES = 12


def _kill_after_first_case(command: list[str], timeout: float = 120) -> str:
    """Run ``command`` in its own process group; SIGKILL the group once its progress bar shows
    at least one finished case. Returns the stderr read so far."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    seen, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.05)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
                if re.search(rb"\b[1-9]\d*/%d\b" % CASES, seen):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
                    return seen.decode(errors="replace")
        pytest.fail(f"no finished case before exit or timeout; stderr: {seen.decode(errors='replace')[-2000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_killed_extraction_continues_and_stores_every_case_once(tmp_path):
    study_path = make_study(tmp_path, CASES)
    args = ["--study", str(study_path), "--center", CENTER, "--preset", "quick", "--workers", "1"]
    _kill_after_first_case([sys.executable, "-m", "core", "extract", *args])

    settings = load_preset("quick").settings_hash
    with Study.open(study_path) as study:
        before = study.features(CENTER, "manual", settings)["patient_id"].nunique()
    assert 1 <= before < CASES, f"{before} of {CASES} cases stored when killed"

    assert main(["extract", *args, "--no-progress"]) == 0
    with Study.open(study_path, read_only=True) as study:
        stored = study.features(CENTER, "manual", settings)
        jobs = study.jobs.list().set_index("job_id")
        restart = study.jobs.cases(int(jobs.index.max()))
    assert len(stored) == CASES * 2 * 107
    assert not stored.duplicated(["patient_id", "region", "feature"]).any()
    assert stored.groupby("patient_id").size().eq(214).all() and stored["patient_id"].nunique() == CASES
    assert restart["state"].value_counts().to_dict() == {"skipped": before, "done": CASES - before}
    assert jobs.loc[jobs.index.min(), "state"] == "failed", "the killed run's job is marked failed on restart"
