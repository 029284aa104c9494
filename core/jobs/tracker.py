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


class JobTracker:
    """Counts a job's cases and keeps its row in the jobs table current.

    Final states: ``done``, ``done with N failures``, ``cancelled`` (asked to stop through
    the ``cancel`` event or the job's state ``cancelling``), ``failed`` (the run itself broke).
    """

    def __init__(self, study: "Study", job_id: int, total: int, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None):
        self.study = study
        self.job_id = job_id
        self.failures: dict[str, str] = {}
        self._clock = ProgressClock(total)
        self._progress = progress
        self._cancel = cancel
        self._stopped = False

    @classmethod
    def start(cls, study: "Study", kind: str, center: str | None, params: dict[str, Any], total: int,
              progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> "JobTracker":
        """Create the job (state ``running``) and its tracker."""
        job_id = study.jobs.create(kind, center, params, total)
        return cls(study, job_id, total, progress, cancel)

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
                               message=progress.describe())
        return state

    def abort(self, exc: BaseException) -> None:
        """The run broke (not a case): state ``failed`` with the reason."""
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        self.study.jobs.update(self.job_id, state="failed", message=f"{reason}; run it again to continue")

    def _report(self) -> None:
        progress = self.progress
        self.study.jobs.update(self.job_id, done=progress.done, failed=progress.failed, message=progress.describe())
        if self._progress is not None:
            self._progress(progress)
