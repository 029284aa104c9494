"""Processes a test started, and what is left of them after their owner ended."""
from __future__ import annotations

import os
import select
import time
from typing import IO

import psutil

GRACE_S = 5.0   # nothing may be left this long after the owner ended


def left_behind(procs: list[psutil.Process], timeout: float = GRACE_S) -> list[str]:
    """The processes of ``procs`` still running after ``timeout`` (zombies awaiting their reaper
    count as gone), each as 'pid command'; they are killed so that the next test starts clean."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    left = []
    for proc in alive:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
                proc.kill()
        except psutil.NoSuchProcess:
            pass
    return left


def drain(stream: IO[bytes], timeout: float) -> bytes:
    """What ``stream`` yields until its end or ``timeout`` seconds (a leftover process may hold it open)."""
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.05)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data
