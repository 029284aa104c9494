"""Jobs in the study database: long work (segmentation, extraction) with state and progress.

States: ``queued`` -> ``running`` -> ``done`` | ``done with N failures`` | ``failed`` |
``cancelled`` | ``interrupted``; ``cancelling`` asks a running job to stop between cases.
Each case of a job has a row in ``job_cases`` (``done``, ``failed``, ``skipped``) with its
error message.

A job records its owner (``pid``, ``host`` and the process's start time in its params). While
the thread that created it lives, a daemon thread of the owning process stamps the job's
``updated_at`` every :data:`HEARTBEAT_S` seconds (its heartbeat). A running job whose owner
is gone (its process ended on this host, or no heartbeat for :data:`STALE_AFTER_S`) becomes
``interrupted`` in :meth:`JobTable.mark_stale`: a final state; the next run is a new job.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from core.jobs.lifeline import owner_identity, process_alive

if TYPE_CHECKING:
    from core.store.study import Study

FINISHED = ("done", "failed", "cancelled", "interrupted")
_FIELDS = {"state", "total", "done", "failed", "message", "started_at", "finished_at"}
HEARTBEAT_S = 5.0        # seconds between two heartbeats of a running job
STALE_AFTER_S = 60.0     # a running job without a heartbeat for this long has lost its owner


def is_finished(state: str) -> bool:
    """True for a job that will not change any more (``done with 3 failures`` included)."""
    return state.startswith(FINISHED)


class JobTable:
    """Create, update and read jobs of one study."""

    def __init__(self, study: "Study"):
        self._study = study
        self._heartbeat = _Heartbeat(self)

    def create(self, kind: str, center: str | None, params: dict[str, Any], total: int = 0) -> int:
        """Record a new running job owned by this process and thread; returns its id.

        Its heartbeat runs until a finished state is written or the creating thread ends.
        """
        pid, started = owner_identity()
        owner = {"pid": pid, "host": socket.gethostname(), "pid_started": started}
        with self._study.transaction() as cur:
            row = cur.execute(
                "INSERT INTO jobs (kind, center, params, state, total, started_at, updated_at) "
                "VALUES (?, ?, ?, 'running', ?, current_timestamp, current_timestamp) RETURNING job_id",
                [kind, center, json.dumps({**params, **owner}, default=str), total],
            ).fetchone()
        job_id = int(row[0])
        self._heartbeat.add(job_id, threading.current_thread())
        return job_id

    def update(self, job_id: int, **fields: Any) -> None:
        """Set any of state, total, done, failed, message; a finishing state stamps finished_at
        and ends the job's heartbeat."""
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}; expected some of {sorted(_FIELDS)}")
        finishing = "state" in fields and is_finished(fields["state"])
        if finishing:
            fields.setdefault("finished_at", pd.Timestamp.now())
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"UPDATE jobs SET {sets}, updated_at = current_timestamp WHERE job_id = ?",
                    [*fields.values(), int(job_id)])
        if finishing:
            self._heartbeat.remove(int(job_id))

    def abort(self, job_id: int, exc: BaseException) -> str:
        """The run itself ended early: ``interrupted`` for Ctrl-C or a stop signal (a
        KeyboardInterrupt, whose text names the signal), else ``failed`` with the exception.
        Returns the state written."""
        if isinstance(exc, KeyboardInterrupt):
            state, reason = "interrupted", f"interrupted by {str(exc) or 'Ctrl-C'}"
        else:
            state, reason = "failed", f"{type(exc).__name__}: {exc}"
        self.update(job_id, state=state, message=f"{reason}; run it again to continue"[-2000:])
        return state

    def case(self, job_id: int, case_id: str, state: str, error: str | None = None,
             seconds: float | None = None, cur=None) -> None:
        """Record one case's outcome; pass ``cur`` to join a caller's transaction."""
        sql = ("INSERT OR REPLACE INTO job_cases (job_id, case_id, state, error, seconds, updated_at) "
               "VALUES (?, ?, ?, ?, ?, current_timestamp)")
        if cur is not None:
            cur.execute(sql, [job_id, case_id, state, error, seconds])
            return
        with self._study.transaction() as c:
            c.execute(sql, [job_id, case_id, state, error, seconds])

    def get(self, job_id: int) -> dict[str, Any]:
        """One job as a dict (params decoded); KeyError if absent."""
        df = self._study._df("SELECT * FROM jobs WHERE job_id = ?", [int(job_id)])
        if df.empty:
            raise KeyError(f"no job {job_id} in {self._study.path}")
        row = df.iloc[0].to_dict()
        row["params"] = json.loads(row["params"] or "{}")
        return row

    def previous(self, kind: str, center: str | None, match: dict[str, Any]) -> dict[str, Any] | None:
        """The newest job of ``kind`` and ``center`` whose params hold every item of ``match`` (as :meth:`get`)."""
        df = self._study._df("SELECT job_id, params FROM jobs WHERE kind = ? AND center IS NOT DISTINCT FROM ? "
                             "ORDER BY job_id DESC", [kind, center])
        for job_id, params in zip(df["job_id"], df["params"], strict=True):
            params = json.loads(params or "{}")
            if all(params.get(key) == value for key, value in match.items()):
                return self.get(int(job_id))
        return None

    def cases(self, job_id: int) -> pd.DataFrame:
        """The job's cases: case_id, state, error, seconds."""
        return self._study._df(
            "SELECT case_id, state, error, seconds, updated_at FROM job_cases WHERE job_id = ? ORDER BY case_id",
            [job_id])

    def list(self, limit: int | None = None) -> pd.DataFrame:
        """All jobs, newest first, with duration in seconds."""
        sql = ("SELECT job_id, kind, center, state, done, failed, total, message, params, started_at, "
               "updated_at, finished_at, "
               "epoch(coalesce(finished_at, updated_at) - started_at) AS seconds "
               "FROM jobs ORDER BY job_id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._study._df(sql)

    def request_cancel(self, job_id: int) -> None:
        """Ask a running job to stop after the cases in flight."""
        self._write("UPDATE jobs SET state = 'cancelling', updated_at = current_timestamp "
                    "WHERE job_id = ? AND state = 'running'", [int(job_id)])

    def cancel_requested(self, job_id: int) -> bool:
        """True once someone asked this job to stop."""
        return self.get(job_id)["state"] == "cancelling"

    def mark_stale(self, stale_after_s: float = STALE_AFTER_S) -> int:
        """Live jobs whose owner is gone become ``interrupted``, with the reason; returns how many.

        Gone: the owning process no longer runs on this host (or its pid now belongs to a
        later process), or the job's heartbeat is older than ``stale_after_s`` seconds.
        """
        live = self._study._df(
            "SELECT job_id, params, epoch(current_timestamp::TIMESTAMP) - epoch(updated_at) AS age "
            "FROM jobs WHERE state IN ('running', 'cancelling')")
        stale = 0
        for job_id, params, age in zip(live["job_id"], live["params"], live["age"], strict=True):
            reason = _owner_gone(json.loads(params or "{}"), age, stale_after_s)
            if reason is not None:
                self.update(int(job_id), state="interrupted",
                            message=f"interrupted: {reason}; run it again to continue")
                stale += 1
        return stale

    def close(self) -> None:
        """End this process's heartbeats (before the study's connection closes)."""
        self._heartbeat.stop()

    def _beat(self, job_ids: list[int]) -> None:
        placeholders = ", ".join("?" * len(job_ids))
        self._write(f"UPDATE jobs SET updated_at = current_timestamp WHERE job_id IN ({placeholders}) "
                    "AND state IN ('running', 'cancelling')", job_ids, bump=False)

    def _write(self, sql: str, params: list[Any], attempts: int = 5, bump: bool = True) -> None:
        """One statement in its own transaction, retried when another thread updated the same job.

        ``bump=False`` leaves the study's data version (and so the dashboard's caches) alone.
        """
        for attempt in range(attempts):
            try:
                with self._study.transaction(bump=bump) as cur:
                    cur.execute(sql, params)
                return
            except duckdb.TransactionException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))


class _Heartbeat:
    """One daemon thread per study and process: stamps the jobs of living owner threads."""

    def __init__(self, table: JobTable):
        self._table = table
        self._owners: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()      # guards _owners and _thread
        self._beating = threading.Lock()   # held while a heartbeat writes
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()     # the running thread's own stop signal

    def add(self, job_id: int, owner: threading.Thread) -> None:
        with self._lock:
            self._owners[job_id] = owner
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="job-heartbeat",
                                                daemon=True)
                self._thread.start()

    def remove(self, job_id: int) -> None:
        """Stop beating ``job_id``; returns once no heartbeat is being written."""
        with self._lock:
            self._owners.pop(job_id, None)
        with self._beating:
            pass

    def stop(self) -> None:
        """Beat nothing more; returns once the thread has ended (or after one heartbeat period)."""
        with self._lock:
            self._owners.clear()
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(HEARTBEAT_S)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            with self._lock:
                self._owners = {job: owner for job, owner in self._owners.items() if owner.is_alive()}
                jobs = sorted(self._owners)
                if not jobs:
                    self._end(stop)
                    return
            with self._beating:
                try:
                    self._table._beat(jobs)
                except duckdb.ConnectionException:  # the study was closed under running jobs
                    with self._lock:
                        self._owners.clear()
                        self._end(stop)
                    return
                except Exception:  # noqa: BLE001 - a busy or conflicting moment: the next beat comes soon
                    pass

    def _end(self, stop: threading.Event) -> None:
        """Called with the lock held by a thread that ends: it is no longer the heartbeat."""
        if self._stop is stop:
            self._thread = None


def _owner_gone(params: dict[str, Any], age_s: float | None, stale_after_s: float) -> str | None:
    """Why a live job's owner is gone, or None while it runs."""
    pid, host = params.get("pid"), params.get("host")
    owner = f"pid {pid}" + (f" on {host}" if host else "")
    if pid and host in (None, socket.gethostname()) and not process_alive(int(pid), params.get("pid_started")):
        return f"its process ({owner}) ended before the job finished"
    if age_s is not None and age_s == age_s and age_s > stale_after_s:
        return f"no heartbeat from its process ({owner}) for {age_s:.0f} s"
    return None
