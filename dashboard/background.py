"""Long work from the pages: background threads of the server process, and job progress
polled by a fragment while a job runs. A job whose process has gone (killed, crashed, or a
server stopped under it) is shown ``interrupted``, never as running forever."""
from __future__ import annotations

import threading
from typing import Any, Callable

import pandas as pd
import streamlit as st

from core.store import is_finished
from dashboard.errors import guard
from dashboard.session import current_study, read
from dashboard.tables import fmt_duration


INTERRUPTED_HINT = ("Interrupted: the job's process ended before it finished (stopped, killed or crashed). "
                    "Start it again: finished cases are kept and skipped, and the new job continues this one.")


class _Background:
    """Threads of this server process doing long work (one per name at a time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}
        self.errors: dict[str, str] = {}
        self.results: dict[str, Any] = {}


@st.cache_resource(show_spinner=False)
def _background() -> _Background:
    return _Background()


def start_background(name: str, fn: Callable, *args: Any, **kwargs: Any) -> bool:
    """Run ``fn(*args, **kwargs)`` in a daemon thread named ``name``; False if one is still running.

    The thread must not call ``st.*``; it works through the Study it is given. Its exception,
    if any, is kept for :func:`background_error`; its return value for :func:`background_result`.
    """
    bg = _background()
    with bg.lock:
        running = bg.threads.get(name)
        if running is not None and running.is_alive():
            return False
        bg.errors.pop(name, None)
        bg.results.pop(name, None)

        def target() -> None:
            try:
                bg.results[name] = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported on the page
                bg.errors[name] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=target, name=f"ptlf-{name}", daemon=True)
        bg.threads[name] = thread
        thread.start()
    return True


def background_running(name: str) -> bool:
    thread = _background().threads.get(name)
    return thread is not None and thread.is_alive()


def background_error(name: str) -> str | None:
    return _background().errors.get(name)


def background_result(name: str) -> Any:
    return _background().results.get(name)


def wait_background(name: str, timeout: float | None = None) -> None:
    """Join the named thread (tests and benchmarks)."""
    thread = _background().threads.get(name)
    if thread is not None:
        thread.join(timeout)


def jobs(kind: str | None = None, center: str | None = None) -> pd.DataFrame:
    """The study's jobs, newest first; live jobs whose owner is gone are marked ``interrupted`` first."""
    current_study().jobs.mark_stale()
    df = read("jobs.list")
    if kind is not None:
        df = df[df["kind"] == kind]
    if center is not None:
        df = df[df["center"] == center]
    return df


def job_is_active(state: str) -> bool:
    return not is_finished(str(state))


def job_progress(job: pd.Series | dict) -> None:
    """Progress bar and one line: cases done of total, failures, rate, time left."""
    total = int(job.get("total") or 0)
    done = int(job.get("done") or 0)
    failed = int(job.get("failed") or 0)
    seconds = float(job.get("seconds") or 0.0) if pd.notna(job.get("seconds")) else 0.0
    state = str(job.get("state"))
    finished = done + failed
    frac = min(1.0, finished / total) if total else (1.0 if is_finished(state) else 0.0)
    parts = [f"**{state}**", f"{finished} of {total or '?'} cases"]
    if failed:
        parts.append(f"{failed} failed")
    if finished and seconds > 0 and not job.get("message"):  # core's message carries its own rate and ETA
        rate = finished / seconds
        parts.append(f"{rate * 60:.1f} cases/min" if rate < 1 else f"{rate:.2f} cases/s")
        if job_is_active(state) and total > finished:
            parts.append(f"about {fmt_duration((total - finished) / rate)} left")
    parts.append(f"elapsed {fmt_duration(seconds)}")
    st.progress(frac, text=" \u00b7 ".join(parts))
    if job.get("message"):
        st.caption(str(job["message"]))
    if state == "interrupted":
        st.caption(INTERRUPTED_HINT)


def job_monitor(kind: str, center: str | None = None, key: str = "monitor",
                background: str | None = None, show_last: bool = True) -> pd.Series | None:
    """The latest job of ``kind`` (and centre) with live progress, polled every 2 s while active.

    When the job ends the whole page reruns, so results below it refresh. Returns the job row.
    """
    df = jobs(kind, center)
    latest = df.iloc[0] if len(df) else None
    active = (latest is not None and job_is_active(latest["state"])) or bool(background and background_running(background))
    if latest is None and not active:
        return None
    if not show_last and not active:
        return latest

    @st.fragment(run_every=2 if active else None)
    def _monitor() -> None:
        with guard():
            rows = jobs(kind, center)
            job = rows.iloc[0] if len(rows) else None
            if job is None:
                st.info("Starting\u2026")
                return
            st.markdown(f"Job {int(job['job_id'])} \u00b7 {job['kind']}" + (f" \u00b7 {job['center']}" if job["center"] else ""))
            job_progress(job)
            still = job_is_active(job["state"]) or bool(background and background_running(background))
            if job_is_active(job["state"]) and st.button("Cancel", key=f"{key}-cancel", icon=":material/stop:"):
                current_study().jobs.request_cancel(int(job["job_id"]))
                st.toast(f"Asked job {int(job['job_id'])} to stop after the cases in flight.")
            if active and not still:
                st.rerun()

    _monitor()
    return latest
