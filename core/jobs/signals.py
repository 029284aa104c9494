"""Ctrl-C (SIGINT) and SIGTERM during a job: noted when they arrive, raised where it is safe.

Python raises KeyboardInterrupt wherever the main thread happens to be; inside a DuckDB query
that ends the query with ``RuntimeError: Query interrupted`` and can leave a write half done.
Within :func:`deferred_signals` the handler only notes the signal; :func:`raise_if_signalled`,
called by the job loop between cases (:func:`core.jobs.pool.run_cases`), raises
:class:`Interrupted` there, and leaving the block raises it if nothing did before.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []   # signal numbers noted while deferred, oldest first


class Interrupted(KeyboardInterrupt):
    """A stop signal reached the job's process; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


def _note(signum: int, frame) -> None:
    _received.append(signum)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT and SIGTERM are noted, not raised, inside the block (main thread only; elsewhere
    Python delivers no signals and this does nothing). The previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _note) for signum in STOP_SIGNALS}
    _received.clear()
    try:
        yield
        raise_if_signalled()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()


def raise_if_signalled() -> None:
    """Raise :class:`Interrupted` for the first stop signal noted since the last call, if any."""
    if _received:
        signum = _received[0]
        _received.clear()
        raise Interrupted(signum)
