"""The jobs table as the dashboard reads it: counts, per-case rows, final states, cancellation."""
from __future__ import annotations

import threading

import pytest

from core.jobs import JobTracker
from core.store import Study


@pytest.fixture
def study(tmp_path):
    with Study.open(tmp_path / "jobs.duckdb") as study:
        yield study


def test_counts_cases_and_ends_done_with_failures(study):
    seen = []
    tracker = JobTracker.start(study, "extract", None, {"preset": "quick"}, total=4, progress=seen.append)
    tracker.cached(["a"])
    tracker.succeeded("b", seconds=1.5)
    tracker.failed("c", "patient c: tumor (label 2) is empty", seconds=0.1)
    tracker.succeeded("d", seconds=2.0)
    assert tracker.finish() == "done with 1 failure"
    job = study.jobs.get(tracker.job_id)
    assert (job["state"], job["done"], job["failed"], job["total"]) == ("done with 1 failure", 3, 1, 4)
    assert job["message"].startswith("4/4 cases (1 failed), 1 cached")
    cases = study.jobs.cases(tracker.job_id).set_index("case_id")
    assert cases["state"].to_dict() == {"a": "skipped", "b": "done", "c": "failed", "d": "done"}
    assert cases.loc["c", "error"] == "patient c: tumor (label 2) is empty"
    assert [p.finished for p in seen] == [1, 2, 3, 4] and seen[0].cached == 1


def test_cancel_by_event_or_by_job_state(study):
    event = threading.Event()
    tracker = JobTracker.start(study, "extract", None, {}, total=3, cancel=event)
    assert not tracker.should_stop()
    event.set()
    assert tracker.should_stop()
    tracker.succeeded("a")
    assert tracker.finish() == "cancelled"

    other = JobTracker.start(study, "extract", None, {}, total=2)
    study.jobs.request_cancel(other.job_id)
    assert other.should_stop()
    other.succeeded("a")
    other.succeeded("b")
    assert other.finish() == "done", "a job that finished every case is done, even if asked to stop"


def test_abort_marks_the_job_failed(study):
    tracker = JobTracker.start(study, "extract", None, {}, total=2)
    tracker.abort(RuntimeError("disk full"))
    job = study.jobs.get(tracker.job_id)
    assert job["state"] == "failed" and job["message"] == "RuntimeError: disk full; run it again to continue"
