"""Real signals to a real `python -m core extract`: after kill -9 nothing of it is left after
5 s, its job reads ``interrupted`` and the same command continues it as a new job, with every
case exactly once in the features table; SIGTERM and Ctrl-C end it with one line, exit code
143 or 130 and the job ``interrupted``, no traceback and no process left."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.__main__ import main
from core.radiomics import load_preset
from core.store import Study
from tests.jobs.processes import GRACE_S, drain, left_behind
from tests.radiomics.conftest import CENTER, make_study

ROOT = Path(__file__).resolve().parents[2]
CASES = 12


def _signal_after_first_case(command: list[str], signum: int, group: bool,
                             timeout: float = 120) -> tuple[int, str, list[psutil.Process]]:
    """Run ``command`` in its own session; once its progress bar shows a finished case, send
    ``signum`` to it (to its process group with ``group``, as a terminal's Ctrl-C does).
    Returns its exit code, its whole stderr and its descendants at the time of the signal."""
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
                    family = psutil.Process(proc.pid).children(recursive=True)
                    (os.killpg if group else os.kill)(proc.pid, signum)
                    code = proc.wait(30)
                    seen += drain(proc.stderr, GRACE_S)
                    return code, seen.decode(errors="replace"), family
        pytest.fail(f"no finished case before exit or timeout; stderr: {seen.decode(errors='replace')[-2000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _extract_args(study_path: Path) -> list[str]:
    return ["--study", str(study_path), "--center", CENTER, "--preset", "quick", "--workers", "2"]


def test_kill_9_leaves_no_process_and_the_rerun_continues_the_interrupted_job(tmp_path):
    study_path = make_study(tmp_path, CASES)
    args = _extract_args(study_path)
    code, _, family = _signal_after_first_case([sys.executable, "-m", "core", "extract", *args],
                                               signal.SIGKILL, group=False)
    assert code == -signal.SIGKILL
    assert len(family) >= 4, "resource tracker, forkserver and two workers were running"
    assert not left_behind(family)

    settings = load_preset("quick").settings_hash
    with Study.open(study_path) as study:
        before = study.features(CENTER, "manual", settings)["patient_id"].nunique()
        study.jobs.mark_stale()
        killed = study.jobs.get(1)
    assert 1 <= before < CASES, f"{before} of {CASES} cases stored when killed"
    assert killed["state"] == "interrupted" and killed["done"] == before
    assert re.fullmatch(r"interrupted: its process \(pid \d+ on .+\) ended before the job finished; "
                        r"run it again to continue", killed["message"])

    assert main(["extract", *args, "--no-progress"]) == 0
    with Study.open(study_path, read_only=True) as study:
        stored = study.features(CENTER, "manual", settings)
        jobs = study.jobs.list().set_index("job_id")
        rerun = study.jobs.get(2)
        restart = study.jobs.cases(2)
    assert len(stored) == CASES * 2 * 107
    assert not stored.duplicated(["patient_id", "region", "feature"]).any()
    assert stored.groupby("patient_id").size().eq(214).all() and stored["patient_id"].nunique() == CASES
    assert restart["state"].value_counts().to_dict() == {"skipped": before, "done": CASES - before}
    assert rerun["params"]["continues"] == 1 and rerun["state"] == "done"
    assert jobs.loc[1, "state"] == "interrupted" and jobs.loc[1, "message"].endswith("; continued by job 2")


@pytest.mark.parametrize("signum, group, exit_code", [
    (signal.SIGTERM, False, 143),   # kill PID
    (signal.SIGINT, True, 130),     # Ctrl-C at a terminal: the whole foreground group
], ids=["sigterm", "ctrl-c"])
def test_a_stop_signal_ends_extract_cleanly(tmp_path, signum, group, exit_code):
    study_path = make_study(tmp_path, CASES)
    code, stderr, family = _signal_after_first_case(
        [sys.executable, "-m", "core", "extract", *_extract_args(study_path)], signum, group)
    name = signal.Signals(signum).name
    assert not left_behind(family)
    assert code == exit_code, stderr[-2000:]
    assert "Traceback" not in stderr and "Query interrupted" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"stopped by {name}: job 1 interrupted with (\d+) of {CASES} cases stored; "
                        r"run the same command again to continue", last), last
    stored_now = int(re.search(r"with (\d+) of", last).group(1))
    with Study.open(study_path, read_only=True) as study:
        job = study.jobs.get(1)
        stored = study.features(CENTER, "manual", load_preset("quick").settings_hash)
        cases = study.jobs.cases(1)
    assert (job["state"], job["message"]) == ("interrupted", f"interrupted by {name}; run it again to continue")
    assert job["finished_at"] is not None
    assert stored["patient_id"].nunique() == stored_now == job["done"] == (cases["state"] == "done").sum() >= 1
    assert stored.groupby("patient_id").size().eq(214).all(), "no case half written"
