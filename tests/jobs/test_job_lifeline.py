"""Worker processes cannot outlive the process that owns the job: after kill -9 of the owner,
its forkserver, workers and resource tracker are gone within 5 s, also while a worker is busy
in C code that holds the GIL; a worker's watchdog notices an owner gone, a reused pid included."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.jobs.lifeline import process_alive
from tests.jobs.processes import GRACE_S, left_behind

ROOT = Path(__file__).resolve().parents[2]


def _owner_with_workers(case: str, workers: int = 2, timeout: float = 60) -> tuple[subprocess.Popen, list]:
    """A Python process running ``run_cases`` over four cases of ``case`` (an expression of the
    function and its arguments); returns it and its descendants once every worker has started."""
    code = f"from core.jobs import run_cases\nlist(run_cases({case}, workers={workers}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        family = psutil.Process(proc.pid).children(recursive=True)
        if sum(p.ppid() != proc.pid for p in family) >= workers:    # the forkserver's children
            return proc, family
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the workers did not start")


@pytest.mark.parametrize("case", [
    "__import__('time').sleep, [(str(i), (60,)) for i in range(4)]",
    "sum, [(str(i), (range(10**13),)) for i in range(4)]",   # builtin sum holds the GIL throughout
], ids=["sleeping", "holding-the-gil"])
def test_kill_9_of_the_owner_leaves_no_process(case):
    owner, family = _owner_with_workers(case)
    assert len(family) >= 4, [p.cmdline()[-1][:60] for p in family]   # tracker, forkserver, two workers
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait(10)
    assert not left_behind(family)


def test_the_watchdog_ends_a_worker_whose_owner_is_gone():
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = psutil.Process(owner.pid).create_time()
    watched = subprocess.Popen([sys.executable, "-c", f"from core.jobs.lifeline import _watch; _watch({owner.pid}, "
                                f"{started!r}); print('watchdog returned')"], cwd=ROOT)
    time.sleep(1.0)
    assert watched.poll() is None, "the watchdog keeps a worker of a living owner"
    owner.kill()
    owner.wait()
    assert watched.wait(GRACE_S) == 1


def test_process_alive_tells_a_reused_pid_from_its_owner():
    me = psutil.Process()
    assert process_alive(os.getpid()) and process_alive(os.getpid(), me.create_time())
    assert not process_alive(os.getpid(), me.create_time() - 30), "the pid now belongs to a later process"
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert not process_alive(ended.pid)
