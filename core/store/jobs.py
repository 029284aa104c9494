"""Jobs in the study database: long work (segmentation, extraction) with state and progress.

States: ``queued`` -> ``running`` -> ``done`` | ``done with N failures`` | ``failed`` |
``cancelled``; ``cancelling`` asks a running job to stop between cases. Each case of a job
has a row in ``job_cases`` (``done``, ``failed``, ``skipped``) with its error message.
"""
from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

if TYPE_CHECKING:
    from core.store.study import Study

FINISHED = ("done", "failed", "cancelled")
_FIELDS = {"state", "total", "done", "failed", "message", "started_at", "finished_at"}


def is_finished(state: str) -> bool:
    """True for a job that will not change any more (``done with 3 failures`` included)."""
    return state.startswith(FINISHED)


class JobTable:
    """Create, update and read jobs of one study."""

    def __init__(self, study: "Study"):
        self._study = study

    def create(self, kind: str, center: str | None, params: dict[str, Any], total: int = 0) -> int:
        """Record a new running job; returns its id."""
        with self._study.transaction() as cur:
            row = cur.execute(
                "INSERT INTO jobs (kind, center, params, state, total, started_at, updated_at) "
                "VALUES (?, ?, ?, 'running', ?, current_timestamp, current_timestamp) RETURNING job_id",
                [kind, center, json.dumps({**params, "pid": os.getpid()}, default=str), total],
            ).fetchone()
        return int(row[0])

    def update(self, job_id: int, **fields: Any) -> None:
        """Set any of state, total, done, failed, message; a finishing state stamps finished_at."""
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}; expected some of {sorted(_FIELDS)}")
        if "state" in fields and is_finished(fields["state"]):
            fields.setdefault("finished_at", pd.Timestamp.now())
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._write(f"UPDATE jobs SET {sets}, updated_at = current_timestamp WHERE job_id = ?",
                    [*fields.values(), int(job_id)])

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

    def _write(self, sql: str, params: list[Any], attempts: int = 5) -> None:
        """One statement in its own transaction, retried when another thread updated the same job."""
        for attempt in range(attempts):
            try:
                with self._study.transaction() as cur:
                    cur.execute(sql, params)
                return
            except duckdb.TransactionException:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def cancel_requested(self, job_id: int) -> bool:
        """True once someone asked this job to stop."""
        return self.get(job_id)["state"] == "cancelling"

    def mark_stale(self) -> int:
        """Jobs left 'running' by a process that no longer exists become 'failed'; returns how many."""
        stale = []
        for _, row in self._study._df(
                "SELECT job_id, params FROM jobs WHERE state IN ('running', 'cancelling')").iterrows():
            pid = json.loads(row["params"] or "{}").get("pid")
            if pid and not _alive(pid):
                stale.append(int(row["job_id"]))
        for job_id in stale:
            self.update(job_id, state="failed", message="interrupted: its process ended; run it again to continue")
        return len(stale)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
