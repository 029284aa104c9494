"""A job knows its owner: a heartbeat while the creating thread lives, ``interrupted`` (final)
once the owner is gone (its process ended, its pid reused, or no heartbeat), and a rerun that
continues the interrupted job as a new one."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from core.jobs import JobTracker
from core.jobs.signals import Interrupted
from core.store import Study, is_finished
from core.store import jobs as jobs_module


@pytest.fixture
def study(tmp_path):
    with Study.open(tmp_path / "jobs.duckdb") as study:
        yield study


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _set_params(study: Study, job_id: int, **changes) -> None:
    params = {**study.jobs.get(job_id)["params"], **changes}
    study._con.execute("UPDATE jobs SET params = ? WHERE job_id = ?", [json.dumps(params), job_id])


def _age(study: Study, job_id: int, seconds: int) -> None:
    study._con.execute(f"UPDATE jobs SET updated_at = updated_at - INTERVAL {seconds} SECOND WHERE job_id = ?",
                       [job_id])


def _updated(study: Study, job_id: int):
    return study.jobs.get(job_id)["updated_at"]


def test_a_job_records_its_owner_and_beats_until_it_finishes(study, monkeypatch):
    monkeypatch.setattr(jobs_module, "HEARTBEAT_S", 0.05)
    job = study.jobs.create("extract", "c", {"preset": "quick"}, total=2)
    params = study.jobs.get(job)["params"]
    assert (params["pid"], params["host"], params["preset"]) == (os.getpid(), socket.gethostname(), "quick")
    assert params["pid_started"] == pytest.approx(psutil.Process().create_time(), abs=1e-6)
    first = _updated(study, job)
    time.sleep(0.4)
    assert _updated(study, job) > first, "the heartbeat stamps updated_at"
    version = study.version()
    time.sleep(0.2)
    assert study.version() == version, "heartbeats leave the data version (the dashboard's cache key) alone"
    study.jobs.update(job, state="done", done=2)
    finished = _updated(study, job)
    time.sleep(0.3)
    assert _updated(study, job) == finished, "a finished job has no heartbeat"


def test_a_job_whose_creating_thread_ended_stops_beating_and_is_interrupted(study, monkeypatch):
    monkeypatch.setattr(jobs_module, "HEARTBEAT_S", 0.05)
    box = []
    thread = threading.Thread(target=lambda: box.append(study.jobs.create("extract", "c", {}, total=3)))
    thread.start()
    thread.join()
    time.sleep(0.3)  # the heartbeat notices the thread is gone
    stopped = _updated(study, box[0])
    time.sleep(0.3)
    assert _updated(study, box[0]) == stopped
    assert study.jobs.mark_stale(stale_after_s=3600) == 0, "a recent heartbeat: still running"
    _age(study, box[0], 120)
    assert study.jobs.mark_stale() == 1
    job = study.jobs.get(box[0])
    assert job["state"] == "interrupted" and job["finished_at"] is not None
    assert re.fullmatch(rf"interrupted: no heartbeat from its process \(pid {os.getpid()} on "
                        rf"{re.escape(socket.gethostname())}\) for 12\d s; run it again to continue", job["message"])


def test_a_dead_owner_process_interrupts_the_job_at_once(study):
    job = study.jobs.create("extract", "c", {}, total=3)
    pid = _dead_pid()
    _set_params(study, job, pid=pid)
    assert study.jobs.mark_stale() == 1
    got = study.jobs.get(job)
    assert got["state"] == "interrupted" and is_finished(got["state"])
    assert got["message"] == (f"interrupted: its process (pid {pid} on {socket.gethostname()}) ended before the "
                              "job finished; run it again to continue")
    assert study.jobs.mark_stale() == 0, "interrupted is final"
    study.jobs.request_cancel(job)
    assert study.jobs.get(job)["state"] == "interrupted"


def test_a_reused_pid_is_not_the_owner(study):
    job = study.jobs.create("extract", "c", {}, total=1)
    _set_params(study, job, pid=os.getppid(), pid_started=psutil.Process(os.getppid()).create_time() - 30)
    assert study.jobs.mark_stale() == 1
    assert "ended before the job finished" in study.jobs.get(job)["message"]


def test_another_hosts_job_is_judged_by_its_heartbeat_only(study):
    job = study.jobs.create("extract", "c", {}, total=1)
    _set_params(study, job, pid=_dead_pid(), host="elsewhere.example")
    assert study.jobs.mark_stale() == 0, "a pid of another machine says nothing here"
    _age(study, job, 61)
    assert study.jobs.mark_stale() == 1
    assert study.jobs.get(job)["message"].startswith("interrupted: no heartbeat from its process (pid ")


def test_a_cancelling_job_whose_owner_died_is_interrupted(study):
    job = study.jobs.create("extract", "c", {}, total=1)
    study.jobs.request_cancel(job)
    _set_params(study, job, pid=_dead_pid())
    assert study.jobs.mark_stale() == 1 and study.jobs.get(job)["state"] == "interrupted"


@pytest.mark.parametrize("exc, message", [
    (Interrupted(15), "interrupted by SIGTERM; run it again to continue"),
    (Interrupted(2), "interrupted by SIGINT; run it again to continue"),
    (KeyboardInterrupt(), "interrupted by Ctrl-C; run it again to continue"),
    (OSError("disk full"), "OSError: disk full; run it again to continue")])
def test_abort_says_interrupted_for_a_stop_and_failed_for_an_error(study, exc, message):
    tracker = JobTracker.start(study, "extract", None, {}, total=2)
    state = tracker.abort(exc)
    job = study.jobs.get(tracker.job_id)
    assert (state, job["state"], job["message"]) == (
        "failed" if isinstance(exc, OSError) else "interrupted", state, message)


def test_a_rerun_continues_the_newest_unfinished_job_of_the_same_work(study):
    key = {"mask_source": "manual", "settings_hash": "abc"}
    killed = JobTracker.start(study, "extract", "c", key, total=3, resume=key)
    killed.succeeded("a")
    _set_params(study, killed.job_id, pid=_dead_pid())           # its process was killed
    other = JobTracker.start(study, "extract", "c", {**key, "settings_hash": "xyz"}, total=3,
                             resume={**key, "settings_hash": "xyz"})
    assert other.continues is None, "other settings are other work"
    assert study.jobs.get(killed.job_id)["state"] == "interrupted", "marked when the rerun starts"

    rerun = JobTracker.start(study, "extract", "c", key, total=3, resume=key)
    assert rerun.continues == killed.job_id
    assert study.jobs.get(rerun.job_id)["params"]["continues"] == killed.job_id
    assert study.jobs.get(killed.job_id)["message"].endswith(f"; continued by job {rerun.job_id}")
    assert study.jobs.get(killed.job_id)["state"] == "interrupted", "the continued job stays final"
    rerun.cached(["a"])
    assert study.jobs.get(rerun.job_id)["message"] == f"continues job {killed.job_id}; 1/3 cases, 1 cached"
    rerun.succeeded("b")
    rerun.succeeded("c")
    assert rerun.finish() == "done"

    after_done = JobTracker.start(study, "extract", "c", key, total=3, resume=key)
    assert after_done.continues is None, "a job that ended done is not continued"
