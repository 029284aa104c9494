"""One run of a job as the study's jobs table sees it: case outcomes, progress, final state.

The tracker lives in the process that owns the study database; workers report to it
through :func:`core.jobs.pool.run_cases`. Progress goes to the jobs table (for the
dashboard) and to an optional callback (for a progress bar); nothing is printed.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable

from core.jobs.progress import Progress, ProgressClock

if TYPE_CHECKING:
    from core.store import Study

ProgressCallback = Callable[[Progress], None]
RESUMABLE = ("interrupted", "cancelled", "failed")   # final states a rerun continues


class JobTracker:
    """Counts a job's cases and keeps its row in the jobs table current.

    Final states: ``done``, ``done with N failures``, ``cancelled`` (asked to stop through
    the ``cancel`` event or the job's state ``cancelling``), ``interrupted`` (Ctrl-C or a stop
    signal; or, found later, its process ended), ``failed`` (the run itself broke).
    """

    def __init__(self, study: "Study", job_id: int, total: int, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None, continues: int | None = None):
        self.study = study
        self.job_id = job_id
        self.continues = continues
        self.failures: dict[str, str] = {}
        self._clock = ProgressClock(total)
        self._progress = progress
        self._cancel = cancel
        self._stopped = False

    @classmethod
    def start(cls, study: "Study", kind: str, center: str | None, params: dict[str, Any], total: int,
              progress: ProgressCallback | None = None, cancel: threading.Event | None = None,
              resume: dict[str, Any] | None = None) -> "JobTracker":
        """Create the job (state ``running``) and its tracker.

        ``resume``: the params that make a run the same work (e.g. mask source and settings).
        When the newest earlier job of this kind, centre and ``resume`` ended ``interrupted``,
        ``cancelled`` or ``failed``, the new job continues it: its params hold ``continues``
        (that job's id), its messages say so, and the earlier job's message names the new one.
        """
        previous = None
        if resume is not None:
            study.jobs.mark_stale()
            previous = study.jobs.previous(kind, center, resume)
        continues = int(previous["job_id"]) if previous and previous["state"] in RESUMABLE else None
        job_id = study.jobs.create(kind, center, {**params, "continues": continues} if continues else params, total)
        if continues:
            earlier = previous["message"] or previous["state"]
            study.jobs.update(continues, message=f"{earlier}; continued by job {job_id}")
        return cls(study, job_id, total, progress, cancel, continues)

    @property
    def progress(self) -> Progress:
        return self._clock.snapshot()

    def cached(self, case_ids: list[str], reason: str = "cached") -> None:
        """Cases an earlier run finished, counted as done; call once, first (it reports the start).

        They are recorded as ``skipped`` (with ``reason``) in one transaction.
        """
        if case_ids:
            with self.study.transaction() as cur:
                for case_id in case_ids:
                    self.study.jobs.case(self.job_id, case_id, "skipped", error=reason, cur=cur)
        self._clock.done += len(case_ids)
        self._clock.cached += len(case_ids)
        self._report()

    def succeeded(self, case_id: str, seconds: float | None = None, recorded: bool = False) -> None:
        """A finished case; ``recorded`` when the caller already wrote its job_cases row."""
        if not recorded:
            self.study.jobs.case(self.job_id, case_id, "done", seconds=seconds)
        self._clock.done += 1
        self._report()

    def failed(self, case_id: str, error: str, seconds: float | None = None) -> None:
        """A case that could not be done; the job goes on."""
        self.study.jobs.case(self.job_id, case_id, "failed", error=error, seconds=seconds)
        self.failures[case_id] = error
        self._clock.failed += 1
        self._report()

    def should_stop(self) -> bool:
        """True once cancellation was asked for, by event or by the job's state in the study."""
        if not self._stopped:
            self._stopped = bool(self._cancel is not None and self._cancel.is_set()) \
                or self.study.jobs.cancel_requested(self.job_id)
        return self._stopped

    def finish(self) -> str:
        """Write and return the final state."""
        progress = self.progress
        if self._stopped and progress.remaining:
            state = "cancelled"
        elif self.failures:
            state = f"done with {len(self.failures)} failure{'s' if len(self.failures) > 1 else ''}"
        else:
            state = "done"
        self.study.jobs.update(self.job_id, state=state, done=progress.done, failed=progress.failed,
                               message=self._describe(progress))
        return state

    def abort(self, exc: BaseException) -> str:
        """The run ended early (not a case): ``interrupted`` for Ctrl-C or a stop signal, else
        ``failed`` with the reason; returns the state."""
        return self.study.jobs.abort(self.job_id, exc)

    def _describe(self, progress: Progress) -> str:
        text = progress.describe()
        return f"continues job {self.continues}; {text}" if self.continues else text

    def _report(self) -> None:
        progress = self.progress
        self.study.jobs.update(self.job_id, done=progress.done, failed=progress.failed,
                               message=self._describe(progress))
        if self._progress is not None:
            self._progress(progress)
