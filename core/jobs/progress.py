"""Progress of a job: cases finished out of a total, rate and time left, as data and as text."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


def format_duration(seconds: float | None) -> str:
    """``3 s``, ``4 min 05 s``, ``2 h 07 min``; an em dash for unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class Progress:
    """A snapshot: ``done`` includes ``cached`` cases (finished by an earlier run, not timed)."""

    total: int
    done: int = 0
    failed: int = 0
    cached: int = 0
    elapsed_s: float = 0.0

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished)

    @property
    def rate_per_hour(self) -> float | None:
        """Cases finished per hour by this run (cached ones excluded); None before the first."""
        worked = self.finished - self.cached
        return worked / self.elapsed_s * 3600 if worked and self.elapsed_s > 0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate; 0 when nothing remains, None while unknown."""
        if not self.remaining:
            return 0.0
        rate = self.rate_per_hour
        return self.remaining / rate * 3600 if rate else None

    def describe(self) -> str:
        """One line for the jobs table and logs, e.g. ``12/40 cases (1 failed), 50.0 cases/h, 33 min 36 s left``."""
        text = f"{self.finished}/{self.total} cases"
        if self.failed:
            text += f" ({self.failed} failed)"
        if self.cached:
            text += f", {self.cached} cached"
        if self.rate_per_hour:
            text += f", {self.rate_per_hour:.1f} cases/h"
        if self.remaining and self.eta_s is not None:
            text += f", {format_duration(self.eta_s)} left"
        return text


@dataclass
class ProgressClock:
    """Counts outcomes against a monotonic clock started at creation."""

    total: int
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    failed: int = 0
    cached: int = 0
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def snapshot(self) -> Progress:
        return Progress(self.total, self.done, self.failed, self.cached, self.clock() - self.started)
