"""Ctrl-C and SIGTERM are noted while a job runs and raised only between cases: never inside a
DuckDB query (which would end it with "Query interrupted"), and the pool's workers go with them."""
from __future__ import annotations

import os
import signal
import threading
import time

import duckdb
import psutil
import pytest

from core.jobs import run_cases
from core.jobs.signals import Interrupted, deferred_signals, raise_if_signalled

# About a second of work for DuckDB on one core: long enough for a signal to land inside it.
N = 200_000_000
LONG_QUERY = f"SELECT sum(i * i) FROM range({N}) t(i)"
LONG_SUM = (N - 1) * N * (2 * N - 1) // 6   # sum of i^2 for i < N


def _signal_soon(signum: int, after_s: float = 0.2) -> threading.Timer:
    timer = threading.Timer(after_s, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


def test_a_plain_ctrl_c_inside_a_query_breaks_it():
    """Why the deferral exists: DuckDB turns a KeyboardInterrupt during a query into an error."""
    con = duckdb.connect()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)   # Python's own, whatever ran before
    _signal_soon(signal.SIGINT)
    # many seconds of work, so that the signal lands inside the query however fast or loaded the machine
    with pytest.raises(RuntimeError, match="Query interrupted"):
        try:
            con.execute("SELECT sum(i * i) FROM range(2000000000) t(i)").fetchone()
        finally:
            signal.signal(signal.SIGINT, before)


def test_a_deferred_ctrl_c_lets_the_query_finish_and_is_raised_after():
    con = duckdb.connect()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as caught:
        with deferred_signals():
            _signal_soon(signal.SIGINT)
            assert con.execute(LONG_QUERY).fetchone()[0] == LONG_SUM
            time.sleep(0.3)  # the timer has fired whatever the query's speed
            raise_if_signalled()
            pytest.fail("the noted signal was not raised")
    assert (caught.value.signum, caught.value.exit_code, str(caught.value)) == (signal.SIGINT, 130, "SIGINT")
    assert signal.getsignal(signal.SIGINT) is before, "the previous handler is back"


def test_a_signal_not_raised_inside_is_raised_on_leaving_the_block():
    with pytest.raises(Interrupted) as caught:
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
    assert (caught.value.signum, caught.value.exit_code) == (signal.SIGTERM, 143)


def test_nothing_noted_nothing_raised():
    with deferred_signals():
        raise_if_signalled()


def _parent_pid(process: psutil.Process) -> int | None:
    """The parent's PID, or None when the process (or its parent) is already gone."""
    try:
        parent = process.parent()
    except psutil.NoSuchProcess:
        return None
    return None if parent is None else parent.pid


def test_a_stop_signal_ends_run_cases_between_cases_and_kills_its_workers():
    started = time.monotonic()
    with pytest.raises(Interrupted):
        with deferred_signals():
            outcomes = run_cases(time.sleep, [(str(i), (60,)) for i in range(4)], workers=2, poll_s=0.2)
            _signal_soon(signal.SIGTERM, after_s=3.0)
            for _ in outcomes:
                pytest.fail("no case of 60 s finishes")
    assert time.monotonic() - started < 30
    workers = [p for p in psutil.Process().children(recursive=True) if _parent_pid(p) not in (None, os.getpid())]
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_workers_ignore_ctrl_c_at_the_terminal():
    """A terminal's Ctrl-C reaches the whole process group; only the owner acts on it."""
    out = list(run_cases(signal.raise_signal, [("self", (signal.SIGINT,))], workers=1))
    assert out[0].ok, out[0].error
