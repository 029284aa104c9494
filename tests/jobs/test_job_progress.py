"""Progress arithmetic and wording: rate from this run's cases only, time left, durations."""
from __future__ import annotations

import pytest

from core.jobs import Progress, format_duration
from core.jobs.progress import ProgressClock


@pytest.mark.parametrize("seconds, text", [
    (None, "—"), (float("nan"), "—"), (0.4, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"), (3599, "59 min 59 s"),
    (3600, "1 h 00 min"), (7 * 3600 + 125, "7 h 02 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_rate_and_time_left_count_only_the_cases_worked_in_this_run():
    p = Progress(total=40, done=14, failed=1, cached=10, elapsed_s=600)
    assert p.finished == 15 and p.remaining == 25
    assert p.rate_per_hour == pytest.approx(30.0)          # 5 cases in 10 min
    assert p.eta_s == pytest.approx(25 / 30 * 3600)
    assert p.describe() == "15/40 cases (1 failed), 10 cached, 30.0 cases/h, 50 min 00 s left"


def test_unknown_rate_before_the_first_case_and_nothing_left_at_the_end():
    assert Progress(total=5, done=2, cached=2, elapsed_s=3).rate_per_hour is None
    assert Progress(total=5, done=2, cached=2, elapsed_s=3).eta_s is None
    assert Progress(total=5, done=5, elapsed_s=10).eta_s == 0.0
    assert Progress(total=3).describe() == "0/3 cases"


def test_clock_snapshots_elapsed_time():
    now = iter([100.0, 130.0])
    clock = ProgressClock(total=4, clock=lambda: next(now))
    clock.done += 1
    snapshot = clock.snapshot()
    assert (snapshot.done, snapshot.elapsed_s, snapshot.rate_per_hour) == (1, 30.0, 120.0)
