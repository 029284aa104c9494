"""Worker processes that end with the process owning the job, whatever way it ends (kill -9 too).

The local pool's workers are forked by multiprocessing's forkserver; each worker holds the
forkserver's "alive" pipe and the resource tracker's pipe, so a worker left running keeps
both alive as well. Three ties end them all with the owner:

- the forkserver gets SIGKILL when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``,
  set by :mod:`core.jobs.forkserver_init`); :func:`ensure_forkserver` starts it from a thread
  that lives as long as the owner process;
- each worker gets SIGKILL when the forkserver ends (the same, in :func:`init_worker`); the
  kernel sends it, so a worker busy in C code that holds the GIL goes too;
- each worker's watchdog thread polls the owner and exits the worker once it is gone
  (covering platforms without ``prctl`` and workers started with ``spawn``).

With the workers gone, the forkserver and the resource tracker see their pipes close and exit.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import forkserver

import psutil

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")
WATCH_S = 0.5                 # seconds between a worker's checks of its owner
# psutil derives a start time from the boot time and clock ticks: the same process reads the
# same value to well under a second; a process that reused the pid started later.
_START_TIME_SLACK_S = 1.0
_PR_SET_PDEATHSIG = 1         # <linux/prctl.h>
_keeper: ThreadPoolExecutor | None = None
_keeper_lock = threading.Lock()


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent thread ends (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def ensure_forkserver() -> None:
    """Start multiprocessing's forkserver (if it is not running) from a thread of this process
    that lives until the interpreter exits, so that its parent-death signal means the owner's end."""
    global _keeper
    with _keeper_lock:
        if _keeper is None:
            _keeper = ThreadPoolExecutor(1, thread_name_prefix="forkserver-keeper")
    _keeper.submit(forkserver.ensure_running).result()


def owner_identity() -> tuple[int, float]:
    """This process's pid and start time, for :func:`init_worker`."""
    return os.getpid(), psutil.Process().create_time()


def init_worker(threads: int, owner_pid: int, owner_started: float) -> None:
    """Worker initializer: native libraries use ``threads`` threads; Ctrl-C at the terminal is
    left to the owner (which stops the workers); the worker ends with its parent and its owner."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    threading.Thread(target=_watch, args=(owner_pid, owner_started), name="owner-watchdog", daemon=True).start()


def process_alive(pid: int, started: float | None = None) -> bool:
    """True if process ``pid`` runs (not a zombie) and, given its start time (psutil's
    ``create_time``), is that same process and not a later one that reused the pid."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < _START_TIME_SLACK_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it runs
        return True


def _watch(owner_pid: int, owner_started: float) -> None:
    while process_alive(owner_pid, owner_started):
        time.sleep(WATCH_S)
    os._exit(1)
